"""The SLA countdown in real Chromium: the browser counts it down by itself (no message from the server carries
its text) and turns it amber once at risk and red once due. The browser's clock is Playwright's: started just
before the at-risk moment, then set just before the due time, so the test waits seconds, not half an hour.
Screenshots of the ticket's SLA panel and of the admin SLA page go to /tmp/screens (and test-artifacts/)."""
from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from .conftest import screenshot

pytestmark = pytest.mark.e2e
SCREENS = Path('/tmp/screens')
AMBER_BG = 'rgb(254, 243, 199)'
RED_BG = 'rgb(220, 38, 38)'


def keep(path: Path, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / name)


def parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=UTC)


async def new_critical_ticket(page: Page, url: str, title: str) -> str:
    await page.goto(url + '/tickets/new')
    await page.get_by_label('Title').fill(title)
    await page.get_by_label('Priority').click()
    await page.get_by_role('option', name='Critical', exact=True).click()
    await page.get_by_role('button', name='Create ticket').click()
    await expect(page).to_have_url(re.compile(r'/tickets/PL-\d{4}-\d{6}$'))
    return page.url.rsplit('/', 1)[-1]


async def test_the_countdown_runs_in_the_browser_and_turns_amber_then_red(e2e):
    anna = await e2e.login('anna@pulse.demo')
    reference = await new_critical_ticket(anna.page, e2e.url, 'Payroll export fails for every user')
    panel = anna.page.locator('.q-card').filter(has_text='Service level')
    first = panel.locator('[data-mark="sla-first-response"]')  # the card is one block of markup
    await expect(panel.locator('[data-mark="sla-policy"]')).to_have_text('Pulse · Critical')
    await expect(first).to_have_text(re.compile(r'^due in \d+ min'))
    due, risk = parse(await first.get_attribute('data-sla-due')), parse(await first.get_attribute('data-sla-risk'))
    assert timedelta(minutes=29) < due - datetime.now(UTC) <= timedelta(minutes=30)  # Critical: 30 min, 24/7
    await anna.page.mouse.move(0, 0)
    shot = await screenshot(anna.page, 'sla-ticket-page.png')
    keep(shot, 'sla_ticket_page.png')
    panel_shot = Path(shot).with_name('sla-panel.png')
    await panel.screenshot(path=str(panel_shot))
    keep(panel_shot, 'sla_panel.png')
    await anna.page.goto(e2e.url + '/tickets')  # Anna leaves: nobody else touches the ticket

    ben = await e2e.login('ben@pulse.demo')
    page = ben.page
    frames: list[str] = []
    page.on('websocket', lambda ws: ws.on('framereceived', lambda payload: frames.append(str(payload))))
    await page.clock.install(time=risk - timedelta(seconds=4))  # the browser's clock, 4 s before "at risk"
    await e2e.open_ticket(ben, reference)
    countdown = page.locator('.q-card').filter(has_text='Service level') \
        .locator('[data-mark="sla-first-response"][data-sla-due]')
    await expect(countdown).to_have_attribute('data-sla-state', 'ok')
    await expect(countdown).to_have_text(re.compile(r'^due in 7 min \d+ s$'))
    first_text = await countdown.inner_text()
    frames.clear()
    await expect(countdown).not_to_have_text(first_text, timeout=5000)  # it ticks by itself
    await expect(countdown).to_have_attribute('data-sla-state', 'risk', timeout=10_000)
    assert await countdown.evaluate('e => getComputedStyle(e).backgroundColor') == AMBER_BG
    await page.clock.set_system_time(due - timedelta(seconds=3))
    await expect(countdown).to_have_text(re.compile(r'^due in [123] s$'))
    await expect(countdown).to_have_attribute('data-sla-state', 'breached', timeout=10_000)
    await expect(countdown).to_have_text(re.compile(r'^overdue by \d+ s$'))
    assert await countdown.evaluate('e => getComputedStyle(e).backgroundColor') == RED_BG
    # no message from the server carried the countdown: the browser did it all
    assert not [f for f in frames if 'due in' in f or 'overdue' in f or 'data-sla' in f], frames
    # the work list's Due column counts the same way
    await page.goto(e2e.url + '/tickets?q=Payroll+export')
    cell = page.locator('div.grid').filter(has=page.get_by_role('link', name=reference, exact=True)) \
        .locator('[data-sla-due]')
    await expect(cell).to_have_text(re.compile(r'^\d+ s late$'))


async def test_admin_sla_page(e2e):
    admin = await e2e.login('admin@pulse.demo')
    page = admin.page
    await page.goto(e2e.url + '/admin/sla')
    await expect(page.get_by_text('Pulse · Critical', exact=True)).to_be_visible()
    await expect(page.get_by_text('Business hours', exact=True).first).to_be_visible()
    await page.mouse.move(0, 0)
    keep(await screenshot(page, 'sla-admin.png'), 'sla_admin.png')
    await page.get_by_role('button', name='New calendar').click()
    await expect(page.get_by_label('Name')).to_be_visible()
    await page.wait_for_timeout(400)
    keep(await screenshot(page, 'sla-admin-calendar.png', full_page=False), 'sla_admin_calendar.png')


async def test_every_work_list_has_a_due_column(e2e):
    anna = await e2e.login('anna@pulse.demo')
    page = anna.page
    for path in ('/tickets', '/my', '/queues'):
        await page.goto(e2e.url + path)
        await expect(page.get_by_text('Due', exact=True).first).to_be_visible()
        await expect(page.locator('[data-sla-state]').first).to_be_visible()
    await page.goto(e2e.url + '/tickets')
    await page.mouse.move(0, 0)
    keep(await screenshot(page, 'sla-work-list.png', full_page=False), 'sla_work_list.png')
