"""A ticket opened in place (components/in_app.py) from the list or from another ticket, in real Chromium.

No new document is loaded (a value set in the page survives), the address and the history are the ticket's, and
everything the old ticket had is gone from the page: its live entries, its presence. Back and Forward move between
tickets in place; a reload loads the ticket's own document.
"""
from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, expect

from .conftest import composer, header, post_message, reference, screenshot

pytestmark = pytest.mark.e2e


async def same_document(page: Page) -> bool:
    return await page.evaluate('window.__inPlaceMarker === 17')


async def test_a_ticket_opens_in_place_from_the_list_and_from_a_link_in_another_ticket(e2e):
    anna = await e2e.login('anna@pulse.demo')
    page = anna.page
    ref_a = reference(2)  # a VPN problem: there are similar tickets
    await page.goto(f'{e2e.url}/tickets?status=all&q={ref_a}')
    await page.wait_for_function('window.did_handshake === true')
    await page.evaluate('window.__inPlaceMarker = 17')

    # from the list: a plain click on a reference
    await page.locator(f'a[href="/tickets/{ref_a}"]').first.click()
    await expect(page).to_have_url(f'{e2e.url}/tickets/{ref_a}')
    await expect(page.get_by_text(ref_a, exact=True)).to_be_visible()
    await expect(composer(page)).to_be_visible()
    await expect(page).to_have_title(f'{ref_a} · Pulse Live')
    assert await same_document(page), 'the list loaded a new document for the ticket'
    await expect(page.get_by_text('Service level', exact=True)).to_be_visible()  # the side column came too
    await expect(header(page, ref_a).get_by_text('AK', exact=True)).to_be_visible()  # Anna viewing A

    # Ben is on A too; Anna follows a link to a similar ticket (the customer's other tickets open a new tab)
    ben = await e2e.login('ben@pulse.demo')
    b = await e2e.open_ticket(ben, ref_a)
    await expect(header(b, ref_a).get_by_text('AK', exact=True)).to_be_visible(timeout=10_000)
    other = page.locator(f'a[href^="/tickets/PL-"]:not([target="_blank"]):not([href="/tickets/{ref_a}"])').first
    await expect(other).to_be_visible()
    ref_b = (await other.get_attribute('href') or '').removeprefix('/tickets/')
    await other.click()
    await expect(page).to_have_url(f'{e2e.url}/tickets/{ref_b}')
    await expect(page.get_by_text(ref_b, exact=True)).to_be_visible()
    await expect(page).to_have_title(f'{ref_b} · Pulse Live')
    assert await same_document(page)
    await screenshot(page, 'in-place-ticket-b.png', full_page=False)

    # A's presence left with it: Ben no longer sees Anna on A; A's new entries never reach her page now on B
    await expect(header(b, ref_a).get_by_text('AK', exact=True)).to_be_hidden(timeout=10_000)
    await post_message(b, 'Posted on A after Anna moved on')
    await asyncio.sleep(2)
    await expect(page.get_by_text('Posted on A after Anna moved on', exact=False)).to_have_count(0)

    # B lives: Ben opens B and posts, Anna sees it live; he sees her there
    await e2e.open_ticket(ben, ref_b)
    await expect(header(b, ref_b).get_by_text('AK', exact=True)).to_be_visible(timeout=10_000)
    await post_message(b, 'Posted on B while Anna is here')
    await expect(page.get_by_text('Posted on B while Anna is here', exact=False)).to_be_visible(timeout=10_000)

    # Back: A again, in place, read afresh (the message posted meanwhile is there); Forward: B again
    await page.go_back()
    await expect(page).to_have_url(f'{e2e.url}/tickets/{ref_a}')
    await expect(page.get_by_text('Posted on A after Anna moved on', exact=False)).to_be_visible()
    assert await same_document(page)
    await page.go_forward()
    await expect(page).to_have_url(f'{e2e.url}/tickets/{ref_b}')
    await expect(page.get_by_text('Posted on B while Anna is here', exact=False)).to_be_visible()
    assert await same_document(page)

    # a reload is the ticket's own document, as before
    await page.reload()
    await expect(page.get_by_text(ref_b, exact=True)).to_be_visible()
    assert not await same_document(page)

    # Back once more to the list's own address: its document (the list was not opened in place)
    await page.go_back()
    await page.go_back()
    await expect(page).to_have_url(f'{e2e.url}/tickets?status=all&q={ref_a}')
    await expect(page.locator(f'a[href="/tickets/{ref_a}"]').first).to_be_visible()


async def test_links_that_are_not_a_ticket_or_clicked_with_a_modifier_load_as_before(e2e):
    anna = await e2e.login('anna@pulse.demo')
    page = await e2e.open_ticket(anna, reference(4))
    await page.evaluate('window.__inPlaceMarker = 17')
    # a header link (another page) loads its document
    await page.get_by_role('link', name='Customers', exact=True).first.click()
    await expect(page).to_have_url(f'{e2e.url}/customers')
    assert not await same_document(page)
    # a ticket link clicked with Ctrl opens a new tab; this page stays as it is
    page = await e2e.open_ticket(anna, reference(4))
    await page.evaluate(f'''() => {{
        const a = document.createElement('a'); a.href = '/tickets/{reference(6)}'; a.id = 'other';
        a.textContent = 'other'; a.style.cssText = 'position: fixed; top: 70px; left: 8px; z-index: 9999';
        document.body.appendChild(a);
    }}''')
    await page.evaluate('window.__inPlaceMarker = 17')
    async with anna.context.expect_page() as new_tab:
        await page.click('#other', modifiers=['Control'])
    tab = await new_tab.value
    await expect(tab).to_have_url(f'{e2e.url}/tickets/{reference(6)}')
    await expect(page).to_have_url(f'{e2e.url}/tickets/{reference(4)}')
    assert await same_document(page)
    await tab.close()


async def test_a_notification_clicked_on_a_ticket_opens_its_ticket_in_place(e2e):
    anna, ben = await e2e.login('anna@pulse.demo'), await e2e.login('ben@pulse.demo')
    page = await e2e.open_ticket(ben, reference(11))
    await page.evaluate('window.__inPlaceMarker = 17')
    await e2e.open_ticket(anna, reference(13))
    await post_message(anna.page, '@ben a look at this one, please', internal=True)
    bell = page.locator('.q-header').get_by_role('button').filter(has_text='notifications')
    await expect(bell.locator('.q-badge')).to_be_visible(timeout=10_000)
    await bell.click()
    await page.locator('.q-menu').get_by_text('a look at this one', exact=False).first.click()
    await expect(page).to_have_url(f'{e2e.url}/tickets/{reference(13)}')
    await expect(page.get_by_text(reference(13), exact=True)).to_be_visible()
    await expect(page.get_by_text('a look at this one, please', exact=False).first).to_be_visible()
    await expect(page.locator('.q-menu')).to_have_count(0)  # the menu closed
    assert await same_document(page)
