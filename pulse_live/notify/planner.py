"""Decide, inside the change's own transaction, who is told about it and how.

Who hears of a change to a ticket (never the actor):
- its **assignee** (and, when the assignee changes, the previous one);
- the people **on its team by name** who watch it (creator, customer, people added);
- the **support group** entry (the provider's group on every ticket) stands for whoever currently works the
  ticket: the agents of its queue while it is unassigned (a queue without agents is open to every agent, as
  for Take), its assignee after — never every staff member;
- people **mentioned** by handle (published card), and for ``@Team`` everyone on the team (the group entry
  expanded as above), watch or not;
- **managers and admins** by their own choice (``User.notify_scope``): ``mine`` (the tickets they are on, the
  default), ``queues`` (every change in the queues they are members of) or ``all``.
A personal team entry with watch off silences that person for that ticket, except for mentions.

A customer is told only what the portal shows them (``auth.can_see_event``: never internal entries, only the
changes of ``auth.CUSTOMER_HISTORY_FIELDS``, and only on tickets they may view — a mention does not open a ticket to
a colleague). Users looking at the ticket right now are not notified (they see the change live); other online
users (any open tab) get an in-app notification; offline users get a mail, combined per recipient and ticket
within the batch window, and the in-app row too when they turned e-mail off (the bell has it when they are back).
A mention is always in the bell (unread until seen), and mailed at once when the person is offline ("Anna Keller
mentioned you in PL-…: …"; the bell row is marked mailed so the missed-notification scan does not mail it again).
The customer gets public replies and a mail when the ticket is resolved and when it is closed (that mail carries
the resolution, so the resolution's own field changes are not sent to them separately).

``quiet()`` makes the changes inside it tell nobody (the demo seeds its history with it: no mail, no bell).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db, presence
from ..config import get_settings
from ..events import NotificationCreated, TicketChanged
from ..markdown import one_line
from ..models import (
    STAFF_ROLES,
    EventKind,
    EventMention,
    MailOutbox,
    Notification,
    QueueMember,
    Role,
    Status,
    TeamMember,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)

SCOPES = {'mine': 'Only tickets I am on (assignee, team, mentioned)',
          'queues': 'Every change in the queues I am a member of',
          'all': 'Every change of every ticket'}
MENTION_REASONS = frozenset({'mention', 'team'})
BODY_LIMIT = 4000  # characters of a message carried into a mail (rendered as markdown there)
# what one batched mail holds: each change rewrites every recipient's open mail (its items are one JSON value), so
# without a bound a customer's 40 messages of 4,000 characters to a queue of 1,000 agents cost 1.8 s of CPU per
# message by the end, growing with each (176 MB of items). A full mail goes out at once and the next changes start
# another: full at MAX_BATCH_BODY_CHARS of message text (four long messages) or MAX_BATCH_ITEMS changes (one-line
# changes are small: the missed-message scan mails a person's 1,200 unread notifications as one mail)
MAX_BATCH_BODY_CHARS = 16_000
MAX_BATCH_ITEMS = 2_000


def _full(items: list[dict]) -> bool:
    return len(items) >= MAX_BATCH_ITEMS or sum(len(i.get('body') or '') for i in items) >= MAX_BATCH_BODY_CHARS
_quiet: ContextVar[bool] = ContextVar('pulse_live_notify_quiet', default=False)


@contextmanager
def quiet() -> Iterator[None]:
    """Changes made inside this block notify nobody: no in-app notification, no mail."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


@dataclass
class Reason:
    user: User
    why: set[str] = field(default_factory=set)  # watch, works, assignee, scope, mention, team, customer


@dataclass
class Audience:
    named: dict[int, tuple[User, bool]]  # personal team entries: user id → (user, watching)
    group: list[User]  # the support group entries, standing for whoever works the ticket now
    group_watching: bool
    assignee: User | None

    @property
    def team_ids(self) -> set[int]:
        return set(self.named) | {u.id for u in self.group}


def _is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


def _can_see(user: User, ticket: Ticket, event: TicketEvent, team_ids: set[int]) -> bool:
    return auth.can_see_event(user, ticket, event.kind, event.field, event.is_internal, on_team=user.id in team_ids)


BATCH_INFO = 'uow_batch'  # set in session.info by services/_uow.batch (one transaction for many mails)
_HELD = 'planner_held'


