"""The customer in view and the workflow gaps in real Chromium: two agents on one ticket, one links an affected
item and both see it at once; an agent reopens a closed ticket with a reason. Screenshots of the panel."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from .conftest import reference, screenshot

pytestmark = pytest.mark.e2e


def panel(page):
    return page.locator('.q-card').filter(has=page.get_by_text('Affected items', exact=False)).first


async def test_agents_see_the_customer_and_link_an_affected_item_live(e2e):
    ref = reference(41)  # demo: Carl Jensen's (ACME, gold), open, not touched by any other test
    anna = await e2e.login('anna@pulse.demo')
    ben = await e2e.login('ben@pulse.demo')
    for session in (anna, ben):
        await e2e.open_ticket(session, ref)
    page = anna.page
    card = panel(page)
    await expect(card.get_by_role('link', name='Carl Jensen')) \
        .to_have_attribute('href', re.compile(r'^/customers/\d+$'))
    for text in ('carl@acme.demo', '+45 33 12 34 56', 'ACME Corp', 'Gold', 'None linked yet.'):
        await expect(card.get_by_text(text, exact=True)).to_be_visible()
    await expect(card.get_by_text('Other recent tickets', exact=False)).to_be_visible()
    await expect(card.get_by_role('link', name=ref, exact=True)).to_have_count(0)  # not its own "other" ticket

    await card.get_by_label('Link an affected item').click()
    option = page.locator('.q-menu').get_by_role('option', name='Laptop CPH-LT-0231', exact=False)
    await expect(option).to_be_visible()
    await option.click()
    history = 'Anna Keller linked the affected item Laptop CPH-LT-0231 (Lenovo ThinkPad T14 Gen 3, S/N PF3KX8Q1)'
    for session in (anna, ben):
        await expect(session.page.get_by_text(history, exact=True)).to_be_visible()
        await expect(panel(session.page).get_by_text('Affected items (1)', exact=True)).to_be_visible()
        await expect(panel(session.page).get_by_text('linked by Anna Keller', exact=False)).to_be_visible()
    await screenshot(page, 'customer-panel-ticket-page.png')
    path = await panel(page).screenshot(path=str(screenshot_path('customer-panel.png')))
    assert path


async def test_an_agent_reopens_a_closed_ticket_with_a_reason(e2e):
    ref = reference(9)  # demo: Carl Jensen's, closed
    ben = await e2e.login('ben@pulse.demo')
    page = await e2e.open_ticket(ben, ref)
    await expect(page.get_by_label('Title', exact=True)).to_be_disabled()
    await page.get_by_role('button', name='Reopen…').click()
    await page.get_by_label('Reason for reopening').fill('Carl called: the problem is back since Monday.')
    await screenshot(page, 'reopen-dialog.png', full_page=False)
    await page.get_by_role('button', name='Reopen', exact=True).click()
    await expect(page.get_by_text('Ben Okafor reopened the ticket (Closed → Open): Carl called: the problem is back '
                                  'since Monday.', exact=True)).to_be_visible()
    await expect(page.get_by_label('Title', exact=True)).to_be_enabled()  # fields unlock without a reload


async def test_start_work_makes_the_agent_the_owner(e2e):
    ref = reference(11)  # demo: open and unassigned
    ben = await e2e.login('ben@pulse.demo')
    page = await e2e.open_ticket(ben, ref)
    await expect(page.get_by_text('Assignee: unassigned', exact=False)).to_be_visible()
    await page.get_by_role('button', name='Start work').click()
    await expect(page.get_by_text('Ben Okafor took the ticket (started work)', exact=True)).to_be_visible()
    await expect(page.get_by_text('Assignee: Ben Okafor', exact=False)).to_be_visible()


def screenshot_path(name: str):
    from .conftest import artifact
    path = artifact(name)
    print(f'screenshot: {path}')
    return path
