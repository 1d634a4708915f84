"""Read models of the SLA clock: what is due (the breach recorder, the escalation worker), a ticket's SLA panel, the
due cell of a work-list row, and the admin page's calendars and policies.

Staff only: a customer gets nothing from here (``ticket_sla`` answers None; the portal and the API never call it).
The countdowns are drawn by the browser from ``due_at`` and ``risk_at`` (components/sla_badge.py); a paused clock
carries its frozen ``remaining_s`` instead.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, false, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db
from ..models import CLOCK_RUNNING, BusinessCalendar, SlaClockJob, SlaPolicy, Status, Ticket, User, utcnow
from ..sla import policy as engine
from ..sla.calendar import Calendar, CalendarError, business_time_between
from . import lookups

RUNNING, PAUSED, MET, BREACHED, STOPPED = 'running', 'paused', 'met', 'breached', 'stopped'


def pending_targets() -> list[tuple[Any, Any]]:
    """(condition on the flag, due column) of each pending target, each an equality on a ``*_pending`` index:
    first response and resolution while undecided (None); "update every N" while no interval was late this cycle
    (None, or False: every one so far met)."""
    return [(Ticket.first_response_breached.is_(None), Ticket.first_response_due_at),
            (Ticket.resolution_breached.is_(None), Ticket.resolution_due_at),
            (Ticket.next_update_breached.is_(None), Ticket.next_update_due_at),
            # "= false", not "IS false": PostgreSQL reads an index only for the former (IS false scanned the table)
            (Ticket.next_update_breached == false(), Ticket.next_update_due_at)]


async def breach_candidates(now: datetime, *, limit: int = 500) -> list[int]:
    """Tickets whose clock runs and a pending target is due at ``now`` (an index range read per target)."""
    query = union(*(select(Ticket.id).where(Ticket.status.in_(CLOCK_RUNNING), due <= now, flag,
                                            Ticket.sla_paused_since.is_(None))
                    for flag, due in pending_targets())).limit(limit)
    async with db.session() as s:
        return sorted((await s.execute(query)).scalars())


async def next_due(now: datetime | None = None) -> datetime | None:
    """The earliest pending due time of a running clock (when the breach recorder has work next)."""
    async with db.session() as s:
        times = []
        for flag, due in pending_targets():
            times.append((await s.execute(select(due).where(Ticket.status.in_(CLOCK_RUNNING), flag,
                                                            due.is_not(None), Ticket.sla_paused_since.is_(None))
                                          .order_by(due).limit(1))).scalar_one_or_none())
    found = [t for t in times if t is not None]
    return min(found) if found else None


@dataclass
class TargetView:
    """One target of a ticket as a countdown shows it."""
    name: str                     # First response, Resolution, Next update
    state: str                    # running, paused, met, breached, stopped (resolved/closed, pending none)
    due_at: datetime | None
    risk_at: datetime | None      # from here on amber (less than 25 % of the target left)
    target_minutes: int | None
    remaining_s: int | None = None  # a paused clock: business seconds left, frozen
    record: str | None = None       # "update every N": MET (every interval so far on time) / BREACHED (one late)
    done: bool = False              # decided for good (a first response answered late): no longer counting


@dataclass
class SlaView:
    policy: str | None
    calendar: str
    status: str
    paused_since: datetime | None
    paused_seconds: int
    cycle: int
    escalation_level: int
    targets: list[TargetView] = field(default_factory=list)

    @property
    def main(self) -> TargetView | None:
        """The target a list shows: the one due first among those still counting (breached ones too while the
        clock runs, paused ones while it waits), else the last one."""
        running = self.status in CLOCK_RUNNING and self.paused_since is None
        counting = [t for t in self.targets if t.due_at is not None and not t.done
                    and (t.state in (RUNNING, PAUSED) or (t.state == BREACHED and running))]
        if counting:
            return min(counting, key=lambda t: t.due_at or datetime.max)
        return self.targets[-1] if self.targets else None


@dataclass(frozen=True)
class _Policy:
    name: str
    calendar: Calendar | None
    calendar_name: str
    first_response_minutes: int
    resolution_minutes: int
    update_minutes: int | None


async def _all_policies(session: AsyncSession) -> dict[int, _Policy]:
    """Every policy with its calendar, kept by this process for a moment (``lookups.py``: a commit of this process
    that writes a policy or a calendar drops the copy): each SLA card and work list read them again before.
    Read in the caller's session: a second connection while the caller holds one, for thirty pages at once, emptied
    the pool and every page waited for its timeout."""
    async def load() -> dict[int, _Policy]:
        out: dict[int, _Policy] = {}
        rows = (await session.execute(
            select(SlaPolicy, BusinessCalendar.name, BusinessCalendar.definition)
            .join(BusinessCalendar, SlaPolicy.calendar_id == BusinessCalendar.id))).all()
        for p, cal_name, definition in rows:
            try:
                cal: Calendar | None = Calendar.from_dict(definition)
            except CalendarError:
                cal = None
            out[p.id] = _Policy(p.name, cal, cal_name, p.first_response_minutes, p.resolution_minutes,
                                p.update_minutes)
        return out
    return await lookups.kept(('sla_policies',), load, copy=False)  # read only: every caller shares one copy


async def _policies(session: AsyncSession, ids: Iterable[int]) -> dict[int, _Policy]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    policies = await _all_policies(session)
    return {i: policies[i] for i in wanted if i in policies}


def _target(name: str, due: datetime | None, breached: bool | None, minutes: int | None, t: Any, pol: _Policy,
            now: datetime) -> TargetView:
    if due is None or minutes is None:
        return TargetView(name, STOPPED, None, None, minutes)
    cal = pol.calendar
    risk = engine.risk_moment(cal, t.created_at, t.sla_paused_seconds or 0, minutes) if cal else None
    if breached is True:
        return TargetView(name, BREACHED, due, risk, minutes)
    if breached is False:
        return TargetView(name, MET, due, risk, minutes)
    if t.sla_paused_since is not None:
        left = int(business_time_between(cal, t.sla_paused_since, due).total_seconds()) if cal else None
        state = STOPPED if t.status in (Status.RESOLVED, Status.CLOSED) else PAUSED
        return TargetView(name, state, due, risk, minutes, remaining_s=left)
    if t.status not in CLOCK_RUNNING:
        return TargetView(name, STOPPED, due, risk, minutes)
    return TargetView(name, RUNNING, due, risk, minutes)


def _view(t: Any, pol: _Policy | None, now: datetime) -> SlaView | None:
    if pol is None:
        return None
    first = _target('First response', t.first_response_due_at, t.first_response_breached,
                    pol.first_response_minutes, t, pol, now)
    first.done = t.first_response_breached is True and t.first_response_at is not None  # answered, but late
    targets = [first,
               _target('Resolution', t.resolution_due_at, t.resolution_breached, pol.resolution_minutes, t, pol,
                       now)]
    if pol.update_minutes and t.next_update_due_at is not None and t.first_response_breached is not None:
        running = t.status in CLOCK_RUNNING and t.sla_paused_since is None
        state = RUNNING if running else PAUSED
        if t.status in (Status.RESOLVED, Status.CLOSED):
            state = STOPPED
        elif running and t.next_update_breached is True and t.next_update_due_at <= now:
            state = BREACHED  # overdue now, recorded
        record = {True: BREACHED, False: MET}.get(t.next_update_breached)
        targets.append(TargetView('Next update', state, t.next_update_due_at, None, pol.update_minutes,
                                  record=record))
    return SlaView(policy=pol.name, calendar=(pol.calendar.describe() if pol.calendar else pol.calendar_name),
                   status=t.status, paused_since=t.sla_paused_since, paused_seconds=t.sla_paused_seconds or 0,
                   cycle=t.sla_cycle or 1, escalation_level=t.escalation_level or 0, targets=targets)


_COLUMNS = (Ticket.id, Ticket.status, Ticket.created_at, Ticket.sla_policy_id, Ticket.first_response_due_at,
            Ticket.resolution_due_at, Ticket.next_update_due_at, Ticket.sla_paused_since, Ticket.sla_paused_seconds,
            Ticket.sla_cycle, Ticket.first_response_breached, Ticket.resolution_breached, Ticket.next_update_breached,
            Ticket.escalation_level, Ticket.first_response_at)
# built once (building the statement and its cache key was ~1 % of the server under desk_load.py)
_CLOCKS = select(*_COLUMNS).where(Ticket.id.in_(bindparam('ids', expanding=True)))


async def views(session: AsyncSession, ticket_ids: Iterable[int]) -> dict[int, SlaView]:
    """The SLA views of some tickets (a work-list page): one read of their clock columns and one of the policies."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    rows = (await session.execute(_CLOCKS, {'ids': ids})).all()
    policies = await _policies(session, (r.sla_policy_id for r in rows))
    now = utcnow()
    out = {}
    for r in rows:
        view = _view(r, policies.get(r.sla_policy_id), now)
        if view is not None:
            out[r.id] = view
    return out