# the planner's reads, built once (each change plans its notifications: building the statements and their cache keys
# afresh was ~1 % of the server's CPU under desk_load.py); what varies is bound at execution
_QUEUE_AGENTS = (select(User).join(QueueMember, QueueMember.user_id == User.id)
                 .where(QueueMember.queue_id == bindparam('queue_id'),
                        User.organisation_id == bindparam('organisation_id'),
                        User.role == Role.AGENT.value, User.is_active.is_(True)))
_AGENTS = select(User).where(User.organisation_id == bindparam('organisation_id'), User.role == Role.AGENT.value,
                             User.is_active.is_(True))
_TEAM = select(TeamMember).where(TeamMember.ticket_id == bindparam('ticket_id'))
_USERS = select(User).where(User.id.in_(bindparam('ids', expanding=True)))
_CHOOSERS = select(User).where(User.role.in_([Role.MANAGER.value, Role.ADMIN.value]), User.is_active.is_(True),
                               User.notify_scope.in_(('queues', 'all')))
_EVENTS = (select(TicketEvent).where(TicketEvent.ticket_id == bindparam('ticket_id'),
                                     TicketEvent.id.in_(bindparam('ids', expanding=True))).order_by(TicketEvent.id))
_OPENING = (select(TicketEvent).where(TicketEvent.ticket_id == bindparam('ticket_id'),
                                      TicketEvent.kind == EventKind.CREATED).order_by(TicketEvent.id))
_MENTIONS = select(EventMention).where(EventMention.event_id == bindparam('event_id'))


def _batch_held(session: AsyncSession, key: tuple) -> list[User] | None:
    """What this batch's planner read before (the queue's agents, the managers by choice): read once per batch, not
    once per mail. Only inside a batch of the mail intake, whose units change neither agents nor queues."""
    info = session.sync_session.info
    return info.get(_HELD, {}).get(key) if info.get(BATCH_INFO) else None


def _batch_keep(session: AsyncSession, key: tuple, users: list[User]) -> None:
    info = session.sync_session.info
    if info.get(BATCH_INFO):
        info.setdefault(_HELD, {})[key] = tuple(users)


async def who_works(session: AsyncSession, ticket: Ticket, organisation_id: int) -> list[User]:
    """Whom a support group entry stands for: the ticket's assignee once it has one; before that the agents of
    its queue (of the group's organisation); a queue without agents is open to every agent of the group (as for
    Take). Managers and admins who are queue members hear of it by their own choice (``notify_scope``)."""
    if ticket.assignee_id is not None:
        user = await session.get(User, ticket.assignee_id)
        return [user] if user is not None and user.is_active and _is_staff(user) else []
    if ticket.queue_id is not None:
        held = _batch_held(session, ('works', ticket.queue_id, organisation_id))
        if held is not None:
            return list(held)
        members = list((await session.execute(
            _QUEUE_AGENTS, {'queue_id': ticket.queue_id, 'organisation_id': organisation_id})).scalars())
        if members:
            _batch_keep(session, ('works', ticket.queue_id, organisation_id), members)
            return members
    return list((await session.execute(_AGENTS, {'organisation_id': organisation_id})).scalars())


async def _audience(session: AsyncSession, ticket: Ticket) -> Audience:
    entries = list((await session.execute(_TEAM, {'ticket_id': ticket.id})).scalars())
    named: dict[int, tuple[User, bool]] = {}
    watching_of = {m.user_id: m.watching for m in entries if m.user_id}
    if watching_of:
        for user in (await session.execute(_USERS, {'ids': sorted(watching_of)})).scalars():
            if user.is_active:
                named[user.id] = (user, watching_of[user.id])
    group: dict[int, User] = {}
    group_watching = False
    for m in entries:
        if m.organisation_id:
            group_watching = group_watching or m.watching
            for user in await who_works(session, ticket, m.organisation_id):
                group.setdefault(user.id, user)
    assignee = await session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    return Audience(named, list(group.values()), group_watching,
                    assignee if assignee is not None and assignee.is_active else None)


