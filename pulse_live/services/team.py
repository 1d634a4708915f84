"""The team list (watchers) of a ticket: add, remove, switch watching; each change is a chatter entry."""
from __future__ import annotations

from sqlalchemy import select

from .. import auth
from ..errors import NotFound, ValidationError
from ..events import TicketChanged
from ..models import EventKind, Organisation, TeamMember, Ticket, TicketEvent, User
from ._uow import UnitOfWork, unit_of_work


async def _ticket(uow: UnitOfWork, actor: User, ticket_id: int) -> Ticket:
    ticket = await uow.session.get(Ticket, ticket_id)
    if ticket is None or not await auth.may_view_ticket(uow.session, actor, ticket):
        raise NotFound('Ticket not found.')
    return ticket


async def _member_name(uow: UnitOfWork, member: TeamMember) -> str:
    if member.user_id:
        user = await uow.session.get(User, member.user_id)
        return user.display_name if user else f'user #{member.user_id}'
    org = await uow.session.get(Organisation, member.organisation_id)
    return f'{org.name} support group' if org else 'support group'


def _record(uow: UnitOfWork, ticket: Ticket, actor: User, kind: EventKind, body: str) -> TicketEvent:
    event = TicketEvent(ticket_id=ticket.id, kind=kind, actor_id=actor.id, body=body, is_internal=True)
    uow.session.add(event)
    return event


async def add_member(*, actor: User, ticket_id: int, user_id: int, watching: bool = True) -> TeamMember:
    auth.require_staff(actor)
    async with unit_of_work() as uow:
        ticket = await _ticket(uow, actor, ticket_id)
        user = await uow.session.get(User, user_id)
        if user is None or not user.is_active:
            raise ValidationError('No such user.')
        if not auth.can_view_ticket(user, ticket, on_team=True):
            raise ValidationError(f'{user.display_name} cannot see this ticket, so cannot be on its team.')
        exists = (await uow.session.execute(select(TeamMember).where(
            TeamMember.ticket_id == ticket.id, TeamMember.user_id == user.id))).scalar_one_or_none()
        if exists is not None:
            raise ValidationError(f'{user.display_name} is already on the team.')
        member = TeamMember(ticket_id=ticket.id, user_id=user.id, watching=watching, added_how='manual',
                            added_by_id=actor.id)
        uow.session.add(member)
        event = _record(uow, ticket, actor, EventKind.TEAM_ADDED, f'{actor.display_name} added {user.display_name} to the team')
        await uow.session.flush()
        uow.publish_after_commit(TicketChanged(ticket_id=ticket.id, kind='team', actor_id=actor.id, event_ids=(event.id,)))
    return member


async def _member(uow: UnitOfWork, ticket: Ticket, member_id: int) -> TeamMember:
    member = await uow.session.get(TeamMember, member_id)
    if member is None or member.ticket_id != ticket.id:
        raise NotFound('This team member is no longer on the team.')
    return member


async def remove_member(*, actor: User, ticket_id: int, member_id: int) -> None:
    auth.require_staff(actor)
    async with unit_of_work() as uow:
        ticket = await _ticket(uow, actor, ticket_id)
        member = await _member(uow, ticket, member_id)
        name = await _member_name(uow, member)
        await uow.session.delete(member)
        event = _record(uow, ticket, actor, EventKind.TEAM_REMOVED, f'{actor.display_name} removed {name} from the team')
        await uow.session.flush()
        uow.publish_after_commit(TicketChanged(ticket_id=ticket.id, kind='team', actor_id=actor.id, event_ids=(event.id,)))


async def set_watching(*, actor: User, ticket_id: int, member_id: int, watching: bool) -> None:
    async with unit_of_work() as uow:
        ticket = await _ticket(uow, actor, ticket_id)
        member = await _member(uow, ticket, member_id)
        if not auth.is_staff(actor) and member.user_id != actor.id:
            raise auth.deny(actor, 'change the watch setting of team member', member_id,
                            'You can only change your own watch setting.')
        if member.watching == watching:
            return
        member.watching = watching
        name = await _member_name(uow, member)
        verb = 'switched on' if watching else 'switched off'
        event = _record(uow, ticket, actor, EventKind.TEAM_WATCH, f'{actor.display_name} {verb} notifications for {name}')
        await uow.session.flush()
        uow.publish_after_commit(TicketChanged(ticket_id=ticket.id, kind='team', actor_id=actor.id, event_ids=(event.id,)))
