"""Live entries sent to many pages as one socket message (components/live_entries.py), in real browsers.

The server here sends every live entry that way (``PULSE_LIVE_BROADCAST_FROM=1``: a single other viewer is
enough), so what a big incident's hundred viewers get is what these two agents get: entries that look exactly as the
server renders them, in order, never twice, the author's own bubble on their own page, and a broadcast lost to a
dropped connection brought after the reconnection.
"""
from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from .conftest import composer, detail_field, post_message, reference, screenshot, serve

pytestmark = pytest.mark.e2e
SETTLE_S = 1.3  # a page takes part once connected for a second (live_entries.SETTLED_S)


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp('pulse-broadcast'), PULSE_LIVE_BROADCAST_FROM='1')


def tail(page: Page):
    return page.locator('[data-live-tail] > [data-entry]')


async def entry_look(page: Page, text: str) -> tuple[str, str, str]:
    """The entry element holding ``text``: its classes (NiceGUI's own id-less), its markup, and its id."""
    entry = page.locator('[data-entry]').filter(has_text=text)
    await expect(entry).to_have_count(1)
    classes = ' '.join(sorted((await entry.get_attribute('class') or '').split()))
    return classes, await entry.inner_html(), await entry.get_attribute('data-entry') or ''


async def test_entries_sent_to_many_pages_at_once_look_as_rendered_arrive_in_order_and_heal_after_a_drop(e2e):
    ref = reference(7)
    anna, ben = await e2e.login('anna@pulse.demo'), await e2e.login('ben@pulse.demo')
    a = await e2e.open_ticket(anna, ref)
    b = await e2e.open_ticket(ben, ref)
    await asyncio.sleep(SETTLE_S)

    # Anna's message reaches Ben's page through the broadcast: in his page's live tail, not a server element
    await post_message(a, 'First to everyone: **bold** and <i>typed tags</i>')
    await expect(tail(b).filter(has_text='First to everyone')).to_have_count(1)
    live_look = await entry_look(b, 'First to everyone')
    assert '<strong>bold</strong>' in live_look[1] and '&lt;i&gt;typed tags&lt;/i&gt;' in live_look[1]
    await screenshot(b, 'broadcast-live-entry.png')
    # … and looks exactly as the entry the server renders when the page is opened afresh
    await b.reload()
    await expect(b.get_by_text('First to everyone', exact=False)).to_be_visible()
    assert await tail(b).count() == 0
    assert await entry_look(b, 'First to everyone') == live_look
    await screenshot(b, 'broadcast-reloaded-entry.png')
    await asyncio.sleep(SETTLE_S)

    # three in a row, from both sides: each once, in order, Ben's own as his own bubble on his page
    await post_message(a, 'Second from Anna')
    await expect(tail(b).filter(has_text='Second from Anna')).to_have_count(1)
    await post_message(b, 'Third from Ben')
    await post_message(a, 'Fourth from Anna')
    for page in (a, b):
        await expect(page.locator('[data-entry]').filter(has_text='Fourth from Anna')).to_have_count(1)
        texts = [t for t in await page.locator('[data-entry]').all_inner_texts()
                 if re.search(r'First to everyone|Second from Anna|Third from Ben|Fourth from Anna', t)]
        assert [re.search(r'First|Second|Third|Fourth', t).group(0) for t in texts] == \
            ['First', 'Second', 'Third', 'Fourth'], texts
    # a change the server re-renders the page's parts for (the heading, the details): the tail's entries stay
    title_box = await detail_field(a, 'Title')
    new_title = f'{await title_box.input_value()} (broadcast)'
    await title_box.fill(new_title)
    await title_box.press('Enter')
    await expect(b.get_by_label('Title', exact=True)).to_have_value(new_title)
    await expect(tail(b).filter(has_text=re.compile(r'changed Title'))).to_have_count(1)
    for text in ('Second from Anna', 'Third from Ben', 'Fourth from Anna'):
        await expect(tail(b).filter(has_text=text)).to_have_count(1)
    bens_own = await entry_look(b, 'Third from Ben')
    annas_view = await entry_look(a, 'Third from Ben')
    assert bens_own[1] != annas_view[1], 'his own message should look like his own (the other side) on his page'
    await b.reload()
    await expect(b.get_by_text('Third from Ben', exact=False)).to_be_visible()
    assert (await entry_look(b, 'Third from Ben'))[:2] == bens_own[:2]
    await asyncio.sleep(SETTLE_S)

    # a broadcast lost with a dropped connection: brought once the page is connected again
    await post_message(a, 'Fifth before the drop')
    await expect(tail(b).filter(has_text='Fifth before the drop')).to_have_count(1)
    await b.evaluate("window.socket.off('pulse_entries')")  # as if the socket had dropped it
    await post_message(a, 'Sixth while dropped')
    await asyncio.sleep(0.8)
    await expect(b.get_by_text('Sixth while dropped', exact=False)).to_have_count(0)
    await b.evaluate('window.socket.io.engine.close()')  # the connection drops; socket.io reconnects
    await expect(tail(b).filter(has_text='Sixth while dropped')).to_have_count(1, timeout=15_000)
    await expect(b.locator('[data-entry]').filter(has_text='Fifth before the drop')).to_have_count(1)
    # the server lets the tail's oldest go (a page open all day; components/chatter._push_out_oldest): the script
    # drops exactly the entries before the first one kept
    sixth = await tail(b).filter(has_text='Sixth while dropped').get_attribute('data-entry')
    await b.evaluate(f'window.pulseTailDrop({sixth})')
    await expect(b.locator('[data-entry]').filter(has_text='Fifth before the drop')).to_have_count(0)
    await expect(tail(b).filter(has_text='Sixth while dropped')).to_have_count(1)