async def _by_choice(session: AsyncSession, ticket: Ticket) -> list[User]:
    """Managers and admins who chose to hear of this ticket's changes (``queues`` or ``all``)."""
    held = _batch_held(session, ('choosers',))
    choosers = list(held) if held is not None else list((await session.execute(_CHOOSERS)).scalars())
    _batch_keep(session, ('choosers',), choosers)
    if not choosers:
        return []
    in_queue: set[int] = set()
    if ticket.queue_id is not None and any(u.notify_scope == 'queues' for u in choosers):
        in_queue = set((await session.execute(select(QueueMember.user_id).where(
            QueueMember.queue_id == ticket.queue_id, QueueMember.user_id.in_([u.id for u in choosers])))).scalars())
    return [u for u in choosers if u.notify_scope == 'all' or u.id in in_queue]


def summary(event: TicketEvent, actor_name: str) -> str:
    """One line for the bell and the mail's list: who did what (markdown shown as its plain text)."""
    if event.kind == EventKind.MESSAGE:
        text = one_line(event.body or '')
        files = (event.data or {}).get('files') or []
        if not text and files:
            text = 'attached ' + ', '.join(files)
        what = 'wrote an internal note' if event.is_internal else 'wrote'
        return f'{actor_name} {what}: {text}'
    return event.body


def _lead(event: TicketEvent, actor_name: str, reference: str, why: set[str]) -> str:
    if 'mention' in why:
        return f'{actor_name} mentioned you in {reference}'
    if 'team' in why:
        return f'{actor_name} mentioned @Team in {reference}'
    return f'{actor_name} wrote an internal note' if event.is_internal else f'{actor_name} wrote'


def _item(event: TicketEvent, actor_name: str, reference: str, why: set[str]) -> dict:
    """What one recipient is told of one entry: ``text`` (one plain line), and for a message its ``lead`` and
    markdown ``body`` (the mail renders it as HTML and as clean plain text)."""
    item: dict = {'event_id': event.id, 'why': sorted(why)}
    if why & MENTION_REASONS and event.kind == EventKind.MESSAGE:
        lead = _lead(event, actor_name, reference, why)
        item.update(text=f'{lead}: {one_line(event.body or "")}', lead=lead, by=actor_name,
                    body=(event.body or '')[:BODY_LIMIT])
    elif event.kind == EventKind.MESSAGE and (event.body or '').strip():
        item.update(text=summary(event, actor_name), lead=_lead(event, actor_name, reference, why),
                    body=(event.body or '')[:BODY_LIMIT])
    else:
        item['text'] = summary(event, actor_name)
    return item


