"""Who works on a ticket: take it off a queue, assign / re-assign (with an optional note), unassign.

Who may own what: an agent takes (or assigns to themselves, here or through the Assignee field of
``tickets.update_ticket``) only tickets of a queue they are a member of, or of a queue without members, or of no
queue (``auth.can_take_from_queue``, checked by ``require_may_own``); managers and admins may own any ticket. Any
staff member may assign a ticket to *another* active agent, whatever that agent's queues: handing over is a
deliberate decision the history records with its note. Anybody on the staff may unassign.

``take_ticket`` is a compare-and-set (``UPDATE … WHERE assignee_id IS NULL``): among agents pressing Take at the
same moment exactly one row update succeeds; the others are told who took it. Every change is a history row in the
same transaction and a ``TicketChanged`` after commit, like any other field change (``ticket_write``).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth
from ..errors import ServiceError, StaleWrite, ValidationError
from ..models import EventKind, Queue, QueueMember, Status, Ticket, TicketEvent, User
from .ticket_write import TicketWrite, ticket_write

WORKABLE = (Status.OPEN.value, Status.IN_PROGRESS.value)
NOTE_LIMIT = 2000


class AlreadyTaken(ServiceError):
    """Somebody else owns the ticket (won the race to take it, or had it before)."""

    def __init__(self, message: str, owner_id: int | None) -> None:
        super().__init__(message)
        self.owner_id = owner_id


async def _name(session: AsyncSession, user_id: int | None) -> str:
    if user_id is None:
        return '—'
    user = await session.get(User, user_id)
    return user.display_name if user is not None else f'#{user_id}'


def _require_staff(actor: User, ticket_id: object) -> None:
    if not auth.is_staff(actor):
        raise auth.deny(actor, 'take or assign ticket', ticket_id, 'Only agents can take or assign tickets.')


async def require_may_own(session: AsyncSession, actor: User, reference: str, queue_id: int | None, *,
                          taking: bool = False) -> None:
    """Refuse (``PermissionDenied``) an agent becoming the owner of a ticket of a queue they may not take from.

    The one check for every way an actor makes themselves the owner: Take, assigning to themselves, and the
    Assignee field. ``queue_id`` is the ticket's queue after the change."""
    if queue_id is None:
        return
    members = set((await session.execute(select(QueueMember.user_id)
                                         .where(QueueMember.queue_id == queue_id))).scalars())
    if auth.can_take_from_queue(actor, members):
        return
    queue = await session.get(Queue, queue_id)
    what = f'take {reference}' if taking else f'assign {reference} to themselves'
    raise auth.deny(actor, f'{what.replace(reference, "ticket")} outside their queues,', reference,
                    f'Only members of {queue.name if queue else "its queue"} can {what}; '
                    'ask a manager to assign it to you.')


def _record(w: TicketWrite, old_id: int | None, old_name: str, new_id: int | None, new_name: str, body: str,
            **data) -> TicketEvent:
    return w.add(EventKind.FIELD_CHANGE, body, field='assignee_id', old_value=old_name, new_value=new_name,
                 data={'old': old_id, 'new': new_id, **data})


def record_taken(w: TicketWrite, body: str) -> TicketEvent:
    """The history row of the acting user becoming the owner of an unassigned ticket (Take, or starting work)."""
    return _record(w, None, '—', w.actor.id, w.actor.display_name, body, take=True)


