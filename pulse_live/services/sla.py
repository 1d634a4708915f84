"""The SLA clock on every ticket: which policy applies, when the ticket is due, pauses, met / breached.

Called from inside the ticket services' writes (``tickets``, ``prioritisation``, ``chatter``), so the clock changes
in the same transaction as the change that moves it and is published with it (``TicketChanged``):

- ``on_create``: the first matching policy (``sla/policy.py``) and its due times, from the creation instant, in the
  policy's business calendar;
- ``on_inputs_changed``: priority, type, service, queue, channel or customer (→ organisation tier) changed: the
  policy and due times are computed again, keeping the paused time;
- ``on_status``: Waiting for customer pauses the clock, leaving it resumes (the paused business time is added);
  Resolved records resolution met / breached and stops the clock (a pause); a reopen resumes it with
  ``sla_cycle`` + 1 (escalation rules fire once per ticket per cycle);
- ``on_reply``: staff's first public reply records first response met / breached and restarts "update every N";
  a customer's public reply on a ticket waiting for them moves it back to In progress (history: by the system).

``record_breaches(now)`` records the breaches nobody's action reported (a due time passing in silence): the
escalation worker calls it; idempotent (a compare-and-set on the pending flag), a history row by the system and a
``TicketChanged`` per ticket, so every open screen turns red at once. Customers see none of it (``visibility``: the
``sla`` history rows are staff-only; the portal and the API read no SLA column).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth
from ..errors import NotFound
from ..models import (
    CLOCK_RUNNING,
    BusinessCalendar,
    EventKind,
    Organisation,
    SlaPolicy,
    Status,
    Ticket,
    utcnow,
)
from ..queries import sla as sla_queries
from ..sla import policy as engine
from ..sla.calendar import Calendar, CalendarError, add_business_time
from .ticket_write import TicketWrite, system_write

RECOMPUTE_FIELDS = frozenset({'priority_id', 'type_id', 'service_id', 'queue_id', 'channel', 'customer_id',
                              'organisation_id'})
SLA_FIELDS = ('sla_policy_id', 'first_response_due_at', 'resolution_due_at', 'next_update_due_at',
              'sla_paused_since', 'first_response_breached', 'resolution_breached')
HISTORY_FIELD = 'sla'  # history rows of the clock (staff only: not in visibility.FIELDS)


def _fmt(at: datetime | None) -> str:
    return f'{at:%Y-%m-%d %H:%M} UTC' if at else '—'


async def load_rules(session: AsyncSession) -> tuple[list[engine.PolicyRule], dict[int, Calendar]]:
    """The active policies in order and the calendars they use (a calendar that no longer reads is left out:
    its policies then never apply, rather than breaking every ticket write)."""
    calendars: dict[int, Calendar] = {}
    for row in (await session.execute(select(BusinessCalendar))).scalars():
        try:
            calendars[row.id] = Calendar.from_dict(row.definition)
        except CalendarError:
            continue
    rules = [engine.PolicyRule(id=p.id, name=p.name, conditions=engine.Conditions.from_dict(p.conditions),
                               calendar_id=p.calendar_id, first_response_minutes=p.first_response_minutes,
                               resolution_minutes=p.resolution_minutes, update_minutes=p.update_minutes)
             for p in (await session.execute(select(SlaPolicy).where(SlaPolicy.active.is_(True))
                                             .order_by(SlaPolicy.position, SlaPolicy.id))).scalars()
             if p.calendar_id in calendars]
    return rules, calendars


async def facts(session: AsyncSession, ticket: Ticket) -> engine.Facts:
    tier = (await session.execute(select(Organisation.tier)
                                  .where(Organisation.id == ticket.organisation_id))).scalar_one_or_none()
    return engine.Facts(priority_id=ticket.priority_id, type_id=ticket.type_id, tier=tier,
                        service_id=ticket.service_id, queue_id=ticket.queue_id, channel=ticket.channel)


async def applicable(session: AsyncSession, ticket: Ticket) -> tuple[engine.PolicyRule | None, Calendar | None]:
    rules, calendars = await load_rules(session)
    chosen = engine.first_match(rules, await facts(session, ticket))
    return chosen, (calendars[chosen.calendar_id] if chosen else None)


async def calendar_of(session: AsyncSession, ticket: Ticket) -> Calendar | None:
    if ticket.sla_policy_id is None:
        return None
    row = (await session.execute(select(BusinessCalendar.definition).join(
        SlaPolicy, SlaPolicy.calendar_id == BusinessCalendar.id).where(SlaPolicy.id == ticket.sla_policy_id))) \
        .scalar_one_or_none()
    try:
        return Calendar.from_dict(row) if row is not None else None
    except CalendarError:
        return None


async def _update_minutes(session: AsyncSession, ticket: Ticket) -> int | None:
    if ticket.sla_policy_id is None:
        return None
    return (await session.execute(select(SlaPolicy.update_minutes)
                                  .where(SlaPolicy.id == ticket.sla_policy_id))).scalar_one_or_none()


def _apply(ticket: Ticket, chosen: engine.PolicyRule | None, cal: Calendar | None, now: datetime) -> None:
    """Set the policy and the due times on the ticket object (written with the unit of work)."""
    if chosen is None or cal is None:
        ticket.sla_policy_id = None
        ticket.first_response_due_at = ticket.resolution_due_at = ticket.next_update_due_at = None
        return
    due = engine.due_times(cal, ticket.created_at, ticket.sla_paused_seconds or 0, chosen)
    ticket.sla_policy_id = chosen.id
    ticket.first_response_due_at = due.first_response
    ticket.resolution_due_at = due.resolution
    if chosen.update_minutes is None:
        ticket.next_update_due_at = None
    elif ticket.first_response_at is not None and ticket.next_update_due_at is None:
        ticket.next_update_due_at = add_business_time(cal, now, timedelta(minutes=chosen.update_minutes))


async def on_create(session: AsyncSession, ticket: Ticket) -> str | None:
    """Inside ``create_ticket``: the policy and due times of a new ticket; its name (for the opening row)."""
    ticket.sla_paused_seconds = ticket.sla_paused_seconds or 0
    ticket.sla_cycle = ticket.sla_cycle or 1
    chosen, cal = await applicable(session, ticket)
    _apply(ticket, chosen, cal, ticket.created_at)
    return chosen.name if chosen else None


async def recompute(w: TicketWrite, *, now: datetime | None = None) -> bool:
    """Policy and due times again from the ticket as it is now (paused time kept). No history row of its own: the
    change that moved the clock has one, and the SLA panel shows the policy now. True when anything changed."""
    ticket = w.ticket
    before = {f: getattr(ticket, f) for f in SLA_FIELDS}
    chosen, cal = await applicable(w.session, ticket)
    _apply(ticket, chosen, cal, now or utcnow())
    changed = any(getattr(ticket, f) != v for f, v in before.items())
    if changed:
        w.fields.append(HISTORY_FIELD)
    return changed


async def on_inputs_changed(w: TicketWrite, changed: Iterable[str]) -> bool:
    """Inside a ticket write that changed ``changed`` fields: recompute when one of them feeds the policies."""
    if RECOMPUTE_FIELDS.isdisjoint(changed) or w.ticket.status == Status.CLOSED:
        return False
    return await recompute(w)


async def _pause(w: TicketWrite, now: datetime) -> None:
    if w.ticket.sla_paused_since is None:
        w.ticket.sla_paused_since = now


async def _resume(w: TicketWrite, now: datetime) -> None:
    """End the running pause: its business time joins the paused time, the due times move by it."""
    ticket = w.ticket
    since = ticket.sla_paused_since
    if since is None:
        return
    ticket.sla_paused_since = None
    cal = await calendar_of(w.session, ticket)
    if cal is not None:
        ticket.sla_paused_seconds = (ticket.sla_paused_seconds or 0) + engine.paused_between(cal, since, now)
        update_minutes = await _update_minutes(w.session, ticket)
        if update_minutes and ticket.next_update_due_at is not None:  # the interval starts again when work resumes
            ticket.next_update_due_at = add_business_time(cal, now, timedelta(minutes=update_minutes))
    await recompute(w, now=now)


async def on_status(w: TicketWrite, old: Status, new: Status, *, now: datetime | None = None) -> None:
    """Inside ``change_status`` after the status was written (see the module docstring)."""
    now = now or utcnow()
    ticket = w.ticket
    if new in (Status.WAITING, Status.RESOLVED):
        if new == Status.RESOLVED and ticket.resolution_breached is None and ticket.resolution_due_at is not None:
            stopped = ticket.sla_paused_since or now  # resolved from "waiting": the clock stood still since then
            ticket.resolution_breached = stopped > ticket.resolution_due_at
        await _pause(w, now)
    elif new == Status.CLOSED:
        return
    elif old in (Status.RESOLVED, Status.CLOSED):  # reopened: a new cycle, the resolution clock runs on
        ticket.sla_cycle = (ticket.sla_cycle or 1) + 1
        if ticket.resolution_breached is False:
            ticket.resolution_breached = None
        await _resume(w, now)
    elif old == Status.WAITING:
        await _resume(w, now)
    w.fields.append(HISTORY_FIELD)


async def on_reply(w: TicketWrite, *, now: datetime, internal: bool) -> None:
    """Inside ``post_message``: a public reply by staff answers the clock; a customer's clears "waiting"."""
    ticket = w.ticket
    if internal:
        return
    if auth.is_staff(w.actor):
        answered = ticket.sla_paused_since or now
        if ticket.first_response_breached is None and ticket.first_response_due_at is not None \
                and ticket.status != Status.CLOSED:
            ticket.first_response_breached = answered > ticket.first_response_due_at
            w.fields.append(HISTORY_FIELD)
        update_minutes = await _update_minutes(w.session, ticket)
        if update_minutes:
            cal = await calendar_of(w.session, ticket)
            if cal is not None:
                ticket.next_update_due_at = add_business_time(cal, now, timedelta(minutes=update_minutes))
                w.fields.append(HISTORY_FIELD)
        return
    if ticket.status == Status.WAITING:
        await w.update({'status': Status.IN_PROGRESS.value}, unchanged={'status': Status.WAITING.value})
        if ticket.status == Status.IN_PROGRESS:
            await w.record_change('status', Status.WAITING.value, Status.IN_PROGRESS.value, actor=None,
                                  body=f'Pulse Live changed Status {Status.WAITING.label} → '
                                       f'{Status.IN_PROGRESS.label} (the customer replied)')
            await _resume(w, now)
            w.fields.append('status')
            w.kind = 'field_change'  # a field changed too: pages and lists re-read the ticket, not only the chatter