async def plan(session: AsyncSession, change: TicketChanged) -> list[NotificationCreated]:
    """Write the notification and outbox rows for one ticket change; return the in-app events to publish."""
    if _quiet.get() or (not change.event_ids and change.kind != 'created'):
        return []
    ticket = await session.get(Ticket, change.ticket_id)
    if ticket is None:
        return []
    events = list((await session.execute(_EVENTS, {'ticket_id': ticket.id, 'ids': list(change.event_ids)})).scalars()
                  if change.event_ids else
                  (await session.execute(_OPENING, {'ticket_id': ticket.id})).scalars())
    if not events:
        return []
    actor = await session.get(User, change.actor_id) if change.actor_id else None
    actor_name = ' '.join(actor.display_name.split()) if actor else 'Pulse Live'  # one line (stored before names were)
    audience = await _audience(session, ticket)
    team_ids = audience.team_ids
    by_choice = await _by_choice(session, ticket)
    customer = await session.get(User, ticket.customer_id) if ticket.customer_id else None
    closing = any(_closes(e) is not None for e in events)
    muted = {uid for uid, (_, watching) in audience.named.items() if not watching}
    published: list[NotificationCreated] = []
    deliveries: list[tuple[User, TicketEvent, dict, bool]] = []
    for event in events:
        reasons: dict[int, Reason] = {}

        # this round's event and reasons bound now: the closure is only called within the round
        def add(user: User | None, why: str, event: TicketEvent = event, reasons: dict[int, Reason] = reasons) -> None:
            if user is None or user.id == change.actor_id or not user.is_active:
                return
            if why not in MENTION_REASONS and user.id in muted:
                return  # watch switched off for this ticket: only a mention reaches them
            if not _can_see(user, ticket, event, team_ids):
                return
            if (closing and customer is not None and user.id == customer.id and event.kind == EventKind.FIELD_CHANGE
                    and event.field != 'status'):
                return  # the resolved/closed mail tells them the resolution
            reasons.setdefault(user.id, Reason(user)).why.add(why)

        mentions = list((await session.execute(_MENTIONS, {'event_id': event.id}))
                        .scalars()) if event.kind == EventKind.MESSAGE else []  # (only messages mention: chatter)
        for user, watching in audience.named.values():
            if watching:
                add(user, 'watch')
        if audience.group_watching:
            for user in audience.group:
                add(user, 'works')
        add(audience.assignee, 'assignee')
        old_assignee = (event.data or {}).get('old')
        if event.field == 'assignee_id' and isinstance(old_assignee, int):
            add(await session.get(User, old_assignee), 'assignee')  # the one it was taken from
        for user in by_choice:
            add(user, 'scope')
        if any(m.is_team for m in mentions):
            for user, _ in audience.named.values():
                add(user, 'team')
            for user in audience.group:
                add(user, 'team')
        mentioned_ids = [m.user_id for m in mentions if m.user_id]
        if mentioned_ids:
            for user in (await session.execute(select(User).where(User.id.in_(mentioned_ids)))).scalars():
                add(user, 'mention')
        if customer is not None and event.kind == EventKind.MESSAGE and not event.is_internal:
            add(customer, 'customer')
        closes = _closes(event)
        if closes is not None and customer is not None and customer.id != change.actor_id and customer.is_active:
            reasons.pop(customer.id, None)  # the customer gets the dedicated resolved/closed mail instead
            _customer_status_mail(session, ticket, customer, event, closes)
        # they see it live on the ticket in a tab of this process: no bell entry, no mail. A viewer in another
        # process gets the bell entry (their tab marks it read on sight, no toast): if that process died, the
        # entry waits in the bell and the missed-message scan mails it (presence.py)
        watching_now = presence.viewing_here(ticket.id)
        for reason in reasons.values():
            mentioned = bool(reason.why & MENTION_REASONS)
            if reason.user.id in watching_now and not mentioned:
                continue
            deliveries.append((reason.user, event, _item(event, actor_name, ticket.reference, reason.why), mentioned))
    # the recipients' open mails for this ticket, read in one query (not one per recipient)
    mailed = [u for u, _, _, _ in deliveries if not presence.is_online(u.id) and u.email_notifications]
    if change.kind == 'created':  # a ticket made in this transaction has no mail waiting yet: nothing to read
        batches: dict[str, MailOutbox | None] = dict.fromkeys(_batch_key(u, ticket) for u in mailed)
    else:
        batches = await open_batches(session, ticket, mailed) if mailed else {}
    for user, event, item, mentioned in deliveries:
        published.extend(await _deliver(session, user, ticket, event, item, mentioned, batches))
    return published


async def _deliver(session: AsyncSession, user: User, ticket: Ticket, event: TicketEvent, item: dict,
                   mentioned: bool, batches: dict[str, MailOutbox | None] | None = None) -> list[NotificationCreated]:
    """Online: a bell entry (toast). Offline: a mail, or the bell entry when no mail is wanted. A mention is
    always in the bell, and mailed too when the person is offline."""
    online = presence.is_online(user.id)
    mail = not online and user.email_notifications
    text = item['text'] if mentioned else f'{ticket.reference}: {item["text"]}'
    published: list[NotificationCreated] = []
    if online or mentioned or not user.email_notifications:
        note = Notification(user_id=user.id, ticket_id=ticket.id, event_id=event.id, text=text,
                            mailed_at=utcnow() if mail else None)
        session.add(note)
        if online:  # offline: nothing to publish (no tab to tell); the bell has it when they are back
            await session.flush()
            published.append(NotificationCreated(user_id=user.id, notification_id=note.id, ticket_id=ticket.id,
                                                 text=note.text))
    if mail:
        await enqueue(session, user=user, ticket=ticket, item=item, batches=batches)
    return published


def new_message_id() -> str:
    return f'<{uuid.uuid4().hex}@pulse-live>'


def batch_key(user_id: int, ticket_id: int) -> str:
    return f'u{user_id}:t{ticket_id}'


def _batch_key(user: User, ticket: Ticket) -> str:
    return batch_key(user.id, ticket.id)


