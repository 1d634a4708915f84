"""Screens of the service levels in real Chromium: a ticket's SLA panel with a breached, an at-risk and a running
target ("update every N" met so far) and the escalation level; the escalation rules page; the SLA policies page with
the worker's recompute progress. Screenshots go to test-artifacts/ and /tmp/screens."""
from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select, update

from .conftest import screenshot

pytestmark = pytest.mark.e2e
SCREENS = Path('/tmp/screens')
AMBER_BG = 'rgb(254, 243, 199)'
RED_BG = 'rgb(220, 38, 38)'
QUASAR_RED = 'rgb(244, 67, 54)'  # a Quasar badge's color='red'


def keep(path: Path, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / name)


async def _set_up(data_dir: Path) -> str:
    """A Critical ticket 3 h 30 min into its 4 h resolution target (at risk), its first response answered late,
    updates on time so far, escalated to level 2; three escalation rules; a recompute under way."""
    from pulse_live import db
    from pulse_live.bus import MemoryBus, set_bus
    from pulse_live.models import Priority, Queue, SlaClockJob, Ticket, User, utcnow
    from pulse_live.services import escalation_admin, tickets
    set_bus(MemoryBus())
    db.init(f'sqlite+aiosqlite:///{data_dir / "pulse.db"}')
    try:
        async with db.session() as s:
            users = {u.email: u for u in (await s.execute(select(User))).scalars()}
            critical = (await s.execute(select(Priority.id).where(Priority.name == 'Critical'))).scalars().first()
            queue = (await s.execute(select(Queue.id).order_by(Queue.id))).scalars().first()
        admin, anna, ben = users['admin@pulse.demo'], users['anna@pulse.demo'], users['ben@pulse.demo']
        ticket = await tickets.create_ticket(actor=anna, title='Payroll export stops at the bank interface',
                                             customer_id=users['carl@acme.demo'].id, priority_id=critical)
        now = utcnow().replace(microsecond=0)
        created = now - timedelta(hours=3, minutes=30)
        async with db.session() as s, s.begin():
            await s.execute(update(Ticket).where(Ticket.id == ticket.id).values(
                created_at=created, first_response_at=created + timedelta(minutes=45),
                first_response_due_at=created + timedelta(minutes=30), first_response_breached=True,
                resolution_due_at=created + timedelta(hours=4), next_update_due_at=now + timedelta(minutes=40),
                next_update_breached=False, escalation_level=2, status='in_progress'))
            s.add(SlaClockJob(kind='recompute', reason='Calendar “Business hours” changed', anchor_at=now,
                              requested_at=now, after_id=0, done=41_000, changed=38_512, total=100_000))
        await escalation_admin.save_rule(actor=admin, name='Critical: 75 % of first response used',
                                         criterion='target_share', target='first_response', share_percent=75,
                                         conditions={'priority_ids': [critical]}, round_the_clock=True,
                                         actions=[{'type': 'raise_level'},
                                                  {'type': 'notify', 'roles': ['manager'],
                                                   'channels': ['in_app', 'mail']}])
        await escalation_admin.save_rule(actor=admin, name='Resolution breached', criterion='breached',
                                         target='resolution',
                                         actions=[{'type': 'raise_level'}, {'type': 'assign', 'user_id': ben.id}])
        await escalation_admin.save_rule(actor=admin, name='Unassigned for 30 min', criterion='unassigned',
                                         minutes=30, actions=[{'type': 'move_queue', 'queue_id': queue}])
        return ticket.reference
    finally:
        await db.dispose()


async def test_sla_panel_rules_and_policies_pages(e2e):
    reference = await _set_up(e2e.server.log_path.parent / 'data')
    anna = await e2e.login('anna@pulse.demo')
    page = await e2e.open_ticket(anna, reference)
    panel = page.locator('.q-card').filter(has_text='Service level')
    await expect(panel.get_by_text('Escalated · level 2')).to_be_visible()
    # answered 15 min late: decided, red, no longer counting (not "overdue by 3 h" for ever)
    await expect(panel.get_by_text('answered late', exact=True)).to_have_css('background-color', RED_BG)
    # one block of markup (components/sla_badge.panel_html): its countdowns are named by data-mark
    resolution, next_update = (panel.locator(f'[data-mark="sla-{key}"][data-sla-due]')
                               for key in ('resolution', 'next-update'))
    await expect(resolution).to_have_text(re.compile(r'^due in (29|30) min'))
    await expect(resolution).to_have_attribute('data-sla-state', 'risk')
    await expect(resolution).to_have_css('background-color', AMBER_BG)
    await expect(next_update).to_have_text(re.compile(r'^due in (39|40) min'))
    await expect(next_update).to_have_attribute('data-sla-state', 'ok')
    await expect(panel.locator('[data-mark="sla-next-update-record"]')).to_have_text('every update on time so far')
    await expect(panel.locator('[data-mark="sla-escalation"]')).to_have_css('background-color', QUASAR_RED)  # bg-red
    await expect(panel.locator('i.q-icon', has_text='timer')).to_have_css('font-size', '18px')  # Quasar's icon
    await page.mouse.move(0, 0)
    shot = await screenshot(page, 'sla-panel-states-page.png', full_page=False)
    keep(shot, 'sla_panel_states_page.png')
    panel_shot = Path(shot).with_name('sla-panel-states.png')
    await panel.screenshot(path=str(panel_shot))
    keep(panel_shot, 'sla_panel_states.png')

    admin = await e2e.login('admin@pulse.demo')
    await admin.page.goto(e2e.url + '/admin/escalation')
    await expect(admin.page.get_by_text('Critical: 75 % of first response used').first).to_be_visible()
    await admin.page.mouse.move(0, 0)
    keep(await screenshot(admin.page, 'escalation-rules.png'), 'escalation_rules.png')
    await admin.page.goto(e2e.url + '/admin/sla')
    await expect(admin.page.get_by_text('Pulse · Critical').first).to_be_visible()
    await expect(admin.page.get_by_text(re.compile(r'Recomputing the open tickets’ due times|Due times up to date'))
                 .first).to_be_visible()
    await admin.page.mouse.move(0, 0)
    keep(await screenshot(admin.page, 'sla-policies.png'), 'sla_policies.png')
