"""A ticket's team: adding, removing and watching leave a chatter entry; the support group is named once; a
customer's colleague on the team follows the ticket like the requester (public news, never internal notes);
people of other organisations can never be added."""
import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import NotFound, PermissionDenied, ValidationError
from pulse_live.models import MailOutbox, TeamMember, TicketEvent
from pulse_live.queries import portal
from pulse_live.queries import tickets as ticket_queries
from pulse_live.queries.tickets import ticket_team
from pulse_live.services import chatter, team, tickets
from tests.factories import make_ticket

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


async def _setup(people):
    anna, carl, eva = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'eva@acme.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Invoices do not print', customer_id=carl.id)
    return anna, carl, eva, ticket


async def test_colleague_sees_the_ticket_only_while_on_its_team(people):
    anna, carl, eva, ticket = await _setup(people)
    assert await ticket_queries.find_ticket_id(eva, ticket.reference) is None
    assert ticket.id not in {r.id for r in await portal.requests(eva)}
    with pytest.raises((NotFound, PermissionDenied)):
        await chatter.post_message(actor=eva, ticket_id=ticket.id, body='me too')

    member = await team.add_member(actor=anna, ticket_id=ticket.id, user_id=eva.id)
    assert await ticket_queries.find_ticket_id(eva, ticket.reference) == ticket.id
    assert ticket.id in {r.id for r in await portal.requests(eva)}
    view = await portal.request_view(eva, ticket.id)
    assert view is not None and view.reference == ticket.reference
    await chatter.post_message(actor=eva, ticket_id=ticket.id, body='Same on my printer')
    with pytest.raises(PermissionDenied):
        await chatter.post_message(actor=eva, ticket_id=ticket.id, body='secret', internal=True)

    await team.remove_member(actor=anna, ticket_id=ticket.id, member_id=member.id)
    assert await ticket_queries.find_ticket_id(eva, ticket.reference) is None
    assert await portal.request_view(eva, ticket.id) is None


async def test_people_of_another_organisation_cannot_be_added(people):
    anna, _, _, ticket = await _setup(people)
    tom = people.users['tom@globex.demo']
    with pytest.raises(ValidationError, match='cannot see this ticket'):
        await team.add_member(actor=anna, ticket_id=ticket.id, user_id=tom.id)
    async with db.session() as s:
        assert (await s.execute(select(TeamMember).where(TeamMember.user_id == tom.id))).first() is None
    assert await ticket_queries.find_ticket_id(tom, ticket.reference) is None


async def test_colleague_gets_public_news_never_internal_notes(people):
    anna, _, eva, ticket = await _setup(people)
    await team.add_member(actor=anna, ticket_id=ticket.id, user_id=eva.id)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='internal: driver issue', internal=True)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='A technician comes at 14:00')
    async with db.session() as s:
        rows = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == eva.id))).scalars())
    texts = [item['text'] for row in rows for item in row.items or []]
    assert any('A technician comes at 14:00' in t for t in texts)
    assert not any('driver issue' in t for t in texts)
    events, _ = await portal.request_events(eva, ticket.id)
    assert not any('driver issue' in e.body for e in events)


async def test_team_add_remove_watch_each_leave_a_chatter_entry(people):
    anna, ben, daniel, carl = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo',
                                                          'daniel@pulse.demo', 'carl@acme.demo'))
    tom = people.users['tom@globex.demo']
    ticket = await make_ticket(people, 'Chatter')
    member = await team.add_member(actor=anna, ticket_id=ticket.id, user_id=daniel.id)
    with pytest.raises(ValidationError, match='already'):
        await team.add_member(actor=ben, ticket_id=ticket.id, user_id=daniel.id)
    with pytest.raises(ValidationError, match='cannot see'):
        await team.add_member(actor=anna, ticket_id=ticket.id, user_id=tom.id)
    with pytest.raises(PermissionDenied):
        await team.add_member(actor=carl, ticket_id=ticket.id, user_id=ben.id)
    for wrong in (None, {'x': 1}, 'no', 1):  # a service checks its own input: it is also called from the API
        with pytest.raises(ValidationError, match='on or off'):
            await team.set_watching(actor=ben, ticket_id=ticket.id, member_id=member.id, watching=wrong)
    await team.set_watching(actor=ben, ticket_id=ticket.id, member_id=member.id, watching=False)
    await team.remove_member(actor=anna, ticket_id=ticket.id, member_id=member.id)
    async with db.session() as s:
        bodies = list((await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id,
                                                                      TicketEvent.kind.like('team%'))
                                       .order_by(TicketEvent.id))).scalars())
        remaining = list((await s.execute(select(TeamMember.user_id)
                                          .where(TeamMember.ticket_id == ticket.id))).scalars())
    assert bodies == ['Anna Keller added Daniel Weber to the team',
                      'Ben Okafor switched off notifications for Daniel Weber',
                      'Anna Keller removed Daniel Weber from the team']
    assert daniel.id not in remaining
    assert await ticket_team(carl, ticket.id) == []  # customers never see the provider's team list


async def test_the_support_group_is_named_once_in_the_history(people):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'Chatter')
    async with db.session() as s:
        group = (await s.execute(select(TeamMember).where(TeamMember.ticket_id == ticket.id,
                                                          TeamMember.user_id.is_(None)))).scalar_one()
    await team.remove_member(actor=anna, ticket_id=ticket.id, member_id=group.id)
    async with db.session() as s:
        body = (await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id,
                                                               TicketEvent.kind == 'team_removed'))).scalar_one()
    assert body == 'Anna Keller removed the support group (Pulse Support) from the team'


async def test_a_team_takes_at_most_max_team_members(people, monkeypatch):
    """The team list is every viewer's and is shown again on each change: 1,000 named members made each opening
    4,200 elements and each watch switch ~0.1 s of CPU per open page. Past the bound an addition is refused."""
    monkeypatch.setattr(team, 'MAX_TEAM', 4)  # the ticket's creator, the support group and two more
    anna, ben, maria = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'maria@pulse.demo'))
    ticket = await make_ticket(people)
    before = len(await ticket_team(anna, ticket.id))
    for user in (ben, maria)[:team.MAX_TEAM - before]:
        await team.add_member(actor=anna, ticket_id=ticket.id, user_id=user.id)
    with pytest.raises(ValidationError, match='as many as a ticket takes'):
        await team.add_member(actor=anna, ticket_id=ticket.id, user_id=people.users['daniel@pulse.demo'].id)
    assert len(await ticket_team(anna, ticket.id)) == team.MAX_TEAM
