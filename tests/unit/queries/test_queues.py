"""Work lists: the queue line, My tickets, All open with its filters and days, where the viewer may take; none of
them for customers."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.models import Queue, QueueMember, Service, utcnow
from pulse_live.queries import queues as work_queries
from pulse_live.services import ownership, queues, tickets
from tests.factories import priority_id, queue_ids
from tests.helpers import age_ticket


async def test_queue_line_is_unassigned_open_by_priority_then_age(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    async with db.session() as s:
        first = (await s.execute(select(Queue.id).where(Queue.name == '1st level'))).scalar_one()
        network = (await s.execute(select(Queue.id).where(Queue.name == 'Network'))).scalar_one()
    old_minor = await tickets.create_ticket(actor=anna, title='old minor', priority_id=await priority_id('Minor'))
    await tickets.create_ticket(actor=anna, title='new critical', priority_id=await priority_id('Critical'))
    old_critical = await tickets.create_ticket(actor=anna, title='old critical',
                                               priority_id=await priority_id('Critical'))
    taken = await tickets.create_ticket(actor=anna, title='taken', priority_id=await priority_id('Critical'))
    elsewhere = await tickets.create_ticket(actor=anna, title='network', queue_id=network)
    await age_ticket(old_minor.id, 30)
    await age_ticket(old_critical.id, 20)
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
    await age_ticket(a.id, 24 * 10)

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


async def test_customers_cannot_see_work_lists(people):
    carl, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    q = await queue_ids()
    for call in (lambda: work_queries.queue_line(carl, q['1st level']), lambda: work_queries.my_tickets(carl),
                 lambda: work_queries.open_tickets(carl), lambda: work_queries.queue_summaries(carl)):
        with pytest.raises(PermissionDenied):
            await call()
    assert [s.name for s in await work_queries.queue_summaries(anna)][0] == '1st level'  # her own queue first
    async with db.session() as s:
        members = (await s.execute(select(func.count(QueueMember.id)))).scalar_one()
    assert members > 0


@pytest.mark.parametrize('created_from, created_to, message', [
    (None, date(9999, 12, 31), 'Created to: 9999-12-31 is out of range'),  # + 1 day overflowed
    (date(9999, 12, 31), None, 'Created from: 9999-12-31 is out of range'),
    (date(1, 1, 1), None, 'Created from: 0001-01-01 is out of range'),
    (date(2026, 3, 2), date(2026, 3, 1), 'after the “created to” date'),
])
async def test_open_list_refuses_unusable_days_clearly(people, created_from, created_to, message):
    anna = people.users['anna@pulse.demo']
    await tickets.create_ticket(actor=anna, title='Any')
    with pytest.raises(ValidationError, match=message):
        await work_queries.open_tickets(anna, work_queries.WorkFilters(created_from=created_from,
                                                                       created_to=created_to))
    with pytest.raises(ValidationError, match='between 1970-01-01 and 2999-12-31'):
        work_queries.check_day(date(3000, 1, 1), 'Created to')


async def test_open_list_days_at_the_edges_of_the_range(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Any')
    page = await work_queries.open_tickets(anna, work_queries.WorkFilters(created_from=work_queries.FIRST_DAY,
                                                                          created_to=work_queries.LAST_DAY))
    assert [r.reference for r in page.rows] == [ticket.reference] and page.rows[0].queue_id == ticket.queue_id
    today = ticket.created_at.date()
    page = await work_queries.open_tickets(anna, work_queries.WorkFilters(created_to=today - timedelta(days=1)))
    assert page.total == 0


async def test_the_lists_know_where_the_viewer_may_take(people):
    u = people.users
    q = await queue_ids()
    daniel, ben, maria = u['daniel@pulse.demo'], u['ben@pulse.demo'], u['maria@pulse.demo']
    empty = await queues.create_queue(actor=u['admin@pulse.demo'], name='Nobody yet')
    # 2nd level: Ben only; Network: Daniel only; 1st level: all three agents; a queue without members: everyone
    assert await work_queries.queues_not_takeable(daniel) == {q['2nd level']}
    assert await work_queries.queues_not_takeable(ben) == {q['Network']}
    assert await work_queries.queues_not_takeable(maria) == frozenset()  # managers take anywhere
    may_take = {s.name: s.may_take for s in await work_queries.queue_summaries(daniel)}
    assert may_take == {'1st level': True, '2nd level': False, 'Network': True, empty.name: True}
    with pytest.raises(PermissionDenied):
        await work_queries.queues_not_takeable(u['carl@acme.demo'])
