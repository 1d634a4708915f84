"""A colleague copied in on a request follows it live in the portal, and loses it live when taken off the team."""
from nicegui import ui
from nicegui.testing import User

from pulse_live.services import chatter, team, tickets
from tests.ui.conftest import login
from tests.ui.test_portal import _table_shows


async def test_colleague_follows_the_request_until_taken_off_the_team(user: User, people) -> None:
    anna, carl, eva = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'eva@acme.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Invoices do not print', customer_id=carl.id)
    member = await team.add_member(actor=anna, ticket_id=ticket.id, user_id=eva.id)

    await login(user, 'eva@acme.demo', expect='My requests')
    await _table_shows(user, ticket.reference)  # listed under "Mine"
    await user.open(f'/portal/requests/{ticket.reference}')
    await user.should_see(marker='request-title', content='Invoices do not print')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='A technician comes at 14:00')
    await user.should_see(kind=ui.html, content='A technician comes at 14:00')

    await team.remove_member(actor=anna, ticket_id=ticket.id, member_id=member.id)
    await user.should_see('You no longer have access to this request.')
    await user.should_not_see(marker='request-title')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Only for Carl from now on')
    await user.should_not_see(kind=ui.html, content='Only for Carl from now on')
    response = await user.http_client.get(f'/portal/requests/{ticket.reference}')
    assert response.status_code == 404
