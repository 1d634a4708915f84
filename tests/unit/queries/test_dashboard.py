"""The manager dashboard's aggregates."""
from collections import Counter

from sqlalchemy import select

from pulse_live import db
from pulse_live.models import Ticket
from pulse_live.queries import dashboard
from pulse_live.services import ownership, tickets
from tests.helpers import age_ticket


async def test_dashboard_aggregates(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    made = [await tickets.create_ticket(actor=anna, title=f'T{i}') for i in range(5)]
    await ownership.take_ticket(actor=ben, ticket_id=made[0].id)
    t1 = await tickets.change_status(actor=ben, ticket_id=made[0].id, expected_version=made[0].version + 1,
                                     status='in_progress')
    await tickets.change_status(actor=anna, ticket_id=made[1].id, expected_version=made[1].version, status='resolved',
                                resolution_code_id=1, resolution_text='ok')
    await age_ticket(made[2].id, 2)
    await age_ticket(made[3].id, 24 * 10)
    d = await dashboard.compute_dashboard()
    assert d.status_count('open') == 3 and d.status_count('in_progress') == 1 and d.status_count('resolved') == 1
    assert d.open_total == 4 and d.unassigned_total == 3
    assert [(c.label, c.count) for c in d.by_priority] == [('Minor', 4)]
    assert [(c.label, c.count, c.extra) for c in d.by_queue] == [('1st level', 4, 3)]
    assert [(c.label, c.count, c.extra) for c in d.by_assignee] == [('Ben Okafor', 1, 1)]
    assert {c.label: c.count for c in d.unassigned_age} == {'< 1 h': 1, '1–4 h': 1, '4–24 h': 0, '1–3 d': 0,
                                                           '3–7 d': 0, '> 7 d': 1}
    async with db.session() as s:
        created = Counter(c.date().isoformat() for c in (await s.execute(select(Ticket.created_at))).scalars())
    assert len(d.days) == 14 and {day: n for day, n in zip(d.days, d.created_per_day, strict=True) if n} == created
    assert d.resolved_per_day[-1] == 1
    assert d.oldest[0].title == 'T3' and len(d.oldest) == 4
    assert t1.assignee_id == ben.id
