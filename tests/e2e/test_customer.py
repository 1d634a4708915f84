"""A customer (Carl, ACME's organisation admin) in the portal: his organisation's requests only, never internal
notes; the agents' pages and ticket addresses send him to the portal."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import expect

from .conftest import composer, post_message, reference, screenshot

pytestmark = pytest.mark.e2e


async def test_customer_lands_on_portal_and_cannot_open_agent_list(e2e):
    carl = await e2e.login('carl@acme.demo')
    page = carl.page
    await expect(page).to_have_url(re.compile(r'/portal$'))
    await expect(page.get_by_text('My requests', exact=True).last).to_be_visible()
    table = page.get_by_role('table').first
    await expect(table.locator('tbody tr').first).to_be_visible()
    # his own requests first ("Requested by" is the 4th column) …
    requesters = set(await table.locator('tbody tr td:nth-child(4)').all_inner_texts())
    assert requesters == {'Carl Jensen'}, requesters
    await page.get_by_role('tab', name='All requests of ACME Corp').click()
    organisation_table = page.get_by_role('table')  # only the visible tab's table
    await expect(organisation_table.get_by_text('Eva Lindqvist').first).to_be_visible()
    # … and, as ACME's organisation admin, every ACME request, nobody else's
    requesters = set(await organisation_table.locator('tbody tr td:nth-child(4)').all_inner_texts())
    assert requesters == {'Carl Jensen', 'Eva Lindqvist'}, requesters
    await screenshot(page, 'portal-carl.png')

    # the agents' list sends him back to his portal
    await page.goto(e2e.url + '/tickets')
    await expect(page).to_have_url(re.compile(r'/portal$'))
    await expect(page.get_by_text('My requests', exact=True).last).to_be_visible()
    await expect(page.get_by_text('Search reference or title')).to_have_count(0)
    await expect(page.get_by_text('Globex Ltd')).to_have_count(0)

    # another organisation's ticket does not exist for him, by the agents' address or the portal's
    response = await page.goto(f'{e2e.url}/tickets/{reference(3)}')  # Globex
    assert response.status == 404
    await expect(page).to_have_url(re.compile(rf'/portal/requests/{reference(3)}$'))
    await expect(page.get_by_text('Request not found', exact=True)).to_be_visible()
    await expect(composer(page)).to_have_count(0)


async def test_customer_sees_public_reply_but_not_internal_note(e2e):
    ref = reference(5)  # ACME, Carl is the customer
    anna = await e2e.login('anna@pulse.demo')
    carl = await e2e.login('carl@acme.demo')
    await e2e.open_ticket(anna, ref)
    await e2e.open_ticket(carl, ref)  # the agents' address sends him to the portal page of the request
    await expect(carl.page).to_have_url(re.compile(rf'/portal/requests/{ref}$'))
    # customers get no composer modes (always a public reply)
    await expect(carl.page.get_by_role('tab', name='Internal note')).to_have_count(0)
    await expect(carl.page.get_by_role('tab', name='Reply to customer')).to_have_count(0)

    tag = uuid.uuid4().hex[:8]
    note = f'Internal: customer is on the old VPN profile, do not tell them yet ({tag}).'
    reply = f'Hello Carl, we are working on it ({tag}).'
    await post_message(anna.page, note, internal=True)
    note_on_anna = anna.page.get_by_text(note, exact=True)
    await expect(note_on_anna).to_be_visible()
    note_bubble = note_on_anna.locator('xpath=ancestor::div[contains(@class, "border")][1]')
    await expect(note_bubble.get_by_text('Internal note', exact=True)).to_be_visible()
    await post_message(anna.page, reply)
    await expect(anna.page.get_by_text(reply, exact=True)).to_be_visible()

    # Carl, who had the ticket open, gets the public reply live; the note (sent before it) never shows
    await expect(carl.page.get_by_text(reply, exact=True)).to_be_visible(timeout=10_000)
    await expect(carl.page.get_by_text(note)).to_have_count(0)
    # the tag once in the conversation (the reply; a live toast about the reply may show it too, never the note)
    await expect(carl.page.locator('.q-scrollarea').get_by_text(tag)).to_have_count(1)

    # and after a fresh load
    await carl.page.reload()
    await expect(carl.page.get_by_text(reply, exact=True)).to_be_visible()
    await expect(carl.page.get_by_text(note)).to_have_count(0)
    await expect(carl.page.get_by_text('Internal note')).to_have_count(0)
    await screenshot(carl.page, 'customer-ticket-carl.png')
