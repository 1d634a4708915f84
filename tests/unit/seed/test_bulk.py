"""The bulk generator writes rows directly; the services carry on from what it wrote."""
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.models import Ticket, TicketEvent
from pulse_live.queries import dashboard
from pulse_live.queries import queues as work_queries
from pulse_live.seed import bulk
from pulse_live.services import tickets


async def test_bulk_generator_then_services_carry_on(people):
    anna = people.users['anna@pulse.demo']
    before = await tickets.create_ticket(actor=anna, title='before bulk')
    stats = await bulk.generate(tickets=300, events=2000, agents=3, organisations=4, customers=10, batch=100,
                                progress=lambda _: None)
    assert stats['tickets'] == 300 and stats['events'] == 2000
    async with db.session() as s:
        assert (await s.execute(select(func.count(Ticket.id)))).scalar_one() == 301
        assert (await s.execute(select(func.count(TicketEvent.id)))).scalar_one() >= 2001
        references = list((await s.execute(select(Ticket.reference))).scalars())
    assert len(set(references)) == 301
    after = await tickets.create_ticket(actor=anna, title='after bulk')  # ids, references continue without clashes
    assert after.id > before.id and after.reference not in references
    assert (await work_queries.open_tickets(anna)).total >= 2
    d = await dashboard.compute_dashboard()
    assert sum(c.count for c in d.by_status) == 302