async def ticket_sla(viewer: User, ticket_id: int) -> SlaView | None:
    """A ticket's SLA for the staff's panel; None for customers (they see none of it) and without a policy."""
    if not auth.is_staff(viewer):
        return None
    async with db.quick() as s:
        return (await views(s, [ticket_id])).get(ticket_id)


# --- the admin page ------------------------------------------------------------------------------------------------

@dataclass
class CalendarRow:
    id: int
    name: str
    definition: dict[str, Any]
    description: str
    used_by: int


@dataclass
class PolicyRow:
    id: int
    name: str
    position: int
    active: bool
    conditions: dict[str, Any]
    calendar_id: int
    calendar: str
    first_response_minutes: int
    resolution_minutes: int
    update_minutes: int | None


async def admin_lists() -> tuple[list[CalendarRow], list[PolicyRow]]:
    async with db.session() as s:
        policies = list((await s.execute(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id))).scalars())
        calendars = list((await s.execute(select(BusinessCalendar).order_by(BusinessCalendar.name))).scalars())
    names = {c.id: c.name for c in calendars}
    cal_rows = []
    for c in calendars:
        try:
            description = Calendar.from_dict(c.definition).describe()
        except CalendarError as exc:
            description = f'unreadable: {exc}'
        cal_rows.append(CalendarRow(c.id, c.name, dict(c.definition), description,
                                    sum(1 for p in policies if p.calendar_id == c.id)))
    pol_rows = [PolicyRow(p.id, p.name, p.position, p.active, dict(p.conditions or {}), p.calendar_id,
                          names.get(p.calendar_id, '?'), p.first_response_minutes, p.resolution_minutes,
                          p.update_minutes) for p in policies]
    return cal_rows, pol_rows



