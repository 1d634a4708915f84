"""Long texts are rendered off the event loop (``markdown.prepare``, a worker process): markdown-it is pure Python, a
customer message of 20,000 "![" took 260 ms, and opening a ticket with 30 of them stopped every page of the process
for 5.5 s. What the pages get is the same HTML; a text that takes too long is shown as plain text, never lost."""
from __future__ import annotations

import asyncio
import time

import pytest

from pulse_live import markdown
from pulse_live.queries import tickets as ticket_queries
from pulse_live.services import chatter
from tests.factories import make_ticket

HOSTILE = '![' * 9_000  # 18,000 characters, under the message limit: ~240 ms to render here


class LoopWatch:
    """The longest time the event loop did not get to run a 5 ms ticker."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = False

    async def __aenter__(self):
        async def tick() -> None:
            last = time.perf_counter()
            while not self._stop:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                self.worst = max(self.worst, now - last - 0.005)
                last = now
        self._task = asyncio.create_task(tick())
        await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc) -> None:
        self._stop = True
        await self._task


@pytest.fixture(autouse=True)
def fresh_renderer():
    markdown._prepared.clear()
    yield
    markdown._prepared.clear()
    markdown.shutdown()


async def test_a_long_text_is_rendered_in_the_worker_with_the_same_html() -> None:
    text = 'A **long** reply with a [link](https://example.com) and @anna.\n\n' + 'More words here. ' * 200
    before = dict(markdown.stats)
    await markdown.prepare([(text, ['anna'])])
    assert markdown.stats['worker'] == before['worker'] + 1
    assert markdown.to_html(text, ['anna']) == markdown.render(text, ['anna'])
    assert markdown.stats['inline'] == before['inline']  # answered from what was prepared


async def test_rendering_hostile_texts_does_not_stop_the_event_loop() -> None:
    texts = [(HOSTILE + str(n), None) for n in range(4)]  # ~1 s of rendering in all
    async with LoopWatch() as watch:
        await markdown.prepare(texts)
    assert watch.worst < 0.1, watch.worst  # inline, each one stopped the loop ~240 ms
    assert all('<p>' in markdown.to_html(text) for text, _ in texts)


async def test_a_text_over_the_time_limit_is_shown_as_typed(monkeypatch) -> None:
    monkeypatch.setattr(markdown, 'RENDER_TIMEOUT_S', 0.02)
    await markdown.prepare([('warm up', None)])  # not long: nothing to do
    hostile = '<b>x</b> ' + '![' * 15_000 + '\n\nsecond paragraph'
    await markdown.prepare([(hostile, None)])
    html = markdown.to_html(hostile)
    assert html.startswith('<p>&lt;b&gt;x&lt;/b&gt; ![![') and html.endswith('<p>second paragraph</p>\n')
    assert markdown.stats['plain'] >= 1
    monkeypatch.setattr(markdown, 'RENDER_TIMEOUT_S', 2.0)
    ordinary = 'An ordinary long reply. ' * 100
    await markdown.prepare([(ordinary, None)])  # a fresh worker after the one that ran over
    assert markdown.to_html(ordinary) == markdown.render(ordinary)


async def test_opening_a_ticket_with_hostile_messages_keeps_the_loop_running(people) -> None:
    carl, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    ticket = await make_ticket(people, title='Hostile')
    for n in range(4):
        await chatter.post_message(actor=carl, ticket_id=ticket.id, body=HOSTILE + str(n))
    async with LoopWatch() as watch:
        events, _ = await ticket_queries.ticket_events(anna, ticket.id)
        shown = [markdown.to_html(e.body, e.mentions) for e in events if e.kind == 'message']  # as the page does
    assert len(shown) == 4 and watch.worst < 0.1, watch.worst


def test_a_one_line_summary_reads_only_the_start_of_a_long_text() -> None:
    """A change's summary (bell, mail list) is made per recipient on the event loop: a hostile 18,000-character
    message cost ~240 ms per recipient; the summary needs its first 300 characters."""
    markdown.one_line.cache_clear()
    started = time.process_time()
    line = markdown.one_line(HOSTILE + ' tail')
    assert time.process_time() - started < 0.06
    assert len(line) == 300 and line.endswith('…')
    assert markdown.one_line('**Printer** on [floor 3](https://x.test) is down') == \
        'Printer on floor 3 (https://x.test) is down'
