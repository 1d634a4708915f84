"""Log a call on the agents' ticket page: the dialog, the entry live on a colleague's page, and the customer's portal
page that never shows it."""
from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User

from tests.factories import make_ticket
from tests.ui.conftest import login, open_ticket


def _fill(user: User, *, duration: str, caller: str = '', note: str = '') -> None:
    user.find(marker='call-duration-input').clear().type(duration)
    if caller:
        user.find(marker='call-caller-input').type(caller)
    if note:
        user.find(marker='call-note-input').type(note)


async def test_an_agent_logs_a_call_and_a_colleague_sees_it_live(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna, ben, carl = create_user(), create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open(f'/portal/requests/{ticket.reference}')
    await carl.should_see(marker='request-title')

    anna.find(marker='log-call').click()
    await anna.should_see(marker='call-dialog')
    # who is on the line unless another is typed
    assert anna.find(marker='call-caller-input').elements.pop().props['hint'] == 'empty: Carl Jensen, the customer'
    _fill(anna, duration='12:30', note='Carl restarted the **router**; fine since')
    anna.find(marker='call-save').click()
    await anna.should_see('Call logged')
    await anna.should_not_see(marker='call-dialog')

    for viewer in (anna, ben):  # the entry comes live, to the agent who logged it as to the colleague
        await viewer.should_see(marker='call-entry', retries=30)
        await viewer.should_see(marker='call-direction', content='Inbound call')
        await viewer.should_see(marker='call-duration', content='12:30')
        await viewer.should_see(marker='call-caller', content='with Carl Jensen')
    note = ben.find(kind=ui.html, content='restarted the').elements.pop().content
    assert '<strong>router</strong>' in note

    # the customer's page is told of the public reply that follows, never of the call
    anna.find(marker='mode-reply').click()
    anna.find(marker='composer').type('We called you about the router')
    anna.find('Send').click()
    await carl.should_see(kind=ui.html, content='We called you about the router', retries=30)
    await carl.should_not_see(marker='call-entry')
    await carl.should_not_see(kind=ui.html, content='restarted the')


async def test_a_refused_call_keeps_what_was_typed(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    ben.find(marker='log-call').click()
    ben.find(marker='call-direction-choice').elements.pop().value = 'outbound'
    _fill(ben, duration='0', caller='Reception, +45 33 12 00 00', note='Asked for the serial number')
    ben.find(marker='call-save').click()
    await ben.should_see('a call lasts more than 0 seconds')
    await ben.should_see(marker='call-dialog')  # still open, nothing lost
    assert ben.find(marker='call-note-input').elements.pop().value == 'Asked for the serial number'
    await ben.should_not_see(marker='call-entry')

    _fill(ben, duration='3')
    ben.find(marker='call-save').click()
    await ben.should_see(marker='call-entry', retries=30)
    await ben.should_see(marker='call-direction', content='Outbound call')
    await ben.should_see(marker='call-duration', content='3:00')
    await ben.should_see(marker='call-caller', content='with Reception, +45 33 12 00 00')


async def test_a_walk_in_ticket_records_its_channel_and_a_later_call_joins_its_history(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    user.find(marker='new-channel').elements.pop().value = 'walk_in'
    user.find(marker='new-title').type('Badge does not open the server room')
    user.find(marker='new-create').click()
    await user.should_see(marker='ticket-title', content='Badge does not open the server room', retries=50)
    await user.should_see('via Walk-in')
    user.find(marker='log-call').click()
    _fill(user, duration='2')
    user.find(marker='call-save').click()
    await user.should_see(marker='call-entry', retries=30)
    await user.should_not_see(marker='call-caller')  # no customer on this ticket, nobody typed in: no "with …"
