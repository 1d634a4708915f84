"""One visibility rule: the table in visibility.py drives what the customer's conversation query returns and what the
planner tells them; the ticket content queries check access themselves; a status mail follows the status, not its
label."""
import logging

import pytest
from sqlalchemy import select

from pulse_live import auth, db, visibility
from pulse_live.models import (
    Attachment,
    ConfigurationItem,
    EventKind,
    MailOutbox,
    ResolutionCode,
    Status,
    Ticket,
    TicketEvent,
)
from pulse_live.queries import portal
from pulse_live.queries.tickets import ticket_attachments, ticket_events
from pulse_live.services import chatter, team, ticket_items, tickets
from pulse_live.storage import UploadedFile

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


async def _fixed() -> int:
    async with db.session() as s:
        return (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()


async def _a_ticket_with_every_kind_of_entry(people) -> Ticket:
    """Opened for Carl, with a reply and an internal note, field changes the customer reads and some they do not,
    a team change and a linked item."""
    anna, carl, ben = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'ben@pulse.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Scanner jams', customer_id=carl.id,
                                         files=[UploadedFile('scan.txt', 'text/plain', b'first page')])
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='We are on it')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Firmware is on the blacklist', internal=True,
                               files=[UploadedFile('internal.txt', 'text/plain', b'vendor notes')])
    t = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'title': 'Scanner jams on A3', 'technical_details': 'fw 2.1',
                                             'workaround': 'Use the other tray'})
    await team.add_member(actor=anna, ticket_id=ticket.id, user_id=ben.id)
    async with db.session() as s:
        item = (await s.execute(select(ConfigurationItem).where(ConfigurationItem.organisation_id
                                                                 == ticket.organisation_id).limit(1))).scalar_one()
    await ticket_items.link_item(actor=anna, ticket_id=ticket.id, item_id=item.id)
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=t.version, status='resolved',
                                resolution_code_id=await _fixed(), resolution_text='Cleaned the rollers')
    return ticket


async def test_the_customers_conversation_is_what_the_table_gives_them_and_the_planner_agrees(people):
    carl, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    ticket = await _a_ticket_with_every_kind_of_entry(people)
    async with db.session() as s:
        ticket = await s.get(Ticket, ticket.id)
        every = list((await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                      .order_by(TicketEvent.id))).scalars())
    by_python = [e.id for e in every if auth.can_see_event(carl, ticket, e.kind, e.field, e.is_internal)]
    shown, _ = await ticket_events(carl, ticket.id)
    assert [e.id for e in shown] == by_python  # the SQL filter and the Python check agree, entry by entry
    kinds = {(e.kind, e.field) for e in shown}
    assert {('created', None), ('message', None), ('field_change', 'title'), ('field_change', 'status'),
            ('field_change', 'resolution_text')} <= kinds
    hidden = {(e.kind, e.field) for e in every} - kinds
    assert {('field_change', 'technical_details'), ('field_change', 'workaround'),
            ('field_change', 'configuration_items'), ('team_added', None)} <= hidden
    assert 'Firmware is on the blacklist' not in [e.body for e in shown]
    assert [e.id for e in (await portal.request_events(carl, ticket.id))[0]] == by_python
    # staff read every entry; internal ones are stored as the table says
    assert [e.id for e in (await ticket_events(anna, ticket.id))[0]] == [e.id for e in every]
    assert {e.field for e in every if e.kind == 'field_change' and e.is_internal} == \
        {'technical_details', 'configuration_items'}
    assert all(e.is_internal for e in every if e.kind == EventKind.TEAM_ADDED)


def test_every_entry_kind_has_a_reader_and_the_customer_fields_are_never_stored_as_internal():
    assert set(EventKind) - {EventKind.FIELD_CHANGE} == set(visibility.KINDS)
    assert not visibility.CUSTOMER_FIELDS & visibility.INTERNAL_FIELDS
    assert visibility.reader('field_change', 'a_field_nobody_listed') is visibility.Reader.STAFF


async def test_the_content_queries_check_access_themselves(people, caplog):
    tom, carl = people.users['tom@globex.demo'], people.users['carl@acme.demo']
    ticket = await _a_ticket_with_every_kind_of_entry(people)
    with caplog.at_level(logging.WARNING, logger='pulse_live.security'):
        assert await ticket_events(tom, ticket.id) == ([], False)  # another organisation's customer
        assert await ticket_events(tom, ticket.id, after=0) == ([], False)
        assert await ticket_attachments(tom, ticket.id) == []
        assert await ticket_events(tom, 10 ** 9) == ([], False)  # no such ticket: nothing, not an error
    refusals = [r.getMessage() for r in caplog.records if 'refused' in r.getMessage()]
    assert len(refusals) == 4 and all(f'user {tom.id}' in m for m in refusals)
    # the customer the ticket is for reads their part, documents included (but not the internal one)
    assert (await ticket_events(carl, ticket.id))[0]
    assert [a.filename for a in await ticket_attachments(carl, ticket.id)] == ['scan.txt']
    async with db.session() as s:
        names = (await s.execute(select(Attachment.filename).where(Attachment.ticket_id == ticket.id))).scalars()
        assert sorted(names) == ['internal.txt', 'scan.txt']


async def test_a_renamed_status_label_still_sends_the_resolved_mail(people, monkeypatch):
    """The planner reads the stored status, not the words the history row shows: relabelling a status (a new
    wording, a translation) cannot silence the customer's mail."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    labels = {Status.OPEN: 'New', Status.IN_PROGRESS: 'Being worked on', Status.RESOLVED: 'Fixed for you',
              Status.CLOSED: 'Done'}
    monkeypatch.setattr(Status, 'label', property(lambda self: labels[self]))
    ticket = await tickets.create_ticket(actor=anna, title='Scanner jams', customer_id=carl.id)
    t = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='resolved', resolution_code_id=await _fixed(), resolution_text='Rollers')
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=t.version, status='closed')
    async with db.session() as s:
        rows = (await s.execute(select(TicketEvent.new_value).where(TicketEvent.ticket_id == ticket.id,
                                                                    TicketEvent.field == 'status'))).scalars()
        assert list(rows) == ['Fixed for you', 'Done']  # the history shows the new words
        kinds = sorted((await s.execute(select(MailOutbox.kind).where(MailOutbox.to_user_id == carl.id,
                                                                      MailOutbox.kind != 'update'))).scalars())
    assert kinds == ['closed', 'resolved']
