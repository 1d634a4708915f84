"""Decide, inside the change's own transaction, who is told about it and how.

Recipients of a ticket event: watching team members (a provider support group counts as its staff), users
@mentioned by handle (published card), everyone on the team for ``@Team`` (watch or not), never the actor.
A customer is told only what the portal shows them (``auth.can_see_event``: never internal entries, only the
changes of ``auth.CUSTOMER_HISTORY_FIELDS``, and only on tickets they may view — a mention does not open a ticket to
a colleague). Users looking at the ticket right now are not notified (they see the change live); other online
users (any open tab) get an in-app notification; offline users get a mail, combined per recipient and ticket
within the batch window, and the in-app row too when they turned e-mail off (the bell has it when they are back).
The customer gets public replies and a mail when the ticket is resolved and when it is closed (that mail carries
the resolution, so the resolution's own field changes are not sent to them separately).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, presence
from ..config import get_settings
from ..events import NotificationCreated, TicketChanged
from ..models import (
    STAFF_ROLES,
    EventKind,
    EventMention,
    MailOutbox,
    Notification,
    TeamMember,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)


@dataclass
class Reason:
    user: User
    why: set[str] = field(default_factory=set)  # watch, mention, team, customer


def _is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


def _can_see(user: User, ticket: Ticket, event: TicketEvent, team_ids: set[int]) -> bool:
    return auth.can_see_event(user, ticket, event.kind, event.field, event.is_internal, on_team=user.id in team_ids)


async def _team(session: AsyncSession, ticket: Ticket) -> list[tuple[User, bool]]:
    """(user, watching) for every team member, support groups expanded to their active staff."""
    members = list((await session.execute(select(TeamMember).where(TeamMember.ticket_id == ticket.id))).scalars())
    result: dict[int, tuple[User, bool]] = {}
    user_ids = [m.user_id for m in members if m.user_id]
    if user_ids:
        for user in (await session.execute(select(User).where(User.id.in_(user_ids)))).scalars():
            watching = next(m.watching for m in members if m.user_id == user.id)
            result[user.id] = (user, watching)
    for m in members:
        if m.organisation_id:
            staff = (await session.execute(select(User).where(
                User.organisation_id == m.organisation_id, User.role.in_([r.value for r in STAFF_ROLES])))).scalars()
            for user in staff:
                result.setdefault(user.id, (user, m.watching))
    return [(u, w) for u, w in result.values() if u.is_active]


def summary(event: TicketEvent, actor_name: str) -> str:
    if event.kind == EventKind.MESSAGE:
        text = ' '.join((event.body or '').split())
        files = (event.data or {}).get('files') or []
        if not text and files:
            text = 'attached ' + ', '.join(files)
        what = 'wrote an internal note' if event.is_internal else 'wrote'
        return f'{actor_name} {what}: {text[:300]}'
    return event.body


async def plan(session: AsyncSession, change: TicketChanged) -> list[NotificationCreated]:
    """Write the notification and outbox rows for one ticket change; return the in-app events to publish."""
    if not change.event_ids and change.kind != 'created':
        return []
    ticket = await session.get(Ticket, change.ticket_id)
    if ticket is None:
        return []
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    query = query.where(TicketEvent.id.in_(change.event_ids)) if change.event_ids else \
        query.where(TicketEvent.kind == EventKind.CREATED)
    events = list((await session.execute(query.order_by(TicketEvent.id))).scalars())
    if not events:
        return []
    actor = await session.get(User, change.actor_id) if change.actor_id else None
    actor_name = actor.display_name if actor else 'Pulse Live'
    team = await _team(session, ticket)
    team_ids = {user.id for user, _ in team}
    customer = await session.get(User, ticket.customer_id) if ticket.customer_id else None
    closing = any(e.field == 'status' and e.new_value in ('Resolved', 'Closed') for e in events)
    published: list[NotificationCreated] = []
    for event in events:
        reasons: dict[int, Reason] = {}

        def add(user: User, why: str) -> None:
            if user.id == change.actor_id or not user.is_active or not _can_see(user, ticket, event, team_ids):
                return
            if (closing and customer is not None and user.id == customer.id and event.kind == EventKind.FIELD_CHANGE
                    and event.field != 'status'):
                return  # the resolved/closed mail tells them the resolution
            reasons.setdefault(user.id, Reason(user)).why.add(why)

        mentions = list((await session.execute(select(EventMention).where(EventMention.event_id == event.id))).scalars())
        for user, watching in team:
            if watching:
                add(user, 'watch')
        if any(m.is_team for m in mentions):
            for user, _ in team:
                add(user, 'team')
        mentioned_ids = [m.user_id for m in mentions if m.user_id]
        if mentioned_ids:
            for user in (await session.execute(select(User).where(User.id.in_(mentioned_ids)))).scalars():
                add(user, 'mention')
        if customer is not None and event.kind == EventKind.MESSAGE and not event.is_internal:
            add(customer, 'customer')
        status_mail = (customer is not None and event.field == 'status' and event.new_value in ('Resolved', 'Closed')
                       and customer.id != change.actor_id and customer.is_active)
        if status_mail:
            reasons.pop(customer.id, None)  # the customer gets the dedicated resolved/closed mail instead
            _customer_status_mail(session, ticket, customer, event)
        text = summary(event, actor_name)
        watching_now = presence.viewing(ticket.id)  # they see it live on the ticket: no toast, no mail
        for reason in reasons.values():
            if reason.user.id not in watching_now:
                published.extend(await _deliver(session, reason, ticket, event, text))
    return published


async def _deliver(session: AsyncSession, reason: Reason, ticket: Ticket, event: TicketEvent,
                   text: str) -> list[NotificationCreated]:
    user = reason.user
    prefix = 'mentioned you — ' if 'mention' in reason.why or 'team' in reason.why else ''
    if presence.is_online(user.id):
        note = Notification(user_id=user.id, ticket_id=ticket.id, event_id=event.id,
                            text=f'{ticket.reference}: {prefix}{text}')
        session.add(note)
        await session.flush()
        return [NotificationCreated(user_id=user.id, notification_id=note.id, ticket_id=ticket.id, text=note.text)]
    if user.email_notifications:
        await enqueue(session, user=user, ticket=ticket, item={'event_id': event.id, 'text': text,
                                                               'why': sorted(reason.why)})
    else:  # no mail wanted: the bell keeps it for when they are back (nothing is published: no tab to tell)
        session.add(Notification(user_id=user.id, ticket_id=ticket.id, event_id=event.id,
                                 text=f'{ticket.reference}: {prefix}{text}'))
    return []


def new_message_id() -> str:
    return f'<{uuid.uuid4().hex}@pulse-live>'


async def enqueue(session: AsyncSession, *, user: User, ticket: Ticket, item: dict, kind: str = 'update') -> MailOutbox:
    """Add a change to the recipient's open mail for this ticket, or open one that waits for the batch window."""
    now = utcnow()
    key = f'u{user.id}:t{ticket.id}'
    window = timedelta(seconds=get_settings().mail_batch_window_s)
    row = (await session.execute(
        select(MailOutbox).where(MailOutbox.batch_key == key, MailOutbox.status == 'pending',
                                 MailOutbox.attempts == 0, MailOutbox.locked_until.is_(None),
                                 MailOutbox.created_at >= now - window)
        .order_by(MailOutbox.id.desc()).limit(1).with_for_update())).scalar_one_or_none()
    if row is not None:
        row.items = [*(row.items or []), item]
        return row
    row = MailOutbox(to_addr=user.email, to_user_id=user.id, ticket_id=ticket.id, subject=ticket.reference,
                     body_text='', message_id=new_message_id(), kind=kind, batch_key=key, items=[item],
                     created_at=now, next_attempt_at=now + window)
    session.add(row)
    return row


def _customer_status_mail(session: AsyncSession, ticket: Ticket, customer: User, event: TicketEvent) -> None:
    kind = 'resolved' if event.new_value == 'Resolved' else 'closed'
    session.add(MailOutbox(to_addr=customer.email, to_user_id=customer.id, ticket_id=ticket.id,
                           subject=ticket.reference, body_text='', message_id=new_message_id(), kind=kind,
                           items=[{'event_id': event.id, 'text': event.body, 'why': ['customer']}]))
