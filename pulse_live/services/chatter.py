"""Post messages and internal notes (with attachments and @mentions) to a ticket's chatter."""
from __future__ import annotations

import re

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db, storage
from ..errors import NotFound, PermissionDenied, ValidationError
from ..events import TicketChanged
from ..models import Attachment, EventKind, EventMention, STAFF_ROLES, Status, Ticket, TicketEvent, User, utcnow
from ._uow import unit_of_work

MAX_MESSAGE = 20000
MENTION_RE = re.compile(r'(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_.-]{0,59})')
TEAM_HANDLE = 'team'


def mentioned_handles(body: str) -> list[str]:
    return [m.rstrip('.-') for m in MENTION_RE.findall(body)]


async def _resolve_mentions(session: AsyncSession, body: str) -> tuple[bool, list[int]]:
    handles = {h.lower() for h in mentioned_handles(body)}
    team = TEAM_HANDLE in handles
    handles.discard(TEAM_HANDLE)
    if not handles:
        return team, []
    rows = await session.execute(select(User.id).where(func.lower(User.handle).in_(handles),
                                                       User.card_published.is_(True), User.is_active.is_(True)))
    return team, [r for (r,) in rows]


async def mentions_only_staff(body: str) -> bool:
    """True when the text mentions somebody and everybody it mentions is staff (or ``@Team``): such a "reply to the
    customer" is likely meant as an internal note (the composer asks). Handles naming nobody do not count."""
    handles = {h.lower() for h in mentioned_handles(body or '')}
    team = TEAM_HANDLE in handles
    handles.discard(TEAM_HANDLE)
    roles: list[str] = []
    if handles:
        async with db.session() as s:
            roles = list((await s.execute(select(User.role).where(func.lower(User.handle).in_(handles),
                                                                  User.is_active.is_(True)))).scalars())
    staff = [r for r in roles if r in STAFF_ROLES]
    return (team or bool(staff)) and len(staff) == len(roles)


async def add_message_event(session: AsyncSession, *, ticket_id: int, actor: User, body: str, internal: bool,
                            stored: list[tuple[storage.UploadedFile, str]], now) -> TicketEvent:
    """Add a message row and its attachment rows (files stored already) to the caller's transaction."""
    event = TicketEvent(ticket_id=ticket_id, kind=EventKind.MESSAGE, actor_id=actor.id, created_at=now,
                        body=body, is_internal=internal,
                        data={'files': [storage.safe_filename(f.name) for f, _ in stored]} if stored else None)
    session.add(event)
    await session.flush()
    for f, digest in stored:
        name = storage.safe_filename(f.name)
        session.add(Attachment(ticket_id=ticket_id, event_id=event.id, uploader_id=actor.id, filename=name,
                               content_type=storage.content_type_for(name, f.content_type), size=len(f.data),
                               sha256=digest, is_internal=internal, created_at=now))
    return event


async def post_message(*, actor: User, ticket_id: int, body: str, internal: bool = False,
                       files: list[storage.UploadedFile] | None = None) -> TicketEvent:
    """Add a public reply or an internal note (agents only); files become attachments of the entry."""
    files = files or []
    body = (body or '').replace('\r\n', '\n').strip()
    if not body and not files:
        raise ValidationError('Write a message or attach a file.')
    if len(body) > MAX_MESSAGE:
        raise ValidationError(f'The message is too long ({len(body)} characters; at most {MAX_MESSAGE}).')
    if internal and not auth.can_see_internal(actor):
        auth.refused(actor, 'write an internal note on ticket', ticket_id)
        raise PermissionDenied('Only agents can write internal notes.')
    storage.check_limits(files)
    stored = [(f, await storage.store(f.data)) for f in files]
    async with unit_of_work() as uow:
        s = uow.session
        ticket = await s.get(Ticket, ticket_id)
        if ticket is None or not await auth.may_view_ticket(s, actor, ticket):
            if ticket is not None:
                auth.refused(actor, 'post to ticket', ticket.reference)
            raise NotFound('Ticket not found.')
        if ticket.status == Status.CLOSED:
            raise ValidationError(f'{ticket.reference} was closed, so nothing more can be added to it: your message '
                                  'was not sent.' + (' Reopen the ticket to add it.' if auth.is_staff(actor) else
                                                     f' Please open a new request and mention {ticket.reference}.'))
        now = utcnow()
        event = await add_message_event(s, ticket_id=ticket.id, actor=actor, body=body, internal=internal,
                                        stored=stored, now=now)
        team, user_ids = await _resolve_mentions(s, body)
        if team:
            s.add(EventMention(event_id=event.id, is_team=True))
        for user_id in user_ids:
            s.add(EventMention(event_id=event.id, user_id=user_id))
        stamp = {'updated_at': now}
        if auth.is_staff(actor) and not internal and ticket.first_response_at is None:
            stamp['first_response_at'] = now
        await s.execute(update(Ticket).where(Ticket.id == ticket.id).values(**stamp)
                        .execution_options(synchronize_session=False))
        await s.flush()
        uow.publish_after_commit(TicketChanged(ticket_id=ticket.id, kind='message', actor_id=actor.id,
                                               event_ids=(event.id,)))
    return event
