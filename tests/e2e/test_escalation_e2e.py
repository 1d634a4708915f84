"""A ticket reaches its breach while an agent and a manager watch, in real Chromium against a real server: the
server's escalation worker (sleeping until the due moment) raises the level and assigns the ticket to Ben; Anna's
ticket page turns its countdown red and shows the escalation flag, Maria's ticket list shows the level flag on the
row and its countdown red, and the ticket appears in Ben's My tickets — all live, nobody reloads.

The set-up (a service, a one-minute 24/7 policy for it, a rule) is written into the server's database by the test
process through the services; the ticket itself is made in Anna's browser, so the server's worker hears of it. The
test waits for the real minute the target takes (the server's clock is not the test's to move)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select, update

from .conftest import choose, screenshot

pytestmark = pytest.mark.e2e
SCREENS = Path('/tmp/screens')
RED_BG = 'rgb(220, 38, 38)'
SERVICE = 'Payroll (escalation drill)'


async def _set_up(data_dir: Path) -> None:
    from pulse_live import db
    from pulse_live.bus import MemoryBus, set_bus
    from pulse_live.models import BusinessCalendar, SlaPolicy, User
    from pulse_live.services import customers, escalation_admin, sla_admin
    set_bus(MemoryBus())
    db.init(f'sqlite+aiosqlite:///{data_dir / "pulse.db"}')
    try:
        async with db.session() as s:
            admin = (await s.execute(select(User).where(User.email == 'admin@pulse.demo'))).scalar_one()
            ben = (await s.execute(select(User).where(User.email == 'ben@pulse.demo'))).scalar_one()
            always = (await s.execute(select(BusinessCalendar.id).where(BusinessCalendar.name == '24/7'))) \
                .scalar_one()
        service = await customers.save_service(actor=admin, name=SERVICE, criticality='critical')
        policy = await sla_admin.save_policy(actor=admin, name='Drill: one minute', calendar_id=always,
                                             first_response_minutes=1, resolution_minutes=60,
                                             conditions={'service_ids': [service.id]})
        async with db.session() as s, s.begin():  # first in the order (moving it would recompute every clock)
            await s.execute(update(SlaPolicy).where(SlaPolicy.id == policy.id).values(position=0))
        await escalation_admin.save_rule(
            actor=admin, name='Drill: first response breached', criterion='breached', target='first_response',
            conditions={'service_ids': [service.id]}, round_the_clock=True,
            actions=[{'type': 'raise_level'}, {'type': 'assign', 'user_id': ben.id}])
    finally:
        await db.dispose()


def keep(path: Path, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / name)


async def test_a_breach_escalates_live_on_every_screen(e2e):
    await _set_up(e2e.server.log_path.parent / 'data')
    maria = await e2e.login('maria@pulse.demo')
    await maria.page.goto(e2e.url + '/tickets?q=Salary+run')
    ben = await e2e.login('ben@pulse.demo')
    await ben.page.goto(e2e.url + '/my')
    anna = await e2e.login('anna@pulse.demo')
    page = anna.page
    await page.goto(e2e.url + '/tickets/new')
    await page.get_by_label('Title').fill('Salary run stops at the bank export')
    await choose(page, 'Service', SERVICE)
    await page.get_by_role('button', name='Create ticket').click()
    await expect(page).to_have_url(re.compile(r'/tickets/PL-\d{4}-\d{6}$'))
    reference = page.url.rsplit('/', 1)[-1]
    panel = page.locator('.q-card').filter(has_text='Service level')
    countdown = panel.locator('[data-sla-due]').first
    await expect(countdown).to_have_text(re.compile(r'^due in (1 min|\d+ s)'))
    await expect(panel.get_by_text('Escalated · level 1')).to_have_count(0)

    row = maria.page.locator('div.grid').filter(has=maria.page.get_by_role('link', name=reference, exact=True))
    await expect(row).to_be_visible(timeout=15_000)  # the new ticket appeared in Maria's list by itself
    row_countdown = row.locator('[data-sla-due]')
    first_response_due = await countdown.get_attribute('data-sla-due')
    await expect(row_countdown).to_have_attribute('data-sla-due', first_response_due)  # the row counts the reply
    await expect(row_countdown).to_have_attribute('data-sla-state', 'ok')
    await expect(row.get_by_text('L1', exact=True)).to_have_count(0)
    await expect(ben.page.get_by_role('link', name=reference, exact=True)).to_have_count(0)

    # the minute runs out: the browser turns the countdown red, the server's worker escalates
    await expect(countdown).to_have_attribute('data-sla-state', 'breached', timeout=75_000)
    await expect(countdown).to_have_css('background-color', RED_BG)
    await expect(panel.get_by_text('Escalated · level 1')).to_be_visible(timeout=20_000)
    await expect(page.get_by_text('Escalation rule “Drill: first response breached” raised the escalation level '
                                  '0 → 1', exact=False)).to_be_visible()
    await expect(row.get_by_text('L1', exact=True)).to_be_visible(timeout=20_000)
    await expect(row_countdown).to_have_attribute('data-sla-state', 'breached')  # red on the row too
    await expect(row_countdown).to_have_css('background-color', RED_BG)
    await expect(ben.page.get_by_role('link', name=reference, exact=True)).to_be_visible(timeout=20_000)
    await page.mouse.move(0, 0)
    keep(await screenshot(page, 'escalation-ticket-page.png'), 'escalation_ticket_page.png')
    keep(await screenshot(maria.page, 'escalation-manager-list.png'), 'escalation_manager_list.png')
    keep(await screenshot(ben.page, 'escalation-my-tickets.png'), 'escalation_my_tickets.png')
