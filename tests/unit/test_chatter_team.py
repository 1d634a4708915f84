import pytest
from sqlalchemy import select

from pulse_live import db, storage
from pulse_live.errors import NotFound, PermissionDenied, ValidationError
from pulse_live.models import Attachment, EventMention, TeamMember, TicketEvent
from pulse_live.queries.tickets import attachment_for_download, ticket_events, ticket_team
from pulse_live.services import chatter, team, tickets, users


async def _new(people):
    return await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Chatter',
                                       customer_id=people.users['carl@acme.demo'].id)


async def test_mentions_are_stored_as_user_references(people):
    anna, ben, carl = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'carl@acme.demo'))
    ticket = await _new(people)
    # carl has no published card: his handle is not a mention; @Team is
    event = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='@ben please look, cc @carl and @Team.')
    async with db.session() as s:
        mentions = list((await s.execute(select(EventMention).where(EventMention.event_id == event.id))).scalars())
    assert {m.user_id for m in mentions if not m.is_team} == {ben.id}
    assert sum(m.is_team for m in mentions) == 1
    assert carl.id not in {m.user_id for m in mentions}


async def test_published_card_makes_a_user_mentionable(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    await users.update_card(actor=carl, display_name='Carl Jensen', handle='carl', card_published=True)
    ticket = await _new(people)
    event = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Thanks @carl')
    async with db.session() as s:
        ids = list((await s.execute(select(EventMention.user_id).where(EventMention.event_id == event.id))).scalars())
    assert ids == [carl.id]
    with pytest.raises(ValidationError, match='reserved'):
        await users.update_card(actor=carl, display_name='Carl', handle='Team', card_published=True)
    with pytest.raises(ValidationError, match='taken'):
        await users.update_card(actor=carl, display_name='Carl', handle='anna', card_published=True)


async def test_internal_notes_and_their_files_are_hidden_from_customers(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await _new(people)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='secret', internal=True,
                               files=[storage.UploadedFile('notes.txt', 'text/plain', b'internal')])
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='public')
    with pytest.raises(PermissionDenied):
        await chatter.post_message(actor=carl, ticket_id=ticket.id, body='x', internal=True)
    seen_by_carl, _ = await ticket_events(carl, ticket.id)
    assert [e.body for e in seen_by_carl if e.kind == 'message'] == ['public']
    seen_by_anna, _ = await ticket_events(anna, ticket.id)
    assert [e.body for e in seen_by_anna if e.kind == 'message'] == ['secret', 'public']
    async with db.session() as s:
        att = (await s.execute(select(Attachment))).scalar_one()
    assert await attachment_for_download(carl, att.id) is None
    assert (await attachment_for_download(anna, att.id)).filename == 'notes.txt'


async def test_attachments_are_stored_safely_and_checked(people):
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    ticket = await _new(people)
    event = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='',
                                       files=[storage.UploadedFile('../../etc/passwd', 'text/plain', b'root'),
                                              storage.UploadedFile('x.svg', 'image/svg+xml', b'<svg/>')])
    async with db.session() as s:
        atts = list((await s.execute(select(Attachment).where(Attachment.event_id == event.id))).scalars())
    assert sorted(a.filename for a in atts) == ['passwd', 'x.svg']
    svg = next(a for a in atts if a.filename == 'x.svg')
    assert not storage.is_inline_safe(svg.content_type)
    assert storage.path_of(svg.sha256).read_bytes() == b'<svg/>'
    assert await attachment_for_download(tom, svg.id) is None  # other organisation
    with pytest.raises(ValidationError, match='empty'):
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body='', files=[
            storage.UploadedFile('e.txt', 'text/plain', b'')])
    with pytest.raises(ValidationError, match='Write a message'):
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body='   ')
    with pytest.raises(NotFound):
        await chatter.post_message(actor=tom, ticket_id=ticket.id, body='hi')


async def test_first_public_staff_reply_sets_first_response(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await _new(people)
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='any news?')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='note', internal=True)
    async with db.session() as s:
        from pulse_live.models import Ticket
        assert (await s.get(Ticket, ticket.id)).first_response_at is None
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='on it')
    async with db.session() as s:
        fresh = await s.get(Ticket, ticket.id)
    assert fresh.first_response_at is not None and fresh.version == ticket.version  # messages never make edits stale


async def test_team_add_remove_watch_each_leave_a_chatter_entry(people):
    anna, ben, daniel, carl = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo',
                                                          'daniel@pulse.demo', 'carl@acme.demo'))
    tom = people.users['tom@globex.demo']
    ticket = await _new(people)
    member = await team.add_member(actor=anna, ticket_id=ticket.id, user_id=daniel.id)
    with pytest.raises(ValidationError, match='already'):
        await team.add_member(actor=ben, ticket_id=ticket.id, user_id=daniel.id)
    with pytest.raises(ValidationError, match='cannot see'):
        await team.add_member(actor=anna, ticket_id=ticket.id, user_id=tom.id)
    with pytest.raises(PermissionDenied):
        await team.add_member(actor=carl, ticket_id=ticket.id, user_id=ben.id)
    await team.set_watching(actor=ben, ticket_id=ticket.id, member_id=member.id, watching=False)
    await team.remove_member(actor=anna, ticket_id=ticket.id, member_id=member.id)
    async with db.session() as s:
        bodies = list((await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id,
                                                                      TicketEvent.kind.like('team%'))
                                       .order_by(TicketEvent.id))).scalars())
        remaining = list((await s.execute(select(TeamMember.user_id).where(TeamMember.ticket_id == ticket.id))).scalars())
    assert bodies == ['Anna Keller added Daniel Weber to the team',
                      'Ben Okafor switched off notifications for Daniel Weber',
                      'Anna Keller removed Daniel Weber from the team']
    assert daniel.id not in remaining
    assert await ticket_team(carl, ticket.id) == []  # customers never see the provider's team list


async def test_the_support_group_is_named_once_in_the_history(people):
    anna = people.users['anna@pulse.demo']
    ticket = await _new(people)
    async with db.session() as s:
        group = (await s.execute(select(TeamMember).where(TeamMember.ticket_id == ticket.id,
                                                          TeamMember.user_id.is_(None)))).scalar_one()
    await team.remove_member(actor=anna, ticket_id=ticket.id, member_id=group.id)
    async with db.session() as s:
        body = (await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id,
                                                               TicketEvent.kind == 'team_removed'))).scalar_one()
    assert body == 'Anna Keller removed the support group (Pulse Support) from the team'