async def record_breaches(now: datetime | None = None, *, limit: int = 500) -> list[int]:
    """Record every first-response and resolution target that passed while the clock ran and nobody answered.

    Idempotent: each flag goes from pending (None) to breached (True) once, by a compare-and-set in the ticket's own
    transaction (two workers, or a worker and a reply, never both record it). A history row by the system and a
    ``TicketChanged`` per ticket. ``now`` is injectable (tests, catch-up after downtime). Returns the ticket ids."""
    now = now or utcnow()
    done: list[int] = []
    for ticket_id in await sla_queries.breach_candidates(now, limit=limit):
        try:
            async with system_write(ticket_id) as w:
                if await _record(w, now):
                    done.append(ticket_id)
        except NotFound:
            continue
    return done


async def _record(w: TicketWrite, now: datetime) -> bool:
    ticket = w.ticket
    recorded = False
    for flag, due_col, what in (('first_response_breached', Ticket.first_response_due_at, 'First response'),
                                ('resolution_breached', Ticket.resolution_due_at, 'Resolution')):
        column = getattr(Ticket, flag)
        result = cast(CursorResult[Any], await w.session.execute(
            update(Ticket).where(Ticket.id == ticket.id, column.is_(None), due_col <= now,
                                 Ticket.status.in_(CLOCK_RUNNING), Ticket.sla_paused_since.is_(None))
            .values({flag: True}).execution_options(synchronize_session=False)))
        if result.rowcount != 1:
            continue
        await w.session.refresh(ticket)
        due = getattr(ticket, due_col.key)
        w.add(EventKind.FIELD_CHANGE, f'{what} target breached (was due {_fmt(due)})', actor=None,
              field=HISTORY_FIELD, old_value='pending', new_value='breached',
              data={'target': flag.removesuffix('_breached'), 'due_at': due.isoformat() if due else None,
                    'cycle': ticket.sla_cycle})
        w.fields.append(flag)
        recorded = True
    return recorded