_OPEN_MAIL = (select(MailOutbox).where(MailOutbox.batch_key.in_(bindparam('keys', expanding=True)),
                                       MailOutbox.status == 'pending', MailOutbox.attempts == 0,
                                       MailOutbox.locked_until.is_(None), MailOutbox.created_at >= bindparam('since'))
              .order_by(MailOutbox.id.desc()).with_for_update())
_ONE_OPEN_MAIL = _OPEN_MAIL.limit(1)


async def lock_batches(session: AsyncSession, keys: Iterable[str]) -> None:
    """Until this transaction ends, no other transaction looks for (or opens) these recipients' open mails: the
    lookup finds nothing, then a new mail is opened — ``batch_key`` has no unique index, and the lookup's row lock
    cannot hold a row that does not exist yet. Two changes at once that do not take the same ticket's row lock (a team
    change and a message, the missed-notification scan, an escalation notice) both opened a mail on PostgreSQL: two
    mails instead of one combined. Keys are taken in sorted order (every caller: no two transactions wait for each
    other's); taking one again in the same transaction does not wait."""
    for key in sorted(set(keys)):
        await db.serialise(session, f'mail-batch:{key}')


def _open_mail_since(keys: list[str], now: Any) -> dict[str, Any]:
    """The parameters of ``_OPEN_MAIL``: these recipients' mails opened within the batch window."""
    return {'keys': keys, 'since': now - timedelta(seconds=get_settings().mail_batch_window_s)}


async def open_batches(session: AsyncSession, ticket: Ticket, users: list[User]) -> dict[str, MailOutbox | None]:
    """The open mail (still in its batch window) of each of ``users`` for this ticket, in one query: what
    ``enqueue(…, batches=…)`` adds to instead of reading it per recipient."""
    keys = sorted({_batch_key(user, ticket) for user in users})
    await lock_batches(session, keys)
    found: dict[str, MailOutbox | None] = dict.fromkeys(keys)
    for row in (await session.execute(_OPEN_MAIL, _open_mail_since(keys, utcnow()))).scalars():
        if row.batch_key is not None and found.get(row.batch_key) is None:
            found[row.batch_key] = row  # the newest (ordered by id descending)
    return found


async def enqueue(session: AsyncSession, *, user: User, ticket: Ticket, item: dict, kind: str = 'update',
                  batches: dict[str, MailOutbox | None] | None = None) -> MailOutbox:
    """Add a change to the recipient's open mail for this ticket, or open one that waits for the batch window.
    ``batches`` (from ``open_batches``) holds the open mails already read; it is kept up to date here."""
    now = utcnow()
    key = _batch_key(user, ticket)
    window = timedelta(seconds=get_settings().mail_batch_window_s)
    if batches is not None and key in batches:
        row = batches[key]
    else:
        await lock_batches(session, [key])
        row = (await session.execute(_ONE_OPEN_MAIL, _open_mail_since([key], now))).scalar_one_or_none()
    if row is not None and not _full(row.items or []):
        row.items = [*(row.items or []), item]
        return row
    if row is not None:  # full: it goes now, and the next changes start a mail of their own
        row.batch_key, row.next_attempt_at = None, now
    row = MailOutbox(to_addr=user.email, to_user_id=user.id, ticket_id=ticket.id, subject=ticket.reference,
                     body_text='', message_id=new_message_id(), kind=kind, batch_key=key, items=[item],
                     created_at=now, next_attempt_at=now + window)
    session.add(row)
    if batches is not None:
        batches[key] = row
    return row


def _closes(event: TicketEvent) -> Status | None:
    """Resolved or Closed when this history row moved the ticket there (read from the stored status value, not
    from its display label), else None."""
    if event.kind != EventKind.FIELD_CHANGE or event.field != 'status':
        return None
    new = (event.data or {}).get('new')
    return Status(new) if new in (Status.RESOLVED, Status.CLOSED) else None


def _customer_status_mail(session: AsyncSession, ticket: Ticket, customer: User, event: TicketEvent,
                          status: Status) -> None:
    kind = 'resolved' if status == Status.RESOLVED else 'closed'
    session.add(MailOutbox(to_addr=customer.email, to_user_id=customer.id, ticket_id=ticket.id,
                           subject=ticket.reference, body_text='', message_id=new_message_id(), kind=kind,
                           items=[{'event_id': event.id, 'text': event.body, 'why': ['customer']}]))
