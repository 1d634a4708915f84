"""The team list (watchers) of a ticket: add, remove, switch watching; each change is a chatter entry."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select

from .. import auth, db
from ..errors import NotFound, ValidationError
from ..models import EventKind, Organisation, TeamMember, User
from .ticket_write import TicketWrite, ticket_write


def _team_write(actor: User, ticket_id: int, action: str):
    """A team change: allowed on closed tickets too (who hears of a reopened ticket)."""
    return ticket_write(actor, ticket_id, action=action, kind='team', closed=None)


async def _member_name(w: TicketWrite, member: TeamMember) -> str:
    if member.user_id:
        user = await w.session.get(User, member.user_id)
        return user.display_name if user else f'user #{member.user_id}'
    org = await w.session.get(Organisation, member.organisation_id)
    return f'the support group ({org.name})' if org else 'the support group'


# the people named on one ticket's team: the team list is every viewer's and is shown again on each change (1,000
# named members made each opening 4,200 elements and each watch switch 0.1 s of CPU per open page)
MAX_TEAM = 100


async def add_member(*, actor: User, ticket_id: int, user_id: int, watching: bool = True) -> TeamMember:
    auth.require_staff(actor, 'add a team member to ticket', ticket_id)
    async with _team_write(actor, ticket_id, 'change the team of') as w:
        ticket = w.ticket
        user = await w.session.get(User, user_id)
        if user is None or not user.is_active:
            raise ValidationError('No such user.')
        if not auth.can_view_ticket(user, ticket, on_team=True):
            raise ValidationError(f'{user.display_name} cannot see this ticket, so cannot be on its team.')
        await db.serialise(w.session, f'team:{ticket.id}')  # "not on the team yet", then added: one at a time
        exists = (await w.session.execute(select(TeamMember).where(
            TeamMember.ticket_id == ticket.id, TeamMember.user_id == user.id))).scalar_one_or_none()
        if exists is not None:
            raise ValidationError(f'{user.display_name} is already on the team.')
        size = (await w.session.execute(select(func.count()).select_from(TeamMember)
                                        .where(TeamMember.ticket_id == ticket.id))).scalar_one()
        if size >= MAX_TEAM:
            raise ValidationError(f'The team has {MAX_TEAM} members already, as many as a ticket takes; '
                                  '@Team and the support group reach everyone else.')
        member = TeamMember(ticket_id=ticket.id, user_id=user.id, watching=watching, added_how='manual',
                            added_by_id=actor.id)
        w.session.add(member)
        w.add(EventKind.TEAM_ADDED, f'{actor.display_name} added {user.display_name} to the team')
    return member


async def _member(w: TicketWrite, member_id: int) -> TeamMember:
    member = await w.session.get(TeamMember, member_id)
    if member is None or member.ticket_id != w.ticket.id:
        raise NotFound('This team member is no longer on the team.')
    return member


async def remove_member(*, actor: User, ticket_id: int, member_id: int) -> None:
    auth.require_staff(actor, 'remove a team member of ticket', ticket_id)
    async with _team_write(actor, ticket_id, 'change the team of') as w:
        member = await _member(w, member_id)
        name = await _member_name(w, member)
        # deleted by id and counted: of two removals at once (PostgreSQL) the second deleted nothing, yet wrote
        # "removed … from the team" into the history, and its news went out twice
        result = cast(CursorResult[Any], await w.session.execute(
            delete(TeamMember).where(TeamMember.id == member.id).execution_options(synchronize_session=False)))
        if result.rowcount != 1:
            raise NotFound('This team member is no longer on the team.')
        w.session.expunge(member)
        w.add(EventKind.TEAM_REMOVED, f'{actor.display_name} removed {name} from the team')


async def set_watching(*, actor: User, ticket_id: int, member_id: int, watching: bool) -> None:
    if not isinstance(watching, bool):
        raise ValidationError('Watching is on or off.')
    async with _team_write(actor, ticket_id, 'change the watch settings of') as w:
        member = await _member(w, member_id)
        if not auth.is_staff(actor) and member.user_id != actor.id:
            raise auth.deny(actor, 'change the watch setting of team member', member_id,
                            'You can only change your own watch setting.')
        if member.watching == watching:
            return
        member.watching = watching
        name = await _member_name(w, member)
        verb = 'switched on' if watching else 'switched off'
        w.add(EventKind.TEAM_WATCH, f'{actor.display_name} {verb} notifications for {name}')