async def rebuild_from_history(session: AsyncSession, ticket: Ticket, now: datetime | None = None) -> None:
    """The clock of a ticket whose timestamps were moved (the demo seed back-dates its tickets): policy and due
    times from its ``created_at``, first response met / breached from its first public staff reply, resolution from
    ``resolved_at`` (and the clock stopped there), targets already passed while it ran as breached. Written with the
    caller's transaction; no history row (the history keeps its back-dated order)."""
    from ..models import STAFF_ROLES, TicketEvent, User
    now = now or utcnow()
    ticket.sla_paused_seconds, ticket.sla_paused_since, ticket.sla_cycle = 0, None, 1
    ticket.first_response_breached = ticket.resolution_breached = ticket.next_update_due_at = None
    chosen, cal = await applicable(session, ticket)
    _apply(ticket, chosen, cal, now)
    if chosen is None or cal is None:
        return
    replies = list((await session.execute(
        select(TicketEvent.created_at).join(User, TicketEvent.actor_id == User.id)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.MESSAGE,
               TicketEvent.is_internal.is_(False), User.role.in_(list(STAFF_ROLES)))
        .order_by(TicketEvent.created_at))).scalars())
    if replies and ticket.first_response_due_at is not None:
        ticket.first_response_at = replies[0]
        ticket.first_response_breached = replies[0] > ticket.first_response_due_at
        if chosen.update_minutes:
            ticket.next_update_due_at = add_business_time(cal, replies[-1], timedelta(minutes=chosen.update_minutes))
    if ticket.status in (Status.RESOLVED, Status.CLOSED) and ticket.resolved_at is not None:
        ticket.sla_paused_since = ticket.resolved_at
        if ticket.resolution_due_at is not None:
            ticket.resolution_breached = ticket.resolved_at > ticket.resolution_due_at
    if ticket.status in CLOCK_RUNNING:  # targets passed while nobody acted: breached (no history row: back-dated)
        for flag, due in (('first_response_breached', ticket.first_response_due_at),
                          ('resolution_breached', ticket.resolution_due_at)):
            if getattr(ticket, flag) is None and due is not None and due <= now:
                setattr(ticket, flag, True)


async def recompute_open(*, organisation_id: int | None = None, batch: int = 500) -> int:
    """The clocks of every ticket still worked on (of one organisation: its tier changed) computed again under the
    policies as they are now, each in its own system write, announced as a field change so open screens re-read
    (no history row). Returns how many changed."""
    from .. import db
    from ..events import TicketChanged
    from ..models import ACTIVE_STATUSES
    changed = 0
    last = 0
    while True:
        query = select(Ticket.id).where(Ticket.status.in_(ACTIVE_STATUSES), Ticket.id > last)
        if organisation_id is not None:
            query = query.where(Ticket.organisation_id == organisation_id)
        async with db.session() as s:
            ids = list((await s.execute(query.order_by(Ticket.id).limit(batch))).scalars())
        if not ids:
            return changed
        for ticket_id in ids:
            try:
                async with system_write(ticket_id) as w:
                    if await recompute(w):
                        changed += 1
                        w.uow.publish_after_commit(TicketChanged(ticket_id=ticket_id, kind='field_change',
                                                                 actor_id=None, fields=tuple(w.fields)))
            except NotFound:
                continue
        last = ids[-1]
