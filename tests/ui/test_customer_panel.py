"""The customer in view and the workflow gaps on the agents' ticket page (issue 11, points 5 and 6), with several
simulated users at once: the customer's card and recent tickets, affected items linked live for every viewer,
Start work taking the ticket, staff reopening a closed ticket with a reason, Use automatic naming who chose it."""
import re
from collections.abc import Callable

from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import Priority, Queue, ResolutionCode
from pulse_live.services import tickets
from tests.factories import make_ticket
from tests.ui.conftest import detail_field, detail_shown, login, open_ticket, team_picker, until


def _card(user: User) -> str:
    """The markup of the customer's card on the ticket page (one static block: components/caller.py)."""
    return user.find(marker='caller-card').elements.pop().content


def _recent(user: User) -> str:
    return user.find(marker='customer-recent-rows').elements.pop().content


async def test_the_agent_sees_the_customers_card_and_recent_tickets(create_user: Callable[[], User], people) -> None:
    carl = people.users['carl@acme.demo']
    earlier = await make_ticket(people, title='VPN drops')
    ticket = await make_ticket(people, 'Laptop will not dock')
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await anna.should_see(marker='customer-panel')
    await anna.should_see(marker='caller-card')
    card = _card(anna)
    assert f'<a href="/customers/{carl.id}" target="_self"' in card and '>Carl Jensen</a>' in card
    for text in ('carl@acme.demo', '+45 33 12 34 56', 'ACME Corp', 'Gold', 'org admin', f'#{carl.id}'):
        assert f'>{text}<' in card, text
    assert 'inactive' not in card
    recent = re.findall(r'href="/tickets/([^"]+)" target="_blank"', _recent(anna))
    assert recent == [earlier.reference]  # the ticket itself is not "another" ticket
    assert 'data-tip="VPN drops"' in _recent(anna)  # the full title on hover (it is cut to the column's width)
    await anna.should_see('None linked yet.')


async def test_linking_an_item_shows_for_every_viewer_with_a_history_row(create_user: Callable[[], User],
                                                                         people) -> None:
    ticket = await make_ticket(people, 'Laptop will not dock')
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    anna.find(marker='affected-link').click()
    anna.find('Laptop CPH-LT-0231 — Lenovo ThinkPad T14 Gen 3 · PF3KX8Q1 · Carl Jensen').click()
    history = ('Anna Keller linked the affected item Laptop CPH-LT-0231 (Lenovo ThinkPad T14 Gen 3, S/N PF3KX8Q1)')
    for user in (anna, ben):
        await user.should_see(history, retries=50)
        await user.should_see(marker='affected-item', retries=50)
        await user.should_see('Affected items (1)')
        await user.should_see('linked by Anna Keller')
    await ben.should_not_see('None linked yet.')
    # Ben unlinks it: Anna's panel follows, the history keeps both rows
    ben.find(marker='affected-unlink').click()
    await anna.should_see('Ben Okafor removed the affected item Laptop CPH-LT-0231', retries=50)
    await anna.should_see('None linked yet.', retries=50)
    await anna.should_not_see(marker='affected-item')
    await anna.should_see(history)


async def test_a_customer_never_gets_the_panel(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, 'Laptop will not dock')
    carl, anna = create_user(), create_user()
    await login(carl, 'carl@acme.demo')
    await carl.open(f'/tickets/{ticket.reference}')  # customers are sent to their portal page
    await carl.should_see(ticket.reference)
    await carl.should_not_see(marker='customer-panel')
    await carl.should_not_see(marker='affected-items')
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)  # the agent beside him has it
    await anna.should_see(marker='customer-panel')


async def test_start_work_makes_the_agent_the_assignee_live(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, 'Laptop will not dock')
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await ben.should_see('Assignee: unassigned', retries=10)
    anna.find(marker='status-in_progress').click()
    for user in (anna, ben):
        await user.should_see('Anna Keller took the ticket (started work)', retries=50)
        await user.should_see(marker='status-badge', content='In progress', retries=50)
    await ben.should_see('Assignee: Anna Keller', retries=50)


