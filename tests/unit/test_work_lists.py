"""Work lists (queue line, My tickets, All open with filters) and the dashboard aggregates; the bulk generator."""
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select, update

from pulse_live import db
from pulse_live.models import Queue, Service, Ticket, TicketEvent, utcnow
from pulse_live.queries import dashboard, queues as work_queries
from pulse_live.seed import bulk
from pulse_live.services import ownership, tickets
from tests.factories import priority_id


async def _age(ticket_id: int, hours: float) -> None:
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == ticket_id)
                        .values(created_at=utcnow() - timedelta(hours=hours)))


async def test_queue_line_is_unassigned_open_by_priority_then_age(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    async with db.session() as s:
        first = (await s.execute(select(Queue.id).where(Queue.name == '1st level'))).scalar_one()
        network = (await s.execute(select(Queue.id).where(Queue.name == 'Network'))).scalar_one()
    old_minor = await tickets.create_ticket(actor=anna, title='old minor', priority_id=await priority_id('Minor'))
    await tickets.create_ticket(actor=anna, title='new critical', priority_id=await priority_id('Critical'))
    old_critical = await tickets.create_ticket(actor=anna, title='old critical', priority_id=await priority_id('Critical'))
    taken = await tickets.create_ticket(actor=anna, title='taken', priority_id=await priority_id('Critical'))
    elsewhere = await tickets.create_ticket(actor=anna, title='network', queue_id=network)
    await _age(old_minor.id, 30)
    await _age(old_critical.id, 20)
    await ownership.take_ticket(actor=ben, ticket_id=taken.id)
    line = await work_queries.queue_line(anna, first)
    assert [r.title for r in line.rows] == ['old critical', 'new critical', 'old minor']
    assert line.total == 3 and line.rows[0].queue == '1st level' and line.rows[0].assignee == ''
    paged = await work_queries.queue_line(anna, first, page=2, page_size=2)
    assert [r.title for r in paged.rows] == ['old minor'] and paged.pages == 2
    beyond = await work_queries.queue_line(anna, first, page=99, page_size=2)
    assert beyond.page == 2  # clamped to the last page
    mine = await work_queries.my_tickets(ben)
    assert [r.title for r in mine.rows] == ['taken'] and mine.rows[0].assignee == 'Ben Okafor'
    assert elsewhere.id not in {r.id for r in line.rows}


async def test_all_open_filters_sort_and_search(people):
    anna, ben, carl = people.users['anna@pulse.demo'], people.users['ben@pulse.demo'], people.users['carl@acme.demo']
    async with db.session() as s:
        vpn = (await s.execute(select(Service.id).where(Service.name == 'VPN'))).scalar_one()
    a = await tickets.create_ticket(actor=anna, title='VPN for ACME', customer_id=carl.id, service_id=vpn)
    b = await tickets.create_ticket(actor=anna, title='Laptop', priority_id=await priority_id('Critical'))
    c = await tickets.create_ticket(actor=anna, title='Done already')
    c = await tickets.change_status(actor=anna, ticket_id=c.id, expected_version=c.version, status='resolved',
                                   resolution_code_id=1, resolution_text='ok')
    await ownership.take_ticket(actor=ben, ticket_id=b.id)
    await _age(a.id, 24 * 10)

    async def titles(**filters):
        sort = filters.pop('sort', 'priority')
        page = await work_queries.open_tickets(anna, work_queries.WorkFilters(**filters), sort=sort)
        return [r.title for r in page.rows]
    assert await titles() == ['Laptop', 'VPN for ACME']
    assert await titles(sort='newest') == ['Laptop', 'VPN for ACME']
    assert await titles(sort='oldest') == ['VPN for ACME', 'Laptop']
    assert await titles(status='resolved') == ['Done already']
    assert await titles(organisation_id=people.orgs['acme']) == ['VPN for ACME']
    assert await titles(service_id=vpn) == ['VPN for ACME']
    assert await titles(assignee_id=0) == ['VPN for ACME']
    assert await titles(assignee_id=ben.id) == ['Laptop']
    assert await titles(priority_id=await priority_id('Critical')) == ['Laptop']
    today = utcnow().date()
    assert await titles(created_from=today - timedelta(days=2)) == ['Laptop']
    assert await titles(created_to=today - timedelta(days=2)) == ['VPN for ACME']
    assert await titles(search='vpn') == ['VPN for ACME']
    assert await titles(search=a.reference.lower()) == ['VPN for ACME']
    try:
        await titles(created_from=today, created_to=today - timedelta(days=1))
    except Exception as e:  # a clear message, not a crash
        assert 'after' in str(e)
    else:
        raise AssertionError('an inverted date range must be refused')


async def test_dashboard_aggregates(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    made = [await tickets.create_ticket(actor=anna, title=f'T{i}') for i in range(5)]
    await ownership.take_ticket(actor=ben, ticket_id=made[0].id)
    t1 = await tickets.change_status(actor=ben, ticket_id=made[0].id, expected_version=made[0].version + 1,
                                     status='in_progress')
    await tickets.change_status(actor=anna, ticket_id=made[1].id, expected_version=made[1].version, status='resolved',
                                resolution_code_id=1, resolution_text='ok')
    await _age(made[2].id, 2)
    await _age(made[3].id, 24 * 10)
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
    assert len(d.days) == 14 and {day: n for day, n in zip(d.days, d.created_per_day) if n} == created
    assert d.resolved_per_day[-1] == 1
    assert d.oldest[0].title == 'T3' and len(d.oldest) == 4
    assert t1.assignee_id == ben.id


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
