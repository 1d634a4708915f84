"""Two agents on the same ticket: messages, field changes and presence arrive without a reload."""
from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest
from playwright.async_api import Page, expect

from .conftest import choose, composer, detail_field, header, post_message, reference, screenshot

pytestmark = pytest.mark.e2e


async def mark_no_reload(page: Page) -> None:
    """Leave a marker in the page's JS world; a reload or navigation would wipe it."""
    await page.evaluate('window.__pulseNoReload = true')


async def assert_not_reloaded(page: Page) -> None:
    assert await page.evaluate('window.__pulseNoReload === true'), 'the page was reloaded'


async def test_message_reaches_other_agent_without_reload(e2e):
    ref = reference(7)
    anna = await e2e.login('anna@pulse.demo')
    ben = await e2e.login('ben@pulse.demo')
    await e2e.open_ticket(anna, ref)
    await e2e.open_ticket(ben, ref)
    await mark_no_reload(ben.page)

    text = f'Checked the logs, looks like a certificate problem ({uuid.uuid4().hex[:8]}).'
    await expect(ben.page.get_by_text(text)).to_have_count(0)
    await post_message(anna.page, text)

    await expect(anna.page.get_by_text(text, exact=True)).to_be_visible()
    message = ben.page.get_by_text(text, exact=True)
    await expect(message).to_be_visible(timeout=10_000)
    # shown as Anna's message (author name in the same bubble), not as an internal note
    bubble = message.locator('xpath=ancestor::div[contains(@class, "border")][1]')
    await expect(bubble.get_by_text('Anna Keller', exact=True)).to_be_visible()
    await expect(bubble.get_by_text('Internal note', exact=True)).to_have_count(0)
    await assert_not_reloaded(ben.page)
    await screenshot(ben.page, 'live-message-ben.png')


async def test_field_change_reaches_other_agent_without_reload(e2e):
    ref = reference(10)
    anna = await e2e.login('anna@pulse.demo')
    ben = await e2e.login('ben@pulse.demo')
    await e2e.open_ticket(anna, ref)
    await e2e.open_ticket(ben, ref)
    await mark_no_reload(ben.page)

    # the title: typed by Anna, committed with Enter
    title_box = await detail_field(anna.page, 'Title')
    old_title = await title_box.input_value()
    assert old_title
    new_title = f'{old_title} – escalated {uuid.uuid4().hex[:6]}'
    await expect(ben.page.get_by_text(old_title, exact=True)).to_be_visible()
    await title_box.fill(new_title)
    await title_box.press('Enter')

    entry = f'Anna Keller changed Title {old_title} → {new_title}'
    await expect(anna.page.get_by_text(entry, exact=True)).to_be_visible()
    await expect(ben.page.get_by_text(entry, exact=True)).to_be_visible(timeout=10_000)
    await expect(ben.page.get_by_text(new_title, exact=True)).to_be_visible()  # the page heading
    await expect(ben.page.get_by_label('Title', exact=True)).to_have_value(new_title)
    await expect(ben.page).to_have_title(re.compile(re.escape(ref)))

    # a select field too: the priority, picked from the menu by Anna
    old_priority = await anna.page.get_by_label('Priority', exact=True).input_value()
    new_priority = 'Critical' if old_priority != 'Critical' else 'Minor'
    await choose(anna.page, 'Priority', new_priority)
    prio_entry = f'Anna Keller changed Priority {old_priority} → {new_priority}'
    await expect(ben.page.get_by_text(prio_entry, exact=True)).to_be_visible(timeout=10_000)
    await expect(ben.page.get_by_label('Priority', exact=True)).to_have_value(new_priority)
    await expect(header(ben.page, ref).get_by_role('status')
                 .filter(has_text=re.compile(rf'^{new_priority}$'))).to_be_visible()
    await assert_not_reloaded(ben.page)
    await screenshot(ben.page, 'live-field-change-ben.png')


