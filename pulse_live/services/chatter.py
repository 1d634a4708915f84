"""Post messages and internal notes (with attachments and @mentions) to a ticket's chatter."""
from __future__ import annotations

import math
import re
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db, storage
from ..config import get_settings
from ..errors import TooMany, ValidationError
from ..models import STAFF_ROLES, Attachment, EventKind, EventMention, Role, Ticket, TicketEvent, User, utcnow
from . import sla, upload_quota
from .ticket_write import TicketWrite, check_ahead, ticket_write

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


async def add_message(w: TicketWrite, *, body: str, internal: bool, stored: list[tuple[storage.UploadedFile, str]],
                      now) -> TicketEvent:
    """Add a message row by the acting user and its attachment rows (files stored already) to the change."""
    event = w.add(EventKind.MESSAGE, body, internal=internal, created_at=now,
                  data={'files': [storage.safe_filename(f.name) for f, _ in stored]} if stored else None)
    await w.session.flush()
    for f, digest in stored:
        name = storage.safe_filename(f.name)
        w.session.add(Attachment(ticket_id=w.ticket.id, event_id=event.id, uploader_id=w.actor.id, filename=name,
                                 content_type=storage.content_type_for(name, f.content_type), size=len(f.data),
                                 sha256=digest, is_internal=internal, created_at=now))
    return event


def _closed(actor: User) -> Callable[[Ticket], str]:
    def message(ticket: Ticket) -> str:
        return (f'{ticket.reference} was closed, so nothing more can be added to it: your message was not sent.'
                + (' Reopen the ticket to add it.' if auth.is_staff(actor) else
                   f' Please open a new request and mention {ticket.reference}.'))
    return message


async def post_message(*, actor: User, ticket_id: int, body: str, internal: bool = False,
                       files: list[storage.UploadedFile] | None = None, rate_limited: bool = True) -> TicketEvent:
    """Add a public reply or an internal note (agents only); files become attachments of the entry. A customer
    posts at most ``customer_messages_per_minute`` (``rate_limited=False``: the mail intake, which has limits of its
    own, and the demo data)."""
    files = files or []
    body = (body or '').replace('\r\n', '\n').strip()
    if not body and not files:
        raise ValidationError('Write a message or attach a file.')
    if len(body) > MAX_MESSAGE:
        raise ValidationError(f'The message is too long ({len(body)} characters; at most {MAX_MESSAGE}).')
    if internal and not auth.can_see_internal(actor):
        raise auth.deny(actor, 'write an internal note on ticket', ticket_id, 'Only agents can write internal notes.')
    if rate_limited and actor.role == Role.CUSTOMER:  # before anything is stored: each reaches every watching agent
        from ..rate_limit import get_limiter
        rate = get_settings().customer_messages_per_minute
        wait = await get_limiter().take(f'customer-messages:{actor.id}', rate)
        if wait > 0:
            raise TooMany(f'You sent {rate} messages within a minute; please wait {math.ceil(wait)} s before the '
                          'next one.', retry_after_s=math.ceil(wait))
    storage.check_limits(files)
    if files:  # a send that will be refused stores no file (checked again in the write, for what changes meanwhile)
        await check_ahead(actor, ticket_id, action='post to', closed=_closed(actor))
    async with upload_quota.held(actor, files):  # a customer's files: a day's bound
        stored = [(f, await storage.store(f.data)) for f in files]
        async with ticket_write(actor, ticket_id, action='post to', kind='message', closed=_closed(actor)) as w:
            await upload_quota.recheck(w.session, actor, files)  # other processes' sends of this customer
            if auth.is_staff(actor) and not internal:  # the first response and the SLA clock are decided below:
                await w.lock()  # on the ticket as a reply at the same moment left it (see TicketWrite.lock)
            now = utcnow()
            event = await add_message(w, body=body, internal=internal, stored=stored, now=now)
            team, user_ids = await _resolve_mentions(w.session, body)
            if team:
                w.session.add(EventMention(event_id=event.id, is_team=True))
            for user_id in user_ids:
                w.session.add(EventMention(event_id=event.id, user_id=user_id))
            stamp = {'updated_at': now}
            if auth.is_staff(actor) and not internal and w.ticket.first_response_at is None:
                stamp['first_response_at'] = now
            await w.touch(**stamp)
            await sla.on_reply(w, now=now, internal=internal)
    return event
