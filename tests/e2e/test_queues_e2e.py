"""Work management in real browsers: a taken ticket leaves the other agent's queue line; the dashboard follows."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from .conftest import screenshot

pytestmark = pytest.mark.e2e


def work_row(page: Page, ref: str):
    """One row of a work list: the grid line holding the ticket's reference link."""
    return page.locator('div.grid').filter(has=page.get_by_role('link', name=ref, exact=True))


def tile(page: Page, label: str):
    """The number on a dashboard tile."""
    card = page.locator('.q-card').filter(has=page.get_by_text(label, exact=True))
    return card.locator('.text-3xl')


async def test_taken_ticket_leaves_the_other_agents_queue_line(e2e):
    anna = await e2e.login('anna@pulse.demo')
    ben = await e2e.login('ben@pulse.demo')
    for session in (anna, ben):
        await session.page.goto(e2e.url + '/queues')
        await expect(session.page.get_by_text('1st level: unassigned tickets', exact=False)).to_be_visible()
    take = anna.page.get_by_role('button', name='Take').first
    first_row = anna.page.locator('div.grid').filter(has=take)
    ref = (await first_row.get_by_role('link').first.inner_text()).strip()
    assert re.match(r'PL-\d{4}-\d{6}$', ref), ref
    await expect(work_row(ben.page, ref)).to_have_count(1)
    await ben.page.evaluate('window.__pulseNoReload = true')

    await take.click()
    await expect(anna.page.get_by_text(f'{ref} is yours now.')).to_be_visible()
    await expect(work_row(ben.page, ref)).to_have_count(0, timeout=10_000)  # gone live for Ben
    assert await ben.page.evaluate('window.__pulseNoReload === true'), 'the page was reloaded'
    await screenshot(ben.page, 'queues-after-take-ben.png')

    await anna.page.goto(e2e.url + '/my')
    await expect(work_row(anna.page, ref)).to_have_count(1)


async def test_dashboard_follows_a_status_change(e2e):
    maria = await e2e.login('maria@pulse.demo')
    anna = await e2e.login('anna@pulse.demo')
    await maria.page.goto(e2e.url + '/dashboard')
    in_progress = tile(maria.page, 'In progress')
    await expect(in_progress).to_have_text(re.compile(r'^\d+$'))
    before = int(await in_progress.inner_text())

    # Anna takes the most urgent ticket of her queue and starts work on it
    await anna.page.goto(e2e.url + '/queues')
    take = anna.page.get_by_role('button', name='Take').first
    ref = (await anna.page.locator('div.grid').filter(has=take).get_by_role('link').first.inner_text()).strip()
    await take.click()
    await expect(anna.page.get_by_text(f'{ref} is yours now.')).to_be_visible()
    await e2e.open_ticket(anna, ref)
    await anna.page.get_by_role('button', name='Start work').click()

    await expect(in_progress).to_have_text(str(before + 1), timeout=10_000)
    await screenshot(maria.page, 'dashboard-after-status-change.png')
