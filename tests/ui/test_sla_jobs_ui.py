"""Escalated tickets head the queue lines, re-sorted live when a rule escalates one; the SLA admin page returns at
once after a policy change and shows the worker's recompute progress until it is done."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from nicegui.testing import User
from sqlalchemy import update

from pulse_live import db
from pulse_live.escalation_worker import Worker
from pulse_live.models import Ticket, utcnow
from pulse_live.services import escalation_admin
from tests.factories import load_ticket, make_ticket, priority_id
from tests.ui.conftest import login


def _row_order(user: User) -> list[str]:
    """The references of the work rows in the order the page shows them."""
    return [m for el in user.client.layout.descendants() if 'work-row' in el._markers  # noqa: SLF001
            for m in el._markers if m != 'work-row']  # noqa: SLF001


async def _order_becomes(user: User, expected: list[str]) -> None:
    for _ in range(100):
        if _row_order(user) == expected:
            return
        await asyncio.sleep(0.1)
    assert _row_order(user) == expected


async def test_an_escalated_ticket_moves_to_the_top_of_the_queue_line_live(create_user: Callable[[], User],
                                                                           people) -> None:
    await escalation_admin.save_rule(actor=people.users['admin@pulse.demo'], name='Breach', criterion='breached',
                                     target='first_response', round_the_clock=True,
                                     actions=[{'type': 'raise_level'}])
    urgent = await make_ticket(people, title='Mail server down', priority_id=await priority_id('Critical'))
    older = await make_ticket(people, title='Printer jams', priority_id=await priority_id('Minor'))
    newer = await make_ticket(people, title='Monitor flickers', priority_id=await priority_id('Minor'))
    ben = create_user()
    await login(ben, 'ben@pulse.demo')
    await ben.open('/queues')
    await ben.should_see(marker=f'work-row {newer.reference}')
    await _order_becomes(ben, [urgent.reference, older.reference, newer.reference])  # priority, then oldest
    now = utcnow()
    async with db.session() as s, s.begin():  # the newest Minor ticket's first response fell due a minute ago
        await s.execute(update(Ticket).where(Ticket.id == newer.id)
                        .values(first_response_due_at=now - timedelta(minutes=1), first_response_breached=None))
    await Worker(clock=lambda: now).step()  # records the breach, the rule raises the level
    assert (await load_ticket(newer.id)).escalation_level == 1
    await ben.should_see(marker=f'escalation {newer.reference}', retries=50)
    await _order_becomes(ben, [newer.reference, urgent.reference, older.reference])


async def test_the_admin_page_shows_the_recompute_progress(create_user: Callable[[], User], people) -> None:
    for i in range(3):
        await make_ticket(people, title=f'Open {i}')
    admin = create_user()
    await login(admin, 'admin@pulse.demo')
    await admin.open('/admin/sla')
    await admin.should_see(marker='policy-row Pulse · Critical')
    admin.find(marker='new-policy').click()
    admin.find(marker='policy-name').type('Everything')
    admin.find(marker='policy-save').click()
    await admin.should_see('Policy saved')
    # the save returned at once; the escalation worker (not running in this test) has the work
    await admin.should_see(marker='sla-recompute-pending', content='0 of 3')
    await Worker().step()
    await admin.should_see(marker='sla-recompute-done', content='Due times up to date', retries=50)
