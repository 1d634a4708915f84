"""The work lists (one ticket list, queue lines, My tickets) and the live dashboard with several simulated users at
once: Take, filters from the address, counts that agree with their number, empty searches that say so; customers
and agents kept out of what is not theirs."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select, update

from components.badges import count_text
from components.dashboard_feed import feed
from components.frame import nav_links
from components.work_list import summary_text
from pulse_live import db
from pulse_live.models import Queue, Status, Ticket
from pulse_live.queries import queues as work_queries
from pulse_live.queries.queues import WorkPage
from pulse_live.services import ownership, tickets
from tests.factories import make_ticket
from tests.ui.conftest import login


async def _on_queues(user: User, email: str, reference: str) -> None:
    await login(user, email)
    await user.open('/queues')
    await user.should_see(marker='queue-title', content='1st level')
    await user.should_see(marker=f'work-row {reference}')


def _count_queue_line_reads(monkeypatch) -> list:
    """The queue lines read from now on (one item per read: the queue read)."""
    reads: list = []
    original = work_queries.queue_line

    async def counting(*args, **kwargs):
        reads.append(args[1])
        return await original(*args, **kwargs)
    monkeypatch.setattr(work_queries, 'queue_line', counting)
    return reads


async def _queue_id(name: str) -> int:
    async with db.session() as s:
        return (await s.execute(select(Queue.id).where(Queue.name == name))).scalar_one()


async def test_taken_ticket_leaves_the_other_agents_queue_line_live(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    other = await make_ticket(people, title='Scanner sends to wrong folder')
    anna, ben = create_user(), create_user()
    await _on_queues(anna, 'anna@pulse.demo', ticket.reference)
    await _on_queues(ben, 'ben@pulse.demo', ticket.reference)
    await ben.should_see(marker='queue-chip', content='1st level · 2')
    anna.find(marker=f'take {ticket.reference}').click()
    await anna.should_see(f'{ticket.reference} is yours now.', retries=30)
    await ben.should_not_see(marker=f'work-row {ticket.reference}', retries=30)
    await ben.should_see(marker=f'work-row {other.reference}')
    await ben.should_see(marker='queue-chip', content='1st level · 1', retries=30)
    await anna.open('/my')
    await anna.should_see(marker=f'work-row {ticket.reference}')
    await anna.should_see(kind=ui.html, content=f'data-mark="assignee {ticket.reference}">Anna Keller</div>')


async def test_agents_on_the_same_queue_line_share_one_read_per_change(create_user: Callable[[], User], people,
                                                                       monkeypatch) -> None:
    ticket = await make_ticket(people)
    agents = [create_user() for _ in range(3)]
    for agent, email in zip(agents, ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo'), strict=True):
        await _on_queues(agent, email, ticket.reference)
    reads = _count_queue_line_reads(monkeypatch)
    other = await make_ticket(people, title='Monitor flickers')
    for agent in agents:
        await agent.should_see(marker=f'work-row {other.reference}', retries=30)
    assert len(reads) == 1  # three agents watching, one query


async def test_agents_on_the_ticket_list_with_the_same_filters_share_one_read_per_change(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    """Every open ticket list re-reads after a change; the lists with the same filters and sort show the same rows,
    so they share one read (a hundred agents on the default list cost one query per change, not a hundred). A list
    filtered otherwise reads for itself and shows its own rows."""
    ticket = await make_ticket(people)
    agents = [create_user() for _ in range(4)]
    for agent, email in zip(agents, ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo', 'maria@pulse.demo'),
                            strict=True):
        await login(agent, email)
    for agent in agents[:3]:
        await agent.open('/tickets')
        await agent.should_see(marker=f'work-row {ticket.reference}')
    await agents[3].open('/tickets?status=all&sort=created')
    await agents[3].should_see(marker=f'work-row {ticket.reference}')
    reads: list = []
    original = work_queries.open_tickets

    async def counting(viewer, filters=None, **kwargs):
        reads.append((filters.status if filters else None, kwargs.get('sort')))
        return await original(viewer, filters, **kwargs)
    monkeypatch.setattr(work_queries, 'open_tickets', counting)
    other = await make_ticket(people, title='Monitor flickers')
    for agent in agents:
        await agent.should_see(marker=f'work-row {other.reference}', retries=30)
    await asyncio.sleep(0.3)
    assert sorted(reads, key=repr) == sorted([(None, 'priority'), ('all', 'newest')], key=repr)  # 4 lists, 2 reads
    # a filter changed since the page opened counts: that list then reads apart and shows its own rows
    reads.clear()
    agents[0].find(marker='filter-status').elements.pop().set_value('waiting')
    await agents[0].should_not_see(marker=f'work-row {other.reference}', retries=30)
    reads.clear()  # (the filter's own read)
    await tickets.update_ticket(actor=people.users['anna@pulse.demo'], ticket_id=other.id,
                                expected_version=other.version, changes={'title': 'Monitor flickers again'})
    for agent in agents[1:]:
        await agent.should_see('Monitor flickers again', retries=30)
    await asyncio.sleep(0.3)
    await agents[0].should_not_see(marker=f'work-row {other.reference}')
    assert sorted(reads, key=repr) == sorted([(None, 'priority'), ('all', 'newest'), ('waiting', 'priority')], key=repr)


async def test_a_change_the_rows_do_not_show_leaves_them_as_they_are(create_user: Callable[[], User], people,
                                                                    monkeypatch) -> None:
    """Every open list re-reads after a field change; when nothing its rows show changed (a work-around, the
    description) it keeps its rows: no elements built again, nothing re-rendered in the browser. A change it shows
    (the title) is shown."""
    ticket = await make_ticket(people)
    other = await make_ticket(people, title='Scanner sends to wrong folder')
    ben = create_user()
    await _on_queues(ben, 'ben@pulse.demo', ticket.reference)
    await ben.should_see(marker=f'work-row {other.reference}')
    reads = _count_queue_line_reads(monkeypatch)
    rows_before = {e.id for e in ben.client.elements.values() if e._markers and e._markers[0] == 'work-row'}
    elements_before = set(ben.client.elements)
    anna = people.users['anna@pulse.demo']
    t = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'workaround': 'Use the printer on floor 2'})
    for _ in range(100):
        if reads:
            break
        await asyncio.sleep(0.05)
    assert reads  # the list read again
    await asyncio.sleep(0.3)  # (its rows would be rebuilt right after the read)
    assert set(ben.client.elements) == elements_before  # nothing built again, nothing deleted
    assert len(rows_before) == 2
    await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=t.version,
                                changes={'title': 'Printer on floor 3 is on fire'})

    def rows_now() -> set[int]:
        return {e.id for e in ben.client.elements.values() if e._markers and e._markers[0] == 'work-row'}

    def title_shown() -> bool:
        return any('Printer on floor 3 is on fire' in str(e.props.get('innerHTML', ''))
                   for e in ben.client.elements.values() if isinstance(e, ui.html))
    for _ in range(100):
        if title_shown():
            break
        await asyncio.sleep(0.05)
    assert title_shown() and len(rows_now()) == 2 and not rows_before & rows_now()  # the rows rebuilt


async def test_the_slower_agent_is_told_who_took_it(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    ben = create_user()
    await _on_queues(ben, 'ben@pulse.demo', ticket.reference)
    await ownership.take_ticket(actor=people.users['anna@pulse.demo'], ticket_id=ticket.id)  # Anna was faster
    ben.find(marker=f'take {ticket.reference}').click()  # Ben's page has not re-read yet
    await ben.should_see(f'{ticket.reference} is already taken by Anna Keller.', retries=30)
    await ben.should_not_see(marker=f'work-row {ticket.reference}', retries=30)


async def test_manager_dashboard_updates_live_computed_once_for_all(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    maria, ada = create_user(), create_user()
    for user, email in ((maria, 'maria@pulse.demo'), (ada, 'admin@pulse.demo')):
        await login(user, email)
        await user.open('/dashboard')
        await user.should_see(marker='status-count-open', content='1')
        await user.should_see(marker='status-count-in_progress', content='0')
    before = feed.computations
    anna = people.users['anna@pulse.demo']
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version, status='in_progress')
    for user in (maria, ada):
        await user.should_see(marker='status-count-in_progress', content='1', retries=40)
        await user.should_see(marker='status-count-open', content='0')
    assert feed.computations - before == 1  # one computation for both managers
    assert feed.watchers == 2


async def test_customers_and_agents_are_kept_out(create_user: Callable[[], User], people) -> None:
    carl, anna = create_user(), create_user()
    await login(carl, 'carl@acme.demo', expect='My requests')
    for path in ('/dashboard', '/queues', '/my', '/open', '/admin/queues'):
        await carl.open(path)
        await carl.should_see('My requests')
        await carl.should_not_see(marker='dashboard-stamp')
        await carl.should_not_see(marker='work-list')
        await carl.should_not_see(marker='admin-routing')
    await login(anna, 'anna@pulse.demo')
    await anna.should_not_see('Dashboard')  # no link for agents
    await anna.open('/dashboard')
    await anna.should_not_see(marker='dashboard-stamp')
    await anna.open('/admin/queues')
    await anna.should_not_see(marker='admin-routing')
    await anna.open('/queues')  # what is hers she has
    await anna.should_see(marker='work-list')
    maria = create_user()  # and the manager has the dashboard
    await login(maria, 'maria@pulse.demo')
    await maria.open('/dashboard')
    await maria.should_see(marker='dashboard-stamp')


async def test_all_open_filters_and_reference_jump(create_user: Callable[[], User], people) -> None:
    first = await make_ticket(people, title='Laptop for starter')
    second = await make_ticket(people, title='Website form fails')
    await ownership.take_ticket(actor=people.users['ben@pulse.demo'], ticket_id=second.id)
    anna = create_user()
    await login(anna, 'anna@pulse.demo')
    await anna.open('/open')
    await anna.should_see(marker=f'work-row {first.reference}')
    await anna.should_see(marker=f'work-row {second.reference}')
    anna.find(marker='filter-assignee_id').elements.pop().value = 0  # unassigned only
    await anna.should_not_see(marker=f'work-row {second.reference}', retries=30)
    await anna.should_see(marker=f'work-row {first.reference}')
    anna.find(marker='open-search').type(second.reference).trigger('keydown.enter')
    await anna.should_see(marker='ticket-title', content='Website form fails', retries=30)


async def test_take_is_offered_only_where_the_agent_may_take(create_user: Callable[[], User], people) -> None:
    second = await _queue_id('2nd level')
    specialist = await make_ticket(people, title='Specialist job', queue_id=second)
    ordinary = await make_ticket(people, title='Ordinary job')  # 1st level: Daniel is a member
    daniel, ben = create_user(), create_user()
    await login(daniel, 'daniel@pulse.demo')
    await daniel.open(f'/queues?queue={second}')
    await daniel.should_see(marker='queue-title', content='2nd level')
    await daniel.should_see(marker=f'no-take {specialist.reference}')
    await daniel.should_not_see(marker=f'take {specialist.reference}')
    await daniel.open('/open')
    await daniel.should_see(marker=f'take {ordinary.reference}')
    await daniel.should_see(marker=f'no-take {specialist.reference}')
    await daniel.should_not_see(marker=f'take {specialist.reference}')
    await login(ben, 'ben@pulse.demo')  # a member of 2nd level
    await ben.open(f'/queues?queue={second}')
    await ben.should_see(marker=f'take {specialist.reference}')
    ben.find(marker=f'take {specialist.reference}').click()
    await ben.should_see(f'{specialist.reference} is yours now.', retries=30)


async def test_an_unknown_queue_is_said_to_be_unknown(create_user: Callable[[], User], people) -> None:
    anna = create_user()
    await login(anna, 'anna@pulse.demo')
    response = await anna.http_client.get('/queues?queue=99999')
    assert response.status_code == 404
    assert 'No such queue' in response.text and 'There is no queue #99999' in response.text
    assert 'queue-title' not in response.text and 'work-list' not in response.text  # never another queue's line
    await anna.open('/queues')  # no queue asked for: the first one
    await anna.should_see(marker='queue-title', content='1st level')


async def test_an_unusable_created_day_is_told_and_not_applied(create_user: Callable[[], User], people,
                                                              caplog) -> None:
    ticket = await make_ticket(people, title='Probe row')
    anna = create_user()
    await login(anna, 'anna@pulse.demo')
    await anna.open('/open')
    await anna.should_see(marker=f'work-row {ticket.reference}')
    anna.find(marker='filter-created-to').elements.pop().value = '9999-12-31'
    await anna.should_see('Created to: 9999-12-31 is out of range', retries=30)
    await anna.should_see(marker=f'work-row {ticket.reference}')  # the list as it was: nothing filtered
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    anna.find(marker='filter-created-to').elements.pop().value = '2001-01-01'  # a usable day is applied
    await anna.should_not_see(marker=f'work-row {ticket.reference}', retries=30)
    await anna.should_see(marker='work-empty')


async def test_all_open_filters_come_from_the_address(create_user: Callable[[], User], people) -> None:
    network = await _queue_id('Network')
    in_network = await make_ticket(people, title='Switch port dead', queue_id=network)
    elsewhere = await make_ticket(people, title='Mouse broken')
    anna = create_user()
    await login(anna, 'anna@pulse.demo')
    await anna.open(f'/open?queue_id={network}&assignee_id=0&created_from=2001-01-01')
    await anna.should_see(marker=f'work-row {in_network.reference}')
    await anna.should_not_see(marker=f'work-row {elsewhere.reference}')
    assert anna.find(marker='filter-queue_id').elements.pop().value == network
    assert anna.find(marker='filter-created-from').elements.pop().value == '2001-01-01'
    # names that name nothing are told and left out; malformed ones get the 400 page
    await anna.open('/open?status=bogus&queue_id=99999&created_to=9999-12-31')
    await anna.should_see('Status: no such choice (bogus); not applied.')
    await anna.should_see('Queue: no such choice (99999); not applied.')
    await anna.should_see('Created to: 9999-12-31 is out of range; choose a day between 1970-01-01 and 2999-12-31; '
                          'not applied.')
    await anna.should_see(marker=f'work-row {elsewhere.reference}')
    response = await anna.http_client.get('/open?priority_id=abc', headers={'Accept': 'text/html'})
    assert response.status_code == 400 and 'priority_id: must be a whole number' in response.text


def test_counted_nouns_agree_with_their_number() -> None:
    assert [count_text(n, 'ticket') for n in (0, 1, 2)] == ['0 tickets', '1 ticket', '2 tickets']

    def page(total: int, page: int = 1) -> WorkPage:
        return WorkPage(rows=[], total=total, page=page, page_size=25)

    assert summary_text(page(0)) == 'No tickets'
    assert summary_text(page(1)) == '1 ticket'
    assert summary_text(page(25)) == '25 tickets'
    assert summary_text(page(60, 2)) == '26–50 of 60 tickets · page 2 of 3'


async def test_one_ticket_list_and_the_old_all_open_address_leads_to_it(user: User, people) -> None:
    async with db.session() as s:
        network = (await s.execute(select(Queue.id).where(Queue.name == 'Network'))).scalar_one()
    in_network = await make_ticket(people, 'Switch port dead', queue_id=network)
    elsewhere = await make_ticket(people, 'Mouse broken')
    await login(user, 'anna@pulse.demo')
    paths = [path for _, path in nav_links(people.users['anna@pulse.demo'])]
    assert '/tickets' in paths and '/open' not in paths
    # a bookmark of the former "All open" list: the same filters, on /tickets
    response = await user.http_client.get(f'/open?queue_id={network}&q=switch')
    assert response.status_code == 302
    assert response.headers['location'] == f'/tickets?queue_id={network}&q=switch'
    await user.open(f'/open?queue_id={network}')
    await user.should_see(marker=f'work-row {in_network.reference}')
    await user.should_not_see(marker=f'work-row {elsewhere.reference}')
    assert user.find(marker='filter-queue_id').elements.pop().value == network
    await user.should_see(marker='work-summary', content='1 ticket')
    await user.should_not_see('1 tickets')


async def test_the_ticket_list_keeps_the_former_lists_bookmarks_and_shows_every_status(user: User, people) -> None:
    closed = await make_ticket(people, 'Old closed request')
    open_ = await make_ticket(people, 'Fresh request')
    async with db.session() as s:  # set up directly: the workflow to Closed is not what is tested here
        await s.execute(update(Ticket).where(Ticket.id == closed.id).values(status=Status.CLOSED.value))
        await s.commit()
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets')  # open and in progress by default
    await user.should_see(marker=f'work-row {open_.reference}')
    await user.should_not_see(marker=f'work-row {closed.reference}')
    await user.open('/tickets?status=all&sort=created')  # "created" was the former list's "Newest"
    await user.should_see(marker=f'work-row {closed.reference}')
    await user.should_see(marker=f'work-row {open_.reference}')
    assert user.find(marker='filter-status').elements.pop().value == 'all'
    await user.should_see('Newest first')
    await user.open('/tickets?status=closed')
    await user.should_see(marker=f'work-row {closed.reference}')
    await user.should_not_see(marker=f'work-row {open_.reference}')


async def test_a_search_without_matches_says_so_in_words(user: User, people) -> None:
    await make_ticket(people, 'Printer on floor 3 is down')
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets?q=nothing-like-this')
    await user.should_see(marker='work-empty', content='No tickets match these filters.')
    await user.should_see(marker='work-summary', content='No tickets')
    await user.should_not_see('No data available')


async def test_a_list_that_takes_long_to_build_on_a_busy_server_still_opens(user: User, people, monkeypatch) -> None:
    """NiceGUI answers a page that is not built within its response timeout (3 s unless set) with an error page
    (HTTP 500): seen under load with /tickets. The desk's pages wait longer (pages.params.PAGE_TIMEOUT_S)."""
    import asyncio
    slow, real = 4.0, work_queries.open_tickets

    async def open_tickets_on_a_busy_server(*args, **kwargs):
        await asyncio.sleep(slow)
        return await real(*args, **kwargs)
    await login(user, 'anna@pulse.demo')
    monkeypatch.setattr(work_queries, 'open_tickets', open_tickets_on_a_busy_server)
    response = await user.http_client.get('/tickets')
    assert response.status_code == 200 and 'Tickets' in response.text


async def test_a_list_row_is_few_elements_and_nothing_typed_becomes_markup(user: User, people) -> None:
    """Every list open builds its rows: the plain cells are static HTML (was ~16 elements a row, now ~8), the
    title is escaped, and what tests and people act on (the link, the assignee, Take) are still elements."""
    from nicegui.element import Element
    ticket = await make_ticket(people, title='Toner <script>alert(1)</script> low')
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets')
    await user.should_see(marker=f'work-row {ticket.reference}')
    (row,) = user.find(marker=f'work-row {ticket.reference}').elements

    def descendants(e: Element) -> list[Element]:
        return [d for c in e.default_slot.children for d in (c, *descendants(c))]
    assert len(descendants(row)) <= 10
    html = ''.join(e.content for e in descendants(row) if isinstance(e, ui.html))
    assert '&lt;script&gt;' in html and '<script>' not in html
    assert 'Open' in html  # the status badge
    assert user.find(marker=f'take {ticket.reference}').elements