async def test_start_work_is_not_offered_where_it_would_be_refused(create_user: Callable[[], User], people) -> None:
    async with db.session() as s:
        second = (await s.execute(select(Queue.id).where(Queue.name == '2nd level'))).scalar_one()
    ticket = await make_ticket(people, 'Laptop will not dock', queue_id=second)
    daniel = create_user()
    await open_ticket(daniel, 'daniel@pulse.demo', ticket.reference)  # not a member of 2nd level
    await daniel.should_see(marker='start-work-locked')
    await daniel.should_not_see(marker='status-in_progress')


async def test_staff_reopen_a_closed_ticket_with_a_reason(create_user: Callable[[], User], people) -> None:
    anna_u, carl_u = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
    ticket = await make_ticket(people, 'Laptop will not dock', assignee_id=anna_u.id)
    ticket = await tickets.change_status(actor=anna_u, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=code, resolution_text='New dock')
    await tickets.change_status(actor=carl_u, ticket_id=ticket.id, expected_version=ticket.version, status='closed')
    ben, anna = create_user(), create_user()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await until(lambda: detail_shown(anna, 'title') is not None)
    assert detail_shown(anna, 'title')[1] is False  # a closed ticket's fields are locked
    anna.find(marker='face-title').trigger('focusin')  # and going into one builds no editor
    await anna.should_not_see(marker='field-title')
    await anna.should_not_see(marker='affected-link')
    ben.find(marker='status-open').click()  # "Reopen…"
    await ben.should_see(marker='reopen-reason')
    ben.find(marker='reopen-confirm').click()
    await ben.should_see('needs a reason', retries=30)
    ben.find(marker='reopen-reason').type('The dock fails again since Monday.')
    ben.find(marker='reopen-confirm').click()
    text = 'Ben Okafor reopened the ticket (Closed → Open): The dock fails again since Monday.'
    for user in (ben, anna):
        await user.should_see(text, retries=50)
        await user.should_see(marker='status-badge', content='Open', retries=50)
    # Anna's page unlocks the fields live, and the panel offers linking again
    await until(lambda: detail_shown(anna, 'title')[1])
    assert (await detail_field(anna, 'title')).enabled
    await anna.should_see(marker='affected-link', retries=50)


async def test_use_automatic_says_who_chose_it(create_user: Callable[[], User], people) -> None:
    ben_u = people.users['ben@pulse.demo']
    async with db.session() as s:
        minor = (await s.execute(select(Priority.id).where(Priority.name == 'Minor'))).scalar_one()
    ticket = await make_ticket(people, 'Laptop will not dock', impact='high', urgency='high')
    await tickets.update_ticket(actor=ben_u, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'priority_id': minor})
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    anna.find(marker='priority-automatic').click()
    await anna.should_see('Anna Keller switched the priority back to automatic: Minor → Critical', retries=50)


async def test_the_panel_follows_a_change_of_customer(create_user: Callable[[], User], people) -> None:
    ben_u, tom_u = people.users['ben@pulse.demo'], people.users['tom@globex.demo']
    ticket = await make_ticket(people, 'Laptop will not dock')
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await anna.should_see(marker='caller-card')
    assert '>Carl Jensen</a>' in _card(anna)
    await tickets.update_ticket(actor=ben_u, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'customer_id': tom_u.id})
    await until(lambda: '>Tom Baker</a>' in _card(anna))
    assert '>Globex Ltd<' in _card(anna) and 'Carl Jensen' not in _card(anna)


