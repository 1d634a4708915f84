"""The dashboard's service levels are live: a manager watching sees "Breached now" and "Escalated" move when the
clock records a breach and a rule escalates the ticket, without reloading."""
from __future__ import annotations

from datetime import timedelta

from nicegui.testing import User
from sqlalchemy import update

from pulse_live import db
from pulse_live.escalation_worker import Worker
from pulse_live.models import Ticket, utcnow
from pulse_live.services import escalation_admin
from tests.factories import make_ticket
from tests.ui.conftest import login


async def test_breached_and_escalated_tiles_move_live(user: User, people) -> None:
    await escalation_admin.save_rule(actor=people.users['admin@pulse.demo'], name='Breach', criterion='breached',
                                     target='first_response', round_the_clock=True,
                                     actions=[{'type': 'raise_level'}])
    ticket = await make_ticket(people)
    await login(user, 'maria@pulse.demo')
    await user.open('/dashboard')
    await user.should_see(marker='sla-breached-now', content='0')
    await user.should_see(marker='sla-escalated', content='0')
    now = utcnow()
    async with db.session() as s, s.begin():  # the ticket's first response fell due a minute ago
        await s.execute(update(Ticket).where(Ticket.id == ticket.id)
                        .values(first_response_due_at=now - timedelta(minutes=1), first_response_breached=None))
    await Worker(clock=lambda: now).step()  # records the breach, fires the rule
    await user.should_see(marker='sla-breached-now', content='1')
    await user.should_see(marker='sla-escalated', content='1')