@dataclass
class PolicyChoices:
    """What the policy form offers (ids → names); priorities of every scale, named with their scale."""
    priorities: dict[int, str]
    types: dict[int, str]
    services: dict[int, str]
    queues: dict[int, str]
    tiers: list[str]


async def policy_choices(extra_tiers: Iterable[str] = ()) -> PolicyChoices:
    from ..models import Organisation, Priority, PriorityScale, Queue, Service, TicketType
    async with db.session() as s:
        priorities = {pid: f'{scale} · {name}' for pid, scale, name in (await s.execute(
            select(Priority.id, PriorityScale.name, Priority.name).join(PriorityScale)
            .order_by(PriorityScale.is_active.desc(), PriorityScale.id, Priority.rank))).all()}
        types = dict((await s.execute(select(TicketType.id, TicketType.name).order_by(TicketType.position))).all())
        services = dict((await s.execute(select(Service.id, Service.name).order_by(Service.name))).all())
        queues = dict((await s.execute(select(Queue.id, Queue.name).order_by(Queue.name))).all())
        tiers = set((await s.execute(select(Organisation.tier).distinct())).scalars())
    return PolicyChoices(priorities, types, services, queues, sorted(tiers | set(extra_tiers)))


@dataclass
class ClockJobView:
    """A recompute of many clocks as the admin page shows it (``services/sla.run_clock_jobs`` does it)."""
    kind: str
    reason: str
    done: int
    total: int
    changed: int
    requested_at: datetime
    finished_at: datetime | None

    @property
    def percent(self) -> int:
        return 100 if self.finished_at is not None or not self.total else min(99, 100 * self.done // self.total)


async def clock_jobs(*, recent: int = 1) -> list[ClockJobView]:
    """The pending clock jobs (oldest first) and the ``recent`` last finished ones."""
    async with db.session() as s:
        pending = list((await s.execute(select(SlaClockJob).where(SlaClockJob.finished_at.is_(None))
                                        .order_by(SlaClockJob.id))).scalars())
        finished = list((await s.execute(select(SlaClockJob).where(SlaClockJob.finished_at.is_not(None))
                                         .order_by(SlaClockJob.finished_at.desc(), SlaClockJob.id.desc())
                                         .limit(recent))).scalars())
    return [ClockJobView(j.kind, j.reason, j.done, max(j.total, j.done), j.changed, j.requested_at, j.finished_at)
            for j in pending + finished]