async def test_presence_avatars_and_typing_indicator(e2e):
    ref = reference(12)
    anna = await e2e.login('anna@pulse.demo')
    await e2e.open_ticket(anna, ref)
    bar = header(anna.page, ref)
    await expect(bar.get_by_text('AK', exact=True)).to_be_visible()  # Anna sees herself
    await expect(bar.get_by_text('BO', exact=True)).to_have_count(0)

    # Ben opens the ticket: his avatar appears on Anna's page, with his name as tooltip
    ben = await e2e.login('ben@pulse.demo')
    await e2e.open_ticket(ben, ref)
    ben_avatar = bar.get_by_text('BO', exact=True)
    await expect(ben_avatar).to_be_visible(timeout=10_000)
    await ben_avatar.hover()
    await expect(anna.page.get_by_role('tooltip')).to_have_text('Ben Okafor')
    await screenshot(anna.page, 'presence-ben-viewing.png', full_page=False)
    await anna.page.mouse.move(0, 0)

    # Ben types: Anna sees it
    typing = anna.page.get_by_text('Ben Okafor is typing…', exact=True)
    await expect(typing).to_have_count(0)
    await composer(ben.page).press_sequentially('Looking into it', delay=40)
    stopped = time.monotonic()
    await expect(typing).to_be_visible(timeout=10_000)
    await screenshot(anna.page, 'presence-ben-typing.png', full_page=False)

    # Ben stops typing: the indicator goes away on its own within ~6 s
    await expect(typing).to_be_hidden(timeout=8_000)
    gone_after = time.monotonic() - stopped
    print(f'"is typing…" disappeared {gone_after:.1f} s after the last keystroke')
    assert gone_after <= 6.5, f'"is typing…" stayed {gone_after:.1f} s after Ben stopped typing'
    await expect(ben_avatar).to_be_visible()  # still viewing, only not typing

    # Ben leaves (closes his browser window): his avatar disappears within ~10 s
    await ben.close()
    left = time.monotonic()
    await expect(ben_avatar).to_be_hidden(timeout=12_000)
    gone_after = time.monotonic() - left
    print(f"Ben's avatar disappeared {gone_after:.1f} s after his context closed")
    assert gone_after <= 10, f"Ben's avatar stayed {gone_after:.1f} s after he left"
    await expect(bar.get_by_text('AK', exact=True)).to_be_visible()


async def _chatter_scroll(page: Page) -> dict:
    """The chatter's scroll container: its position and how far from its end the reader is."""
    return await page.evaluate('''() => {
        const el = document.querySelector('.chatter-body').closest('.q-scrollarea__container');
        return {top: el.scrollTop, fromEnd: el.scrollHeight - el.scrollTop - el.clientHeight};
    }''')


async def _until(check, timeout_s: float = 5.0) -> dict:
    end = time.monotonic() + timeout_s
    while True:
        state = await check()
        if state is not None or time.monotonic() > end:
            return state
        await asyncio.sleep(0.1)


async def test_live_entries_keep_a_reader_at_the_end_but_leave_one_reading_older_entries(e2e):
    ref = reference(21)
    anna = await e2e.login('anna@pulse.demo')
    ben = await e2e.login('ben@pulse.demo')
    await e2e.open_ticket(anna, ref)
    await e2e.open_ticket(ben, ref)
    tag = uuid.uuid4().hex[:6]
    for i in range(12):  # enough entries to scroll
        await post_message(anna.page, f'Step {i} of the migration ({tag}),\nwith a second line')
    await expect(ben.page.get_by_text(f'Step 11 of the migration ({tag}),', exact=False)).to_be_visible()

    async def at_end():
        state = await _chatter_scroll(ben.page)
        return state if state['fromEnd'] < 5 else None
    assert await _until(at_end), 'Ben was at the end and should have been kept there'

    # following the end is the page's own scroll, which does not wake the scroll area's machinery (a frame less to
    # draw per entry in every viewer's browser): its thumb, shown under the pointer, is where the view is
    await ben.page.locator('.q-scrollarea').filter(has=ben.page.locator('.chatter-body')).hover()
    thumb_js = '''() => {
        const area = document.querySelector('.chatter-body').closest('.q-scrollarea');
        const thumb = area.querySelector('.q-scrollarea__thumb--v');
        return {shown: !thumb.classList.contains('q-scrollarea__thumb--invisible'),
                gap: area.clientHeight - (thumb.offsetTop + thumb.offsetHeight), height: thumb.offsetHeight};
    }'''

    async def thumb_at_end():
        state = await ben.page.evaluate(thumb_js)
        return state if state['shown'] and abs(state['gap']) <= 2 and state['height'] > 0 else None
    assert await _until(thumb_at_end), await ben.page.evaluate(thumb_js)
    await post_message(anna.page, f'Step 12 of the migration ({tag}),\nwith a second line')  # under the pointer
    await expect(ben.page.get_by_text(f'Step 12 of the migration ({tag}),', exact=False)).to_be_visible()
    assert await _until(at_end), 'Ben was at the end and should have been kept there'
    assert await _until(thumb_at_end), await ben.page.evaluate(thumb_js)
    await ben.page.mouse.move(0, 0)

    # Ben scrolls up to read older entries; a new entry arrives but does not pull him down
    await ben.page.evaluate("document.querySelector('.chatter-body').closest('.q-scrollarea__container')"
                            ".scrollTo(0, 0)")
    await ben.page.wait_for_timeout(300)  # the scroll event reaches the page's handler
    await post_message(anna.page, f'Rollback plan ready ({tag})')
    await expect(ben.page.get_by_text(f'Rollback plan ready ({tag})')).to_have_count(1)
    await ben.page.wait_for_timeout(500)
    assert (await _chatter_scroll(ben.page))['top'] == 0, 'a reader of older entries was pulled to the end'

    # his own post brings him to the end
    await post_message(ben.page, f'Thanks, reading it now ({tag})')
    assert await _until(at_end), 'after his own post Ben should see the end'