async def take_ticket(*, actor: User, ticket_id: int) -> Ticket:
    """The actor becomes the owner, unless somebody else is (``AlreadyTaken`` names them)."""
    _require_staff(actor, ticket_id)
    async with ticket_write(actor, ticket_id, action='take', closed=None) as w:
        s, ticket = w.session, w.ticket
        if ticket.assignee_id == actor.id:
            return ticket
        if ticket.assignee_id is not None:
            raise AlreadyTaken(f'{ticket.reference} is already taken by {await _name(s, ticket.assignee_id)}.',
                               ticket.assignee_id)
        if ticket.status not in WORKABLE:
            raise ValidationError(f'{ticket.reference} is {Status(ticket.status).label.lower()}; '
                                  'only open tickets can be taken.')
        await require_may_own(s, actor, ticket.reference, ticket.queue_id, taking=True)
        if not await w.update({'assignee_id': actor.id},
                              where=[Ticket.assignee_id.is_(None), Ticket.status.in_(WORKABLE)]):
            # lost the race: somebody committed first
            owner_id, status = (await s.execute(select(Ticket.assignee_id, Ticket.status)
                                                .where(Ticket.id == ticket.id))).one()
            if owner_id == actor.id:
                await s.refresh(ticket)
                return ticket
            if owner_id is None:
                raise ValidationError(f'{ticket.reference} is {Status(status).label.lower()} now; '
                                      'only open tickets can be taken.')
            raise AlreadyTaken(f'{ticket.reference} was just taken by {await _name(s, owner_id)}.', owner_id)
        record_taken(w, f'{actor.display_name} took the ticket')
        w.fields.append('assignee_id')
    return ticket


def _clean_note(note: str | None) -> str:
    note = (note or '').replace('\r\n', '\n').strip()
    if len(note) > NOTE_LIMIT:
        raise ValidationError(f'The note is too long ({len(note)} characters; at most {NOTE_LIMIT}).')
    return note


async def _set_owner(actor: User, ticket_id: int, new_id: int | None, note: str | None) -> Ticket:
    note = _clean_note(note)
    _require_staff(actor, ticket_id)
    async with ticket_write(actor, ticket_id, action='assign') as w:
        s, ticket = w.session, w.ticket
        new_name = '—'
        if new_id is not None:
            assignee = await s.get(User, new_id) if isinstance(new_id, int) else None
            if assignee is None or not auth.is_staff(assignee) or not assignee.is_active:
                raise ValidationError('Assignee must be an active agent.')
            new_name = assignee.display_name
        old_id = ticket.assignee_id
        if old_id == new_id:
            return ticket
        if new_id == actor.id:
            await require_may_own(s, actor, ticket.reference, ticket.queue_id)
        if not await w.update({'assignee_id': new_id}, unchanged={'assignee_id': old_id}):
            current = (await s.execute(select(Ticket.assignee_id).where(Ticket.id == ticket.id))).scalar_one()
            raise StaleWrite(f'{ticket.reference} was re-assigned meanwhile (now: {await _name(s, current)}); '
                             'nothing was changed.')
        old_name = await _name(s, old_id)
        if new_id is None:
            body = f'{actor.display_name} unassigned the ticket (was {old_name})'
        elif new_id == actor.id:
            body = f'{actor.display_name} took the ticket over from {old_name}' if old_id else \
                f'{actor.display_name} took the ticket'
        elif old_id is None:
            body = f'{actor.display_name} assigned the ticket to {new_name}'
        else:
            body = f'{actor.display_name} re-assigned the ticket {old_name} → {new_name}'
        if note:
            body += f': {note}'
        _record(w, old_id, old_name, new_id, new_name, body, note=note or None)
        w.fields.append('assignee_id')
    return ticket


async def assign_ticket(*, actor: User, ticket_id: int, assignee_id: int, note: str | None = None) -> Ticket:
    """Assign or re-assign to an agent, with an optional note (shown in the history).

    Assigning to oneself follows the Take rule (``require_may_own``: an agent only on their queues); assigning to
    somebody else is open to all staff (see the module docstring)."""
    if assignee_id in (None, ''):
        raise ValidationError('Choose the agent to assign the ticket to.')
    return await _set_owner(actor, ticket_id, assignee_id, note)


async def unassign_ticket(*, actor: User, ticket_id: int, note: str | None = None) -> Ticket:
    """Give the ticket back to its queue."""
    return await _set_owner(actor, ticket_id, None, note)
