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

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db
from ..bus import get_bus
from ..errors import NotFound
from ..events import TicketChanged
from ..models import (
    CLOCK_RUNNING,
    BusinessCalendar,
    EventKind,
    Organisation,
    SlaClockJob,
    SlaPolicy,
    Status,
    Ticket,
    utcnow,
)
from ..queries import sla as sla_queries
from ..sla import policy as engine
from ..sla.calendar import Calendar, CalendarError, add_business_time
from . import config_cache
from .ticket_write import TicketWrite, system_write

log = logging.getLogger(__name__)

RECOMPUTE_FIELDS = frozenset({'priority_id', 'type_id', 'service_id', 'queue_id', 'channel', 'customer_id',
                              'organisation_id'})
SLA_FIELDS = ('sla_policy_id', 'first_response_due_at', 'resolution_due_at', 'next_update_due_at',
              'sla_paused_since', 'first_response_breached', 'resolution_breached', 'next_update_breached')
HISTORY_FIELD = 'sla'  # history rows of the clock (staff only: not in visibility.FIELDS)


def _fmt(at: datetime | None) -> str:
    return f'{at:%Y-%m-%d %H:%M} UTC' if at else '—'


_calendar = config_cache.parse_calendar  # Calendar.from_dict remembered by the definition's text


async def load_rules(session: AsyncSession) -> tuple[list[engine.PolicyRule], dict[int, Calendar]]:
    """The active policies in order and the calendars they use (a calendar that no longer reads is left out:
    its policies then never apply, rather than breaking every ticket write)."""
    calendars: dict[int, Calendar] = {}
    for row in (await session.execute(select(BusinessCalendar))).scalars():
        try:
            calendars[row.id] = _calendar(row.definition)
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
    config = await config_cache.current(session)  # the active policies and calendars (one version read per unit)
    rules, calendars = list(config.sla_rules), config.calendars
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


def _after(cal: Calendar, start: datetime, duration: timedelta, what: str) -> datetime | None:
    """``duration`` of working time after ``start``; None (no due time) when the calendar cannot reach it (more
    than ``MAX_AHEAD_DAYS`` ahead): a ticket is never refused, nor a write undone, for its clock."""
    try:
        return add_business_time(cal, start, duration)
    except CalendarError as e:
        log.warning('no %s due time: %s', what, e)
        return None


