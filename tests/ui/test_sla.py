"""The SLA clock on screen: an agent sets Waiting for customer (status badge, history, the panel says paused) and the
customer's reply clears it live; the countdowns carry their due time for the browser to count; customers see no
SLA; an admin's bad policy is refused on the SLA page with a clear message."""
from __future__ import annotations

from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User

from components.sla_badge import iso
from pulse_live.services import chatter
from tests.factories import load_ticket, make_ticket, priority_id
from tests.ui.conftest import login, open_ticket


async def test_agent_sets_waiting_and_the_customer_reply_clears_it(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, priority_id=await priority_id('Major'))
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await anna.should_see(marker='sla-panel')
    await anna.should_see(marker='sla-policy', content='Pulse · Major')
    anna.find(marker='status-waiting').click()
    await ben.should_see(marker='status-badge', content='Waiting for customer')
    await ben.should_see('Anna Keller changed Status Open → Waiting for customer')
    await ben.should_see(marker='sla-first-response', content='paused')
    await ben.should_see('waiting for the customer', retries=50)
    await chatter.post_message(actor=people.users['carl@acme.demo'], ticket_id=ticket.id, body='Here you go')
    await ben.should_see(marker='status-badge', content='In progress')
    await ben.should_see('Pulse Live changed Status Waiting for customer → In progress (the customer replied)')
    await ben.should_see(marker='sla-first-response', content='due in')


async def test_the_countdown_carries_its_due_time(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, priority_id=await priority_id('Critical'))
    stored = await load_ticket(ticket.id)
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await anna.should_see(marker='sla-first-response', content='due in')
    element = anna.find(marker='sla-first-response').elements.pop()
    assert element.props['data-sla-due'] == iso(stored.first_response_due_at)
    assert 'data-sla-risk' in element.props
    assert element.props['data-tip'] == f'First response due {stored.first_response_due_at:%Y-%m-%d %H:%M} UTC'
    assert not element.default_slot.children  # the page's tooltip script shows it: no tooltip element
    # the work lists: a Due column with the same kind of element
    await anna.open('/tickets')
    await anna.should_see(marker=f'sla-due {ticket.reference}')
    cell = anna.find(marker=f'sla-due {ticket.reference}').elements.pop()
    assert cell.props['data-sla-due'] == iso(stored.first_response_due_at)
    assert 'data-sla-compact' in cell.props and cell.props['data-sla-state'] in ('ok', 'risk')
    # its tooltip is the list's one tooltip script's data-tip, not an element of its own in every row
    assert cell.props['data-tip'] == f'First response due {stored.first_response_due_at:%Y-%m-%d %H:%M} UTC'
    assert not cell.default_slot.children


async def test_customers_see_no_sla(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, priority_id=await priority_id('Critical'))
    carl, anna = create_user(), create_user()
    await login(carl, 'carl@acme.demo')
    await carl.open(f'/portal/requests/{ticket.reference}')
    await carl.should_see(ticket.reference)
    await carl.should_not_see(marker='sla-panel', retries=3)
    await carl.should_not_see('due in', retries=3)
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await anna.should_see(marker='sla-panel')  # the same ticket has one, for staff


async def test_a_policy_that_could_never_match_is_refused_on_the_admin_page(create_user: Callable[[], User],
                                                                             people) -> None:
    admin = create_user()
    await login(admin, 'admin@pulse.demo')
    await admin.open('/admin/sla')
    await admin.should_see(marker='policy-row Pulse · Critical')
    await admin.should_see(marker='calendar-row Business hours')
    admin.find(marker='new-policy').click()
    admin.find(marker='policy-name').type('Too fast')
    admin.find(marker='policy-first').elements.pop().value = 0
    admin.find(marker='policy-save').click()
    await admin.should_see('First response target must be more than zero minutes.')
    admin.find(marker='policy-first').elements.pop().value = 15
    admin.find(marker='policy-save').click()
    await admin.should_see('Policy saved')
    await admin.should_see(marker='policy-row Too fast')
    admin.find(marker='new-calendar').click()
    admin.find(marker='calendar-name').type('Night shift')
    for day in ('mon', 'tue', 'wed', 'thu', 'fri'):
        admin.find(marker=f'calendar-hours-{day}').elements.pop().value = ''
    admin.find(marker='calendar-save').click()
    await admin.should_see('The calendar has no working hours at all')
    admin.find(marker='calendar-hours-mon').elements.pop().value = '22:00-24:00'
    admin.find(marker='calendar-save').click()
    await admin.should_see(marker='calendar-row Night shift')
    await admin.should_see(kind=ui.label, content='Mon 22:00-24:00 (Europe/Zurich)')
