"""The agents' composer in a real browser: Reply to customer and Internal note look different, say who reads the
message, keep the draft when switching, and a reply mentioning only staff asks first. Screenshots of both modes."""
from __future__ import annotations

import uuid

from playwright.async_api import expect

from .conftest import artifact, composer, composer_mode, reference


async def _composer_frame(page):
    return composer(page).locator('xpath=ancestor::div[contains(@class, "rounded-lg")][1]')


async def test_composer_modes_look_different_and_keep_the_draft(e2e):
    ref = reference(5)  # ACME, Carl Jensen is the customer
    anna = await e2e.login('anna@pulse.demo')
    carl = await e2e.login('carl@acme.demo')
    page = await e2e.open_ticket(anna, ref)
    await e2e.open_ticket(carl, ref)
    frame = await _composer_frame(page)

    # a new install opens on Internal note: amber, and it says only staff read it
    note_tab = page.get_by_role('tab', name='Internal note')
    await expect(note_tab).to_have_attribute('aria-selected', 'true')
    await expect(frame.get_by_text('Only staff see internal notes, never the customer.')).to_be_visible()
    tag = uuid.uuid4().hex[:6]
    draft = f'Carl, the technician comes tomorrow at 9 ({tag}).'
    await composer(page).fill(draft)
    await frame.scroll_into_view_if_needed()
    note_look = await frame.evaluate('e => getComputedStyle(e).backgroundColor')
    await frame.screenshot(path=str(artifact('composer-internal-note.png')))

    # Reply to customer names the customer, looks different, and the draft is still there
    await composer_mode(page, internal=False)
    await expect(frame.get_by_text('Visible to Carl Jensen (the customer) and staff.')).to_be_visible()
    await expect(composer(page)).to_have_value(draft)
    await expect(page.get_by_role('button', name='Send reply')).to_be_visible()
    reply_look = await frame.evaluate('e => getComputedStyle(e).backgroundColor')
    assert note_look != reply_look, (note_look, reply_look)
    await frame.screenshot(path=str(artifact('composer-reply-to-customer.png')))
    await page.screenshot(path=str(artifact('composer-reply-page.png')), full_page=False)

    await page.get_by_role('button', name='Send reply').click()
    await expect(composer(page)).to_have_value('')
    await expect(carl.page.get_by_text(draft, exact=True)).to_be_visible(timeout=10_000)


async def test_a_reply_mentioning_only_staff_asks_first(e2e):
    ref = reference(5)
    anna = await e2e.login('anna@pulse.demo')
    carl = await e2e.login('carl@acme.demo')
    page = await e2e.open_ticket(anna, ref)
    await e2e.open_ticket(carl, ref)
    await composer_mode(page, internal=False)
    text = f'@ben the vendor confirmed a patch ({uuid.uuid4().hex[:6]})'
    await composer(page).fill(text)
    await page.get_by_role('button', name='Send reply').click()
    question = page.get_by_role('dialog')
    await expect(question.get_by_text('This reply mentions only staff')).to_be_visible()
    await question.screenshot(path=str(artifact('composer-staff-mention-question.png')))
    await question.get_by_role('button', name='Send as internal note').click()
    await expect(composer(page)).to_have_value('')
    bubble = page.get_by_text(text, exact=True).locator('xpath=ancestor::div[contains(@class, "border")][1]')
    await expect(bubble.get_by_text('Internal note', exact=True)).to_be_visible()
    await expect(page.get_by_role('tab', name='Internal note')).to_have_attribute('aria-selected', 'true')
    await carl.page.wait_for_timeout(1000)
    await expect(carl.page.get_by_text(text)).to_have_count(0)