# Ben's page counts its frames and notes in which one the entry appeared and the typing line changed
FRAMES_JS = """(() => {
  window.__frame = 0;
  const tick = () => { window.__frame += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  window.__seen = [];
  new MutationObserver(() => {
    const line = document.querySelector('[data-typing]')?.textContent ?? null;
    const last = window.__seen[window.__seen.length - 1];
    const entry = !!document.querySelector('[data-live-tail] [data-entry]') &&
      [...document.querySelectorAll('[data-live-tail] [data-entry]')].some((e) => e.textContent.includes('MARK'));
    if (!last || last.line !== line || last.entry !== entry) window.__seen.push({frame: window.__frame, line, entry});
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
})()"""


async def test_the_authors_typing_mark_ends_in_the_frame_its_message_appears(e2e):
    """Sent to many pages at once, the message carries its author's typing mark away with it: the browser clears the
    line in the same frame as it adds the entry (not a frame, and a message, of its own a moment before), and the
    server's idea of the line stays the browser's: typing again shows it, a reload shows none."""
    ref = reference(10)  # an open ticket
    anna, ben = await e2e.login('anna@pulse.demo'), await e2e.login('ben@pulse.demo')
    a = await e2e.open_ticket(anna, ref)
    b = await e2e.open_ticket(ben, ref)
    await asyncio.sleep(SETTLE_S)
    line = b.locator('[data-typing]')
    for n in (1, 2):
        await composer(a).fill(f'Typing goes with it {n}')
        await expect(line).to_have_text('Anna Keller is typing…')
        await b.evaluate(FRAMES_JS.replace('MARK', f'Typing goes with it {n}'))
        await a.get_by_role('button', name=re.compile('^Send')).click()
        await expect(tail(b).filter(has_text=f'Typing goes with it {n}')).to_have_count(1)
        await expect(line).to_have_text('')
        seen = await b.evaluate('window.__seen')
        appeared = [s for s in seen if s['entry']]
        cleared = [s for s in seen if s['line'] == '']
        assert appeared and cleared and cleared[0]['frame'] == appeared[0]['frame'], \
            f'the line went in another frame than the entry came: {seen}'
        await asyncio.sleep(0.8)  # presence's own word comes later …
        await expect(line).to_have_text('')  # … and changes nothing
    await b.reload()
    await expect(b.get_by_text('Typing goes with it 2', exact=False)).to_be_visible()
    await expect(b.locator('[data-typing]')).to_have_text('')


async def test_the_tail_sync_event_sent_raw_with_junk_and_in_parallel_changes_nothing_and_breaks_nothing(e2e):
    """The page's "what did I miss" event, as an attacker sends it over the page's own socket: junk arguments, a
    number beyond any entry (SQLite cannot hold it), and twenty at once: no error in the server's log, no entry
    twice, and the page goes on."""
    from .test_attacks import _record_events
    anna, ben = await e2e.login('anna@pulse.demo'), await e2e.login('ben@pulse.demo')
    a = await e2e.open_ticket(anna, reference(8))
    frames = _record_events(ben.page)
    b = await e2e.open_ticket(ben, reference(8))
    await asyncio.sleep(SETTLE_S)
    await post_message(a, 'Before the junk')
    await expect(tail(b).filter(has_text='Before the junk')).to_have_count(1)
    await b.evaluate("emitEvent('pulse_tail_sync', {last: 0})")  # the page's own, once: its ids to replay
    async with asyncio.timeout(10):
        while not (sync := [f for f in frames if 'last' in str(f.get('args'))]):
            await asyncio.sleep(0.1)
    template = sync[0]
    junk = ['"x"', 'null', '[1]', '{"last": "1"}', '{"last": -1}', '{"last": true}', '{"last": 1.5}', '{}',
            '{"last": 1000000000000000000000000000000}', '{"last": 9223372036854775808}', 'not json', '{"last": 0}']
    await b.evaluate('''([template, junk]) => {
        for (const args of junk) window.socket.emit('event', {...template, args: [args]});
        for (let i = 0; i < 20; i++) window.socket.emit('event', {...template, args: ['{"last": 0}']});
    }''', [template, junk])
    await asyncio.sleep(1.5)
    await post_message(a, 'After the junk')
    await expect(tail(b).filter(has_text='After the junk')).to_have_count(1)
    await expect(b.locator('[data-entry]').filter(has_text='Before the junk')).to_have_count(1)
    assert 'Traceback' not in e2e.server.log_tail(400), e2e.server.log_tail(80)
