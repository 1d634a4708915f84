"""components/render's speed-ups of NiceGUI: props strings parsed once (``install_props_cache``), the page's elements
escaped with ``replace`` (``install_fast_page_escape``) — each with the same answers as NiceGUI's own code."""
from __future__ import annotations

import random
import sys

import pytest
from nicegui import client as nicegui_client
from nicegui.props import Props

from components import render


def test_the_kept_parse_answers_as_nicegui_does_and_parses_each_string_once(monkeypatch) -> None:
    render.install_props_cache()
    monkeypatch.setattr(Props, 'parse', Props.__dict__['parse'])  # put back as it was after this test
    original = Props.parse.__pulse_original__
    calls: list[str] = []

    def counting(text):
        calls.append(text)
        return original(text)
    monkeypatch.setattr(Props.parse, '__pulse_original__', counting, raising=False)
    monkeypatch.setattr(render, '_props_parsed', {})
    render.install_props_cache()  # again: idempotent, and now over the counting parser
    texts = ['dense outlined stack-label', 'dense header-class="text-sm font-medium"',
             'anchor="bottom right" self="top right"', "size=sm label='a b'", 'maxlength=2000 autogrow',
             ':options="[1, 2]"', '', None]
    for text in texts:
        assert Props.parse(text) == original(text)
    for text in texts:
        Props.parse(text)
    assert sorted(calls) == sorted(t for t in texts if t)  # each string parsed once


def test_a_changed_answer_does_not_change_the_kept_one(monkeypatch) -> None:
    monkeypatch.setattr(render, '_props_parsed', {})
    render.install_props_cache()
    first = Props.parse('dense data-x=[1,2] data-y={"a":1}')
    assert first == {'dense': True, 'data-x': [1, 2], 'data-y': {'a': 1}}
    first['dense'] = False  # a caller changes what it got
    first['data-x'].append(3)
    first['data-y']['b'] = 2
    assert Props.parse('dense data-x=[1,2] data-y={"a":1}') == {'dense': True, 'data-x': [1, 2], 'data-y': {'a': 1}}


def test_strings_built_per_row_do_not_grow_it_without_end(monkeypatch) -> None:
    monkeypatch.setattr(render, '_props_parsed', {})
    monkeypatch.setattr(render, 'PROPS_KEPT', 50)
    render.install_props_cache()
    for i in range(1000):
        assert Props.parse(f'data-entry={i} dense') == {'data-entry': str(i), 'dense': True}
    assert len(render._props_parsed) <= 50


def test_the_page_json_is_escaped_as_nicegui_escapes_it() -> None:
    render.install_fast_page_escape()
    table = nicegui_client.HTML_ESCAPE_TABLE
    assert render._escape_table is table  # installed: NiceGUI's page code looks as expected
    made = nicegui_client.json.dumps({'1': {'text': '</script><script>alert(`${document.cookie}`)</script> & &amp;'}})
    assert type(made) is not str  # what build_response escapes
    assert made.translate(table) == str.translate(str(made), table)
    assert '<' not in made.translate(table) and '`' not in made.translate(table) and '$' not in made.translate(table)
    chars = '&<>`$;#a b"\\/é\n'
    rng = random.Random(7)
    for _ in range(300):
        text = ''.join(rng.choice(chars) for _ in range(rng.randint(0, 40)))
        assert render._PageJson(text).translate(table) == text.translate(table), text
    assert render._PageJson('abc').translate({ord('a'): 'x'}) == 'xbc'  # any other table: as str does


def test_a_table_replace_cannot_reproduce_is_left_to_translate() -> None:
    assert render._replacements({ord('<'): '&lt;', ord('&'): '&amp;'}) == [('&', '&amp;'), ('<', '&lt;')]
    assert render._replacements({ord('<'): '>', ord('>'): '&gt;'}) is None  # '<' would become '&gt;'


async def _turns_until_sent(outbox_module) -> int:
    """Loop turns between a message given to a page's outbox and the outbox sending it (NiceGUI's own loop)."""
    import asyncio
    from collections import deque

    class Client:  # what Outbox.loop asks of its client
        id = 'c'
        has_socket_connection = True

        def check_existence(self) -> None:
            pass
    client = Client()
    box = outbox_module.Outbox.__new__(outbox_module.Outbox)
    box._client = lambda: client
    box.updates, box.messages, box.message_history = {}, deque(), deque()
    box._loaded_components, box._should_stop, box._enqueue_event, box.next_message_id = set(), False, None, 0
    turns, sent = [0], asyncio.get_running_loop().create_future()

    async def emit(message) -> None:
        if not sent.done():
            sent.set_result(turns[0])
    box._emit = emit
    task = asyncio.create_task(box.loop())

    async def ticker() -> None:
        while True:
            await asyncio.sleep(0)
            turns[0] += 1
    tick = asyncio.create_task(ticker())
    try:
        for _ in range(5):  # the outbox is waiting for something to send
            await asyncio.sleep(0)
        before = turns[0]
        box.enqueue_message('x', {}, 'c')
        return await asyncio.wait_for(sent, 5) - before
    finally:
        box._should_stop = True
        task.cancel()
        tick.cancel()


async def test_a_pages_outbox_sends_in_the_turn_after_a_change(monkeypatch) -> None:
    """On Python 3.11 NiceGUI's outbox waited in ``asyncio.wait_for``, a task of its own: a change was sent two loop
    turns later than it could be, and on a busy server a turn is every ready callback's time."""
    import asyncio

    from nicegui import outbox
    monkeypatch.setattr(outbox, 'asyncio', asyncio)
    as_nicegui = await _turns_until_sent(outbox)
    render.install_outbox_wakeup()
    render.install_outbox_wakeup()  # idempotent
    assert isinstance(outbox.asyncio, render._OutboxAsyncio)
    patched = await _turns_until_sent(outbox)
    assert patched <= 1, patched
    if sys.version_info < (3, 12):
        assert as_nicegui >= patched + 2, (as_nicegui, patched)

    # the outbox's wait_for answers as asyncio's: the result, TimeoutError, other names as they are
    wait_for = outbox.asyncio.wait_for
    assert await wait_for(asyncio.sleep(0, result='done'), timeout=1.0) == 'done'
    with pytest.raises(TimeoutError):
        await wait_for(asyncio.Event().wait(), timeout=0.01)
    assert outbox.asyncio.Event is asyncio.Event and outbox.asyncio.CancelledError is asyncio.CancelledError
