"""Who may own a ticket (Take, assign to oneself, the Assignee field: one rule), what Take and assign record and
publish, concurrent takes and reassignments, and who is told about ownership changes."""
import asyncio
from itertools import pairwise

import pytest
from sqlalchemy import select

from pulse_live import db, presence
from pulse_live.errors import NotFound, PermissionDenied, StaleWrite, ValidationError
from pulse_live.events import TicketChanged
from pulse_live.models import (
    MailOutbox,
    Notification,
    TeamMember,
    Ticket,
    TicketEvent,
)
from pulse_live.services import ownership, team, tickets
from tests.factories import queue_ids
from tests.helpers import delivered, history


async def _owner_and_history(ticket_id: int) -> tuple[int | None, int, list[str]]:
    async with db.session() as s:
        owner, version = (await s.execute(select(Ticket.assignee_id, Ticket.version)
                                          .where(Ticket.id == ticket_id))).one()
        bodies = list((await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket_id,
                                                                       TicketEvent.field == 'assignee_id')
                                       .order_by(TicketEvent.id))).scalars())
    return owner, version, bodies


async def _told(ticket_id: int) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """(in-app notification texts, mailed item texts) per user for one ticket."""
    async with db.session() as s:
        notes = (await s.execute(select(Notification.user_id, Notification.text)
                                 .where(Notification.ticket_id == ticket_id).order_by(Notification.id))).all()
        mails = (await s.execute(select(MailOutbox.to_user_id, MailOutbox.items)
                                 .where(MailOutbox.ticket_id == ticket_id).order_by(MailOutbox.id))).all()
    in_app: dict[int, list[str]] = {}
    for user_id, text in notes:
        in_app.setdefault(user_id, []).append(text)
    mailed: dict[int, list[str]] = {}
    for user_id, items in mails:
        mailed.setdefault(user_id, []).extend(i['text'] for i in items or [])
    return in_app, mailed


async def _forget_notifications() -> None:
    async with db.session() as s, s.begin():
        await s.execute(Notification.__table__.delete())
        await s.execute(MailOutbox.__table__.delete())


async def test_agent_cannot_assign_himself_a_ticket_he_may_not_take(people):
    u = people.users
    anna, ben, daniel, maria = (u[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo',
                                               'maria@pulse.demo'))
    q = await queue_ids()
    ticket = await tickets.create_ticket(actor=anna, title='Specialist job', queue_id=q['2nd level'])
    with pytest.raises(PermissionDenied, match='Only members of 2nd level can take'):
        await ownership.take_ticket(actor=daniel, ticket_id=ticket.id)
    with pytest.raises(PermissionDenied, match=f'Only members of 2nd level can assign {ticket.reference} to '
                                               'themselves; ask a manager'):
        await ownership.assign_ticket(actor=daniel, ticket_id=ticket.id, assignee_id=daniel.id)
    assert await _owner_and_history(ticket.id) == (None, ticket.version, [])  # nothing written

    # handing it to somebody else stays open to every agent (documented in services/ownership.py)
    await ownership.assign_ticket(actor=daniel, ticket_id=ticket.id, assignee_id=ben.id, note='your field')
    # taking it over from Ben is becoming the owner too: refused for Daniel, fine for Maria (a manager)
    with pytest.raises(PermissionDenied, match='Only members of 2nd level'):
        await ownership.assign_ticket(actor=daniel, ticket_id=ticket.id, assignee_id=daniel.id)
    await ownership.assign_ticket(actor=maria, ticket_id=ticket.id, assignee_id=maria.id)
    await ownership.assign_ticket(actor=ben, ticket_id=ticket.id, assignee_id=ben.id)  # a member takes it back
    owner, _, bodies = await _owner_and_history(ticket.id)
    assert owner == ben.id
    assert bodies == ['Daniel Weber assigned the ticket to Ben Okafor: your field',
                      'Maria Rossi took the ticket over from Ben Okafor',
                      'Ben Okafor took the ticket over from Maria Rossi']
    await ownership.unassign_ticket(actor=daniel, ticket_id=ticket.id)  # unassigning is open to all staff
    assert (await _owner_and_history(ticket.id))[0] is None