def _apply(ticket: Ticket, chosen: engine.PolicyRule | None, cal: Calendar | None, now: datetime) -> None:
    """Set the policy and the due times on the ticket object (written with the unit of work)."""
    if chosen is None or cal is None:
        ticket.sla_policy_id = None
        ticket.first_response_due_at = ticket.resolution_due_at = ticket.next_update_due_at = None
        return
    base = timedelta(seconds=max(0, ticket.sla_paused_seconds or 0))
    ticket.sla_policy_id = chosen.id
    ticket.first_response_due_at = _after(cal, ticket.created_at,
                                          timedelta(minutes=chosen.first_response_minutes) + base, 'first response')
    ticket.resolution_due_at = _after(cal, ticket.created_at, timedelta(minutes=chosen.resolution_minutes) + base,
                                      'resolution')
    if chosen.update_minutes is None:
        ticket.next_update_due_at = None
    elif ticket.first_response_at is not None and ticket.next_update_due_at is None:
        ticket.next_update_due_at = _after(cal, now, timedelta(minutes=chosen.update_minutes), 'update')


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
            ticket.next_update_due_at = _after(cal, now, timedelta(minutes=update_minutes), 'update')
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
        ticket.next_update_breached = None  # "update every N" is decided per cycle too
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
                due = ticket.next_update_due_at
                if due is not None and ticket.next_update_breached is not True and ticket.status != Status.CLOSED:
                    ticket.next_update_breached = answered > due  # this interval met (False) or late (True)
                ticket.next_update_due_at = _after(cal, now, timedelta(minutes=update_minutes), 'update')
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
                                ('resolution_breached', Ticket.resolution_due_at, 'Resolution'),
                                ('next_update_breached', Ticket.next_update_due_at, 'Next update')):
        column = getattr(Ticket, flag)
        # "update every N" is pending while no interval was late this cycle (None or False: all met so far)
        pending = column.is_not(True) if flag == 'next_update_breached' else column.is_(None)
        result = cast(CursorResult[Any], await w.session.execute(
            update(Ticket).where(Ticket.id == ticket.id, pending, due_col <= now,
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
    ticket.next_update_breached = None
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
            ticket.next_update_due_at = _after(cal, replies[-1], timedelta(minutes=chosen.update_minutes), 'update')
    if ticket.status in (Status.RESOLVED, Status.CLOSED) and ticket.resolved_at is not None:
        ticket.sla_paused_since = ticket.resolved_at
        if ticket.resolution_due_at is not None:
            ticket.resolution_breached = ticket.resolved_at > ticket.resolution_due_at
    if ticket.status in CLOCK_RUNNING:  # targets passed while nobody acted: breached (no history row: back-dated)
        for flag, due in (('first_response_breached', ticket.first_response_due_at),
                          ('resolution_breached', ticket.resolution_due_at)):
            if getattr(ticket, flag) is None and due is not None and due <= now:
                setattr(ticket, flag, True)


# --- work on many clocks: the escalation worker's batches ---------------------------------------------------------

RECOMPUTE, UPGRADE = 'recompute', 'upgrade'
JOB_BATCH = 1000


async def request_recompute(session: AsyncSession, *, reason: str, organisation_id: int | None = None,
                            now: datetime | None = None) -> SlaClockJob:
    """Inside an admin's change (its transaction): mark the open tickets' clocks (of one organisation) for a
    recompute by the escalation worker, so the save returns at once. A pending recompute of the same scope starts
    over (the policies changed again under it); a new recompute of everything supersedes the pending ones of one
    organisation. Publish ``SlaRecomputeRequested`` after the commit to wake the worker."""
    from ..models import ACTIVE_STATUSES
    now = now or utcnow()
    pending = list((await session.execute(select(SlaClockJob).where(
        SlaClockJob.kind == RECOMPUTE, SlaClockJob.finished_at.is_(None)))).scalars())
    count = select(func.count()).select_from(Ticket).where(Ticket.status.in_(ACTIVE_STATUSES))
    if organisation_id is not None:
        count = count.where(Ticket.organisation_id == organisation_id)
    total = (await session.execute(count)).scalar_one()
    job: SlaClockJob | None = None
    for other in pending:
        if other.organisation_id == organisation_id:
            job = other
        elif organisation_id is None:
            other.finished_at = now  # superseded: everything is recomputed anyway
            other.reason = f'{other.reason} (superseded)'[:300]
    if job is None:
        job = SlaClockJob(kind=RECOMPUTE, organisation_id=organisation_id)
        session.add(job)
    job.reason, job.requested_at, job.anchor_at = reason[:300], now, now
    job.after_id, job.done, job.changed, job.total = 0, 0, 0, total
    await session.flush()
    return job


async def request_upgrade(session: AsyncSession, *, at: datetime | None = None) -> SlaClockJob:
    """Mark the open tickets created before ``at`` that have no due times yet (from before the clock existed) to get
    them counted from ``at`` (migration 0009c does this at the upgrade; the worker carries it out once)."""
    from ..models import ACTIVE_STATUSES
    at = at or utcnow()
    total = (await session.execute(select(func.count()).select_from(Ticket).where(
        Ticket.status.in_(ACTIVE_STATUSES), Ticket.first_response_due_at.is_(None),
        Ticket.resolution_due_at.is_(None)))).scalar_one()
    job = SlaClockJob(kind=UPGRADE, reason='Upgrade: open tickets get due times counted from now', anchor_at=at,
                      requested_at=at, after_id=0, done=0, changed=0, total=total)
    session.add(job)
    await session.flush()
    return job


@dataclass
class JobsRun:
    batches: int = 0
    changed: list[int] = field(default_factory=list)  # tickets whose clock changed
    finished: int = 0                                  # jobs finished in this run
    pending: bool = False                              # work is left (the worker comes back at once)


async def run_clock_jobs(now: datetime | None = None, *, batch: int = JOB_BATCH,
                         max_batches: int | None = None) -> JobsRun:
    """Do the pending clock jobs (the upgrade first, then recomputes in order), ``batch`` tickets per transaction,
    at most ``max_batches`` (None: until none is left). Each batch reads its tickets in one query, computes their
    clocks under the policies as they are now and writes the changed ones in one statement, with the job's progress
    (``after_id``) in the same transaction: a crash or restart resumes after the last committed batch. Changed
    tickets are announced (``TicketChanged``, field ``sla``) after each commit, so open screens re-read."""
    run = JobsRun()
    while max_batches is None or run.batches < max_batches:
        async with db.session() as s:
            job_id = (await s.execute(select(SlaClockJob.id).where(SlaClockJob.finished_at.is_(None))
                                      .order_by((SlaClockJob.kind != UPGRADE), SlaClockJob.id).limit(1))) \
                .scalar_one_or_none()
        if job_id is None:
            return run
        changed, finished = await _job_batch(job_id, now or utcnow(), batch)
        run.batches += 1
        run.changed += changed
        run.finished += int(finished)
        bus = get_bus()
        for ticket_id in changed:
            await bus.publish(TicketChanged(ticket_id=ticket_id, kind='field_change', actor_id=None,
                                            fields=(HISTORY_FIELD,)))
    async with db.session() as s:
        run.pending = (await s.execute(select(SlaClockJob.id).where(SlaClockJob.finished_at.is_(None))
                                       .limit(1))).first() is not None
    return run


_JOB_COLUMNS = (Ticket.id, Ticket.version, Ticket.status, Ticket.created_at, Ticket.priority_id, Ticket.type_id,
                Ticket.service_id, Ticket.queue_id, Ticket.channel, Organisation.tier, Ticket.sla_policy_id,
                Ticket.first_response_due_at, Ticket.resolution_due_at, Ticket.next_update_due_at,
                Ticket.sla_paused_seconds, Ticket.sla_paused_since, Ticket.first_response_at,
                Ticket.first_response_breached)
_JOB_WRITTEN = ('sla_policy_id', 'first_response_due_at', 'resolution_due_at', 'next_update_due_at',
                'sla_paused_seconds', 'sla_paused_since', 'first_response_breached')


def _job_clock(job: SlaClockJob, r: Any, chosen: engine.PolicyRule | None, cal: Calendar | None,
               now: datetime) -> dict[str, Any]:
    """The clock columns of one ticket after the job (the same rules as ``_apply``; the upgrade counts from the
    job's anchor: the business time before it joins the paused time)."""
    out = {k: getattr(r, k) for k in _JOB_WRITTEN}
    if chosen is None or cal is None:
        if job.kind == RECOMPUTE:
            out.update(sla_policy_id=None, first_response_due_at=None, resolution_due_at=None,
                       next_update_due_at=None)
        return out
    paused = r.sla_paused_seconds or 0
    start = now
    if job.kind == UPGRADE:
        start = job.anchor_at
        paused += engine.paused_between(cal, r.created_at, job.anchor_at)
        out['sla_paused_seconds'] = paused
        if r.status == Status.WAITING and r.sla_paused_since is None:
            out['sla_paused_since'] = job.anchor_at  # waiting for the customer already: the clock stands still
        if r.first_response_at is not None and r.first_response_breached is None:
            out['first_response_breached'] = False  # answered before any target existed
    base = timedelta(seconds=max(0, paused))
    out['sla_policy_id'] = chosen.id
    out['first_response_due_at'] = _after(cal, r.created_at, timedelta(minutes=chosen.first_response_minutes) + base,
                                          'first response')
    out['resolution_due_at'] = _after(cal, r.created_at, timedelta(minutes=chosen.resolution_minutes) + base,
                                      'resolution')
    if chosen.update_minutes is None:
        out['next_update_due_at'] = None
    elif r.first_response_at is not None and r.next_update_due_at is None:
        out['next_update_due_at'] = _after(cal, start, timedelta(minutes=chosen.update_minutes), 'update')
    return out


async def _job_batch(job_id: int, now: datetime, batch: int) -> tuple[list[int], bool]:
    """One batch of a clock job in one transaction (see ``run_clock_jobs``): the changed ticket ids, and whether
    the job finished."""
    from ..models import ACTIVE_STATUSES
    t = cast(Any, Ticket.__table__)
    write = t.update().where(t.c.id == bindparam('b_id'), t.c.version == bindparam('b_version')) \
        .values({k: bindparam(f'b_{k}') for k in _JOB_WRITTEN})
    async with db.write_lock(), db.session() as s, s.begin():
        job = await s.get(SlaClockJob, job_id)
        if job is None or job.finished_at is not None:
            return [], False
        rules, calendars = await load_rules(s)
        query = (select(*_JOB_COLUMNS).outerjoin(Organisation, Organisation.id == Ticket.organisation_id)
                 .where(Ticket.status.in_(ACTIVE_STATUSES), Ticket.id > job.after_id))
        if job.organisation_id is not None:
            query = query.where(Ticket.organisation_id == job.organisation_id)
        if job.kind == UPGRADE:
            query = query.where(Ticket.created_at < job.anchor_at, Ticket.sla_policy_id.is_(None),
                                Ticket.first_response_due_at.is_(None), Ticket.resolution_due_at.is_(None))
        # PostgreSQL: the batch's rows are locked until it commits, so a ticket write in between waits and then
        # computes from these clocks; elsewhere the version guard below skips a ticket changed meanwhile
        if db.is_sqlite():  # the scan on a reader's thread: the write lock's holder runs inline on the event loop
            async with db.reader() as scan:
                rows = (await scan.execute(query.order_by(Ticket.id).limit(batch))).all()
        else:
            rows = (await s.execute(query.order_by(Ticket.id).limit(batch).with_for_update(of=Ticket))).all()
        if not rows:
            job.finished_at = now
            return [], True
        params = []
        for r in rows:
            chosen = engine.first_match(rules, engine.Facts(
                priority_id=r.priority_id, type_id=r.type_id, tier=r.tier, service_id=r.service_id,
                queue_id=r.queue_id, channel=r.channel))
            cal = calendars.get(chosen.calendar_id) if chosen is not None else None
            after = _job_clock(job, r, chosen, cal, now)
            if any(after[k] != getattr(r, k) for k in _JOB_WRITTEN):
                params.append({'b_id': r.id, 'b_version': r.version, **{f'b_{k}': v for k, v in after.items()}})
        if params:
            await s.execute(write, params)
        job.after_id = rows[-1].id
        job.done += len(rows)
        job.changed += len(params)
        finished = len(rows) < batch
        if finished:
            job.finished_at = now
    return [p['b_id'] for p in params], finished
