"""The dashboard's service-level figures: met % over 7 and 30 days, breached now, at risk within the hour, escalated,
by queue and priority."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from pulse_live import db
from pulse_live.models import Ticket, utcnow
from pulse_live.queries.dashboard import compute_dashboard
from tests.factories import make_ticket, priority_id, queue_ids


async def _set(ticket_id: int, **values) -> None:
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))


async def test_sla_figures(people):
    now = utcnow()
    queues = await queue_ids()
    late = await make_ticket(people, 'late', queue_id=queues['Network'], priority_id=await priority_id('Critical'))
    risky = await make_ticket(people, 'risky', queue_id=queues['Network'])
    met = await make_ticket(people, 'met')
    old = await make_ticket(people, 'old and met')
    await _set(late.id, first_response_breached=True, first_response_due_at=now - timedelta(minutes=5),
               escalation_level=2)
    await _set(risky.id, first_response_breached=None, first_response_due_at=now + timedelta(minutes=30),
               resolution_due_at=now + timedelta(hours=8), resolution_breached=None)
    await _set(met.id, first_response_breached=False, resolution_breached=None,
               first_response_due_at=now + timedelta(hours=2), resolution_due_at=now + timedelta(hours=8))
    await _set(old.id, first_response_breached=False, resolution_breached=False, status='resolved',
               created_at=now - timedelta(days=10))
    sla = (await compute_dashboard(now)).sla
    assert (sla.breached_now, sla.at_risk, sla.escalated) == (1, 1, 1)
    assert (sla.decided_7, sla.met_7) == (2, 50.0)  # late (breached) and met, created this week
    assert (sla.decided_30, sla.met_30) == (4, 75.0)  # and the old ticket's two met targets
    network, = sla.by_queue
    assert (network.label, network.breached, network.at_risk, network.escalated) == ('Network', 1, 1, 1)
    assert [c.label for c in sla.by_priority][0] == 'Critical'