async def test_the_assignee_field_follows_the_same_rule(people):
    u = people.users
    anna, ben, daniel = (u[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo'))
    q = await queue_ids()
    ticket = await tickets.create_ticket(actor=anna, title='Specialist job', queue_id=q['2nd level'])
    with pytest.raises(PermissionDenied, match='Only members of 2nd level can assign'):
        await tickets.update_ticket(actor=daniel, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'assignee_id': daniel.id})
    # moving it into another queue of his in the same save is fine: the rule looks at the queue after the change…
    moved = await tickets.update_ticket(actor=daniel, ticket_id=ticket.id, expected_version=ticket.version,
                                        changes={'assignee_id': daniel.id, 'queue_id': q['Network']})
    assert (moved.assignee_id, moved.queue_id) == (daniel.id, q['Network'])
    # …and moving it into a queue he does not work, at the same time, is not a way around it
    other = await tickets.create_ticket(actor=anna, title='Another one', queue_id=q['Network'])
    with pytest.raises(PermissionDenied, match='Only members of 2nd level'):
        await tickets.update_ticket(actor=daniel, ticket_id=other.id, expected_version=other.version,
                                    changes={'assignee_id': str(daniel.id), 'queue_id': q['2nd level']})
    # somebody else as the assignee: open to all staff, like assign_ticket
    handed = await tickets.update_ticket(actor=daniel, ticket_id=other.id, expected_version=other.version,
                                         changes={'assignee_id': ben.id, 'queue_id': q['2nd level']})
    assert handed.assignee_id == ben.id
    # a member, and managers, may set themselves
    third = await tickets.create_ticket(actor=anna, title='Third', queue_id=q['2nd level'])
    third = await tickets.update_ticket(actor=ben, ticket_id=third.id, expected_version=third.version,
                                        changes={'assignee_id': ben.id})
    third = await tickets.update_ticket(actor=u['maria@pulse.demo'], ticket_id=third.id,
                                        expected_version=third.version,
                                        changes={'assignee_id': u['maria@pulse.demo'].id})
    assert third.assignee_id == u['maria@pulse.demo'].id


async def test_take_assign_unassign_tell_the_watchers(people, fresh_presence):
    u = people.users
    anna, ben, daniel, maria, carl = (u[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo',
                                                     'maria@pulse.demo', 'carl@acme.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='VPN down', customer_id=carl.id)  # 1st level
    await _forget_notifications()
    presence.connected(anna.id, 'anna-tab')  # Anna has the app open: in-app; the others are offline: mail

    await ownership.take_ticket(actor=daniel, ticket_id=ticket.id)
    in_app, mailed = await _told(ticket.id)
    assert in_app == {anna.id: [f'{ticket.reference}: Daniel Weber took the ticket']}  # on the team (creator)
    # the support group entry stands for whoever works the ticket: now Daniel, the actor — the rest of the queue,
    # the manager and the admin are not told
    assert mailed == {}
    assert daniel.id not in in_app and daniel.id not in mailed  # never the actor
    assert carl.id not in in_app and carl.id not in mailed  # who owns it is internal: the customer is not told

    await _forget_notifications()
    await ownership.assign_ticket(actor=daniel, ticket_id=ticket.id, assignee_id=ben.id, note='Ben knows VPN')
    in_app, mailed = await _told(ticket.id)
    text = 'Daniel Weber re-assigned the ticket Daniel Weber → Ben Okafor: Ben knows VPN'
    assert in_app == {anna.id: [f'{ticket.reference}: {text}']}
    assert mailed[ben.id] == [text]  # the new owner hears of it, note included
    assert daniel.id not in mailed and carl.id not in mailed

    await _forget_notifications()
    await ownership.unassign_ticket(actor=ben, ticket_id=ticket.id)
    in_app, mailed = await _told(ticket.id)
    assert in_app == {anna.id: [f'{ticket.reference}: Ben Okafor unassigned the ticket (was Ben Okafor)']}
    assert set(mailed) == {daniel.id}  # unassigned again: the group entry is the queue's members (1st level)
    assert maria.id not in mailed and u['admin@pulse.demo'].id not in mailed
    assert ben.id not in mailed and carl.id not in mailed


async def test_ownership_changes_spare_unwatching_members_and_viewers(people, fresh_presence):
    u = people.users
    anna, ben, daniel = u['anna@pulse.demo'], u['ben@pulse.demo'], u['daniel@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='VPN down', customer_id=u['carl@acme.demo'].id)
    async with db.session() as s:
        group = (await s.execute(select(TeamMember).where(TeamMember.ticket_id == ticket.id,
                                                          TeamMember.organisation_id.is_not(None)))).scalar_one()
    await team.set_watching(actor=anna, ticket_id=ticket.id, member_id=group.id, watching=False)
    await _forget_notifications()
    presence.connected(anna.id, 'anna-tab')
    await presence.join(ticket.id, client_id='anna-tab', user_id=anna.id, name='Anna Keller', is_staff=True)
    try:
        await ownership.take_ticket(actor=daniel, ticket_id=ticket.id)  # Anna sees it live; the group does not watch
        assert await _told(ticket.id) == ({}, {})
    finally:
        await presence.leave(ticket.id, client_id='anna-tab')
    await ownership.assign_ticket(actor=daniel, ticket_id=ticket.id, assignee_id=ben.id)  # Anna left the page
    in_app, mailed = await _told(ticket.id)
    assert list(in_app) == [anna.id]
    # the group's watch is off, but Ben is the assignee now: the assignee always hears
    assert mailed == {ben.id: ['Daniel Weber re-assigned the ticket Daniel Weber → Ben Okafor']}


async def test_take_records_owner_history_and_publishes(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer')
    with delivered() as seen:
        taken = await ownership.take_ticket(actor=anna, ticket_id=ticket.id)
        again = await ownership.take_ticket(actor=anna, ticket_id=ticket.id)  # already hers: nothing happens
    assert taken.assignee_id == anna.id and taken.version == ticket.version + 1 and again.version == taken.version
    steps = await history(ticket.id, field='assignee_id')
    assert [(h.actor_id, h.old_value, h.new_value, h.is_internal) for h in steps] == \
        [(anna.id, '—', 'Anna Keller', True)]
    assert steps[0].body == 'Anna Keller took the ticket'
    changes = [e for e in seen if isinstance(e, TicketChanged)]
    assert len(changes) == 1 and changes[0].fields == ('assignee_id',) and changes[0].event_ids == (steps[0].id,)


async def test_concurrent_take_has_exactly_one_winner(people):
    u = people.users
    takers = [u['anna@pulse.demo'], u['ben@pulse.demo'], u['daniel@pulse.demo'], u['maria@pulse.demo'],
              u['admin@pulse.demo']] * 4
    ticket = await tickets.create_ticket(actor=u['anna@pulse.demo'], title='Race for it')
    results = await asyncio.gather(*[ownership.take_ticket(actor=a, ticket_id=ticket.id) for a in takers],
                                   return_exceptions=True)
    async with db.session() as s:
        owner = (await s.execute(select(Ticket.assignee_id).where(Ticket.id == ticket.id))).scalar_one()
    assert owner is not None
    winner = next(a for a in takers if a.id == owner)
    steps = await history(ticket.id, field='assignee_id')
    assert len(steps) == 1 and steps[0].new_value == winner.display_name
    for taker, result in zip(takers, results, strict=True):
        if taker.id == owner:
            assert isinstance(result, Ticket) and result.assignee_id == owner  # the winner, or the winner again
        else:
            assert isinstance(result, ownership.AlreadyTaken), result
            assert winner.display_name in str(result) and result.owner_id == owner


async def test_take_rules(people):
    u = people.users
    anna, daniel, maria, carl = u['anna@pulse.demo'], u['daniel@pulse.demo'], u['maria@pulse.demo'], u['carl@acme.demo']
    q = await queue_ids()
    second = await tickets.create_ticket(actor=anna, title='Specialist job', queue_id=q['2nd level'])
    # 2nd level has members (Ben): other agents may not take from it, managers may
    with pytest.raises(PermissionDenied, match='Only members of 2nd level'):
        await ownership.take_ticket(actor=daniel, ticket_id=second.id)
    assert (await ownership.take_ticket(actor=maria, ticket_id=second.id)).assignee_id == maria.id
    with pytest.raises(ownership.AlreadyTaken, match='already taken by Maria Rossi'):
        await ownership.take_ticket(actor=anna, ticket_id=second.id)
    # customers can never take, whatever the ticket
    mine = await tickets.create_ticket(actor=carl, title='My own')
    with pytest.raises(PermissionDenied):
        await ownership.take_ticket(actor=carl, ticket_id=mine.id)
    with pytest.raises(NotFound):
        await ownership.take_ticket(actor=anna, ticket_id=424242)
    # resolved tickets are not taken
    done = await tickets.create_ticket(actor=anna, title='Done')
    done = await tickets.change_status(actor=anna, ticket_id=done.id, expected_version=done.version, status='resolved',
                                       resolution_code_id=1, resolution_text='ok')
    with pytest.raises(ValidationError, match='only open tickets'):
        await ownership.take_ticket(actor=anna, ticket_id=done.id)


async def test_assign_reassign_with_note_and_unassign(people):
    u = people.users
    anna, ben, carl = u['anna@pulse.demo'], u['ben@pulse.demo'], u['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Hand over')
    await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=anna.id)
    await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=ben.id, note='Ben knows the ERP')
    await ownership.unassign_ticket(actor=ben, ticket_id=ticket.id)
    steps = await history(ticket.id, field='assignee_id')
    assert [h.body for h in steps] == [
        'Anna Keller took the ticket',
        'Anna Keller re-assigned the ticket Anna Keller → Ben Okafor: Ben knows the ERP',
        'Ben Okafor unassigned the ticket (was Ben Okafor)']
    assert steps[1].data['note'] == 'Ben knows the ERP'
    with pytest.raises(ValidationError, match='active agent'):
        await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=carl.id)
    with pytest.raises(ValidationError, match='too long'):
        await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=ben.id, note='x' * 2001)
    with pytest.raises(PermissionDenied):
        await ownership.assign_ticket(actor=carl, ticket_id=ticket.id, assignee_id=ben.id)


async def test_concurrent_reassign_never_loses_a_change(people):
    u = people.users
    anna, ben, daniel = u['anna@pulse.demo'], u['ben@pulse.demo'], u['daniel@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Contested')
    results = await asyncio.gather(
        ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=ben.id),
        ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=daniel.id),
        return_exceptions=True)
    ok = [r for r in results if isinstance(r, Ticket)]
    assert len(ok) >= 1
    steps = await history(ticket.id, field='assignee_id')
    async with db.session() as s:
        owner = (await s.execute(select(Ticket.assignee_id).where(Ticket.id == ticket.id))).scalar_one()
    # the history explains the final owner step by step: every row's old value is the previous row's new value
    assert steps[-1].data['new'] == owner
    assert all(a.data['new'] == b.data['old'] for a, b in pairwise(steps))
    assert all(isinstance(r, (Ticket, StaleWrite)) for r in results)