def test_the_card_and_the_recent_tickets_show_every_text_as_text() -> None:
    """Names, titles and the rest come from customers and e-mail: never markup on the agent's page."""
    from datetime import datetime

    from components.caller import caller_card_html, history_html
    from pulse_live.queries.customers import CustomerProfile, HistoryRow
    evil = '<img src=x onerror=alert(1)>"\''
    when = datetime(2026, 12, 1)
    row = HistoryRow(id=1, reference='PL-2026-000001', title=evil, status='open', priority='Minor',
                     priority_color='green', created_at=when, updated_at=when)
    profile = CustomerProfile(id=7, name=evil, email=evil, phone=evil, location=evil, department=evil, handle='',
                              role='customer', is_org_admin=False, is_active=False, organisation_id=1,
                              organisation=evil, tier='gold', created_at=when, last_login_at=None, tickets=[row],
                              open_count=1, total_count=1)
    for html in (caller_card_html(profile), history_html(profile)):
        assert '<img' not in html and '&lt;img src=x onerror=alert(1)&gt;' in html
    assert '>inactive<' in caller_card_html(profile)


async def test_the_customer_picker_offers_a_few_and_finds_the_others_by_typing(create_user: Callable[[], User],
                                                                                people) -> None:
    """A desk has tens of thousands of customers: the ticket page's Customer select holds a first page of them and
    the ticket's own (not every customer, in every agent's page and browser); what the agent types is looked up;
    a customer another agent picked meanwhile is shown though the page never offered them."""
    from nicegui import ui

    from pulse_live.models import Ticket
    from pulse_live.queries.catalog import CUSTOMER_CHOICES
    from pulse_live.services import users
    from tests.factories import PASSWORD_HASH
    acme = people.orgs['acme']
    many = [await users.create_user(actor=None, email=f'aaron{i:02d}@acme.demo', password='',
                                    password_hash=PASSWORD_HASH, role='customer', display_name=f'Aaron Many {i:02d}',
                                    organisation_id=acme) for i in range(CUSTOMER_CHOICES + 25)]
    zelda = await users.create_user(actor=None, email='zelda@acme.demo', password='', password_hash=PASSWORD_HASH,
                                    role='customer', display_name='Zelda Unique', organisation_id=acme)
    ticket = await make_ticket(people, 'Laptop will not dock')  # Carl's: after every Aaron by name
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    picker: ui.select = await detail_field(anna, 'customer_id')
    offered = dict(picker.options)
    assert len(offered) == CUSTOMER_CHOICES + 1 and offered[ticket.customer_id] == 'Carl Jensen (ACME Corp)'
    assert zelda.id not in offered and picker.value == ticket.customer_id

    # typing "zel": Zelda is offered (the value stays Carl until she is picked)
    listener = next(i for i, li in picker._event_listeners.items() if li.type == 'inputValue')
    picker._handle_event({'listener_id': listener, 'args': 'zel'})
    await until(lambda: zelda.id in picker.options)
    assert picker.options[zelda.id] == 'Zelda Unique (ACME Corp)' and picker.value == ticket.customer_id
    picker.value = zelda.id
    await until(lambda: anna.find(marker='caller-card').elements.pop().content.count('Zelda Unique') > 0)
    async with db.session() as s:
        assert (await s.get(Ticket, ticket.id)).customer_id == zelda.id

    # another agent picks a customer this page never offered: the page shows them
    async with db.session() as s:
        version = (await s.get(Ticket, ticket.id)).version
    last = many[-1]
    await tickets.update_ticket(actor=people.users['ben@pulse.demo'], ticket_id=ticket.id, expected_version=version,
                                changes={'customer_id': last.id})
    await until(lambda: picker.value == last.id)
    assert picker.options[last.id] == f'Aaron Many {CUSTOMER_CHOICES + 24:02d} (ACME Corp)'

    # the team's "Add a member" alike: a first page of people, the others by typing (it offered 500 and no more)
    team: ui.select = await team_picker(anna)  # built, and its first page read, when Anna goes into it
    assert len(team.options) == CUSTOMER_CHOICES and zelda.id not in team.options
    listener = next(i for i, li in team._event_listeners.items() if li.type == 'inputValue')
    team._handle_event({'listener_id': listener, 'args': 'zelda'})
    await until(lambda: zelda.id in team.options)
    assert team.options[zelda.id] == 'Zelda Unique <zelda@acme.demo>'
    team.value = zelda.id
    anna.find(marker='team-add').click()
    await until(lambda: any('Zelda Unique' in e.content for e in anna.find(marker='team-member-name').elements))
