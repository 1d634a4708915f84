"""Rough edges seen on screen: one ticket list (old addresses still work), counts that agree with their number, an
empty search that says so, the support group's name, named watch switches, a priority label that fits."""
from __future__ import annotations

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select, update

from components.badges import count_text
from components.frame import nav_links
from components.work_list import summary_text
from pulse_live import db
from pulse_live.models import Queue, Status, Ticket
from pulse_live.queries.queues import WorkPage
from tests.factories import make_ticket
from tests.ui.conftest import login


def test_counted_nouns_agree_with_their_number() -> None:
    assert [count_text(n, 'ticket') for n in (0, 1, 2)] == ['0 tickets', '1 ticket', '2 tickets']
    page = lambda total, page=1: WorkPage(rows=[], total=total, page=page, page_size=25)
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


async def test_the_team_names_the_support_group_once_and_every_watch_switch(user: User, people) -> None:
    ticket = await make_ticket(people, 'Printer on floor 3 is down')
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='team-list')
    await user.should_see('support group · whoever works the ticket')
    await user.should_not_see('support group support group')
    team = user.find(marker='team-list').elements.pop()
    names = [label.text for label in team.descendants() if isinstance(label, ui.label)]
    assert 'Pulse Support' in names, names  # the provider's name, once
    assert not any(name.endswith(' support group') for name in names), names
    switches = user.find(marker='watch-switch').elements
    assert switches, 'the team list shows watch switches'
    assert all(s.props.get('aria-label', '').startswith('Notify ') for s in switches)
    assert any(s.props['aria-label'] == 'Notify Carl Jensen' for s in switches)


async def test_the_new_ticket_priority_label_fits(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    priority = user.find(marker='new-priority').elements.pop()
    assert priority.props['label'] == 'Priority'
    assert priority.props['hint'] == 'Automatic when left empty'
