"""The manager dashboard's figures, from five aggregate queries over the ticket indexes.

Computed by one process-wide task per change burst (components/dashboard_feed.py), never per watching manager.
"""
from __future__ import annotations

import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from .. import auth, db
from ..models import Priority, Queue, Status, Ticket, User, utcnow

WORKABLE = (Status.OPEN.value, Status.IN_PROGRESS.value, Status.WAITING.value)  # waiting for the customer: still open
DAYS = 14
OLDEST = 8
# unassigned open tickets by age: (label, upper bound)
AGE_BUCKETS: list[tuple[str, timedelta | None]] = [
    ('< 1 h', timedelta(hours=1)), ('1–4 h', timedelta(hours=4)), ('4–24 h', timedelta(days=1)),
    ('1–3 d', timedelta(days=3)), ('3–7 d', timedelta(days=7)), ('> 7 d', None),
]


@dataclass
class Count:
    key: int | str | None
    label: str
    count: int
    color: str = 'grey'
    extra: int = 0  # by queue: unassigned; by assignee: in progress


@dataclass
class OldTicket:
    id: int
    reference: str
    title: str
    status: str
    priority: str
    priority_color: str
    queue: str
    assignee: str
    created_at: datetime


@dataclass
class SlaCount:
    label: str
    breached: int = 0
    at_risk: int = 0
    escalated: int = 0


@dataclass
class SlaFigures:
    """Service levels: targets met (of those decided — first response, resolution, "update every N" — tickets
    created in the last 7 / 30 days), open tickets with a breached target now, at risk (a pending target due within
    the hour, clock running), escalated (level 1+), open tickets with an update late this cycle."""
    met_7: float | None = None
    met_30: float | None = None
    decided_7: int = 0
    decided_30: int = 0
    breached_now: int = 0
    at_risk: int = 0
    escalated: int = 0
    updates_late: int = 0
    by_queue: list[SlaCount] = field(default_factory=list)
    by_priority: list[SlaCount] = field(default_factory=list)


@dataclass
class Dashboard:
    computed_at: datetime
    took_ms: float
    open_total: int = 0
    unassigned_total: int = 0
    by_status: list[Count] = field(default_factory=list)
    by_priority: list[Count] = field(default_factory=list)
    by_queue: list[Count] = field(default_factory=list)
    by_assignee: list[Count] = field(default_factory=list)
    unassigned_age: list[Count] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    created_per_day: list[int] = field(default_factory=list)
    resolved_per_day: list[int] = field(default_factory=list)
    oldest: list[OldTicket] = field(default_factory=list)
    sla: SlaFigures = field(default_factory=SlaFigures)

    def status_count(self, status: str) -> int:
        return next((c.count for c in self.by_status if c.key == status), 0)


def require_dashboard(viewer: User) -> None:
    if not auth.can_see_dashboard(viewer):
        raise auth.deny(viewer, 'see', 'the dashboard', 'Only managers and admins can see the dashboard.')


def _day(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


async def compute_dashboard(now: datetime | None = None) -> Dashboard:
    """All figures at once (a system read: the caller checks who may see them)."""
    started = clock.perf_counter()
    now = now or utcnow()
    first_day = (now - timedelta(days=DAYS - 1)).date()
    since = datetime.combine(first_day, datetime.min.time())
    bucket_expr = case(*[(Ticket.created_at > now - bound, i) for i, (_, bound) in enumerate(AGE_BUCKETS) if bound],
                       else_=len(AGE_BUCKETS) - 1)
    result = Dashboard(computed_at=now, took_ms=0)
    async with db.session() as s:
        statuses = dict((await s.execute(select(Ticket.status, func.count()).group_by(Ticket.status))).all())
        # one pass over the open tickets: by status × priority × queue × assignee (× age bucket when unassigned)
        open_tickets = (select(Ticket.status, Ticket.priority_id, Ticket.queue_id, Ticket.assignee_id,
                               case((Ticket.assignee_id.is_(None), bucket_expr), else_=-1).label('bucket'))
                        .where(Ticket.status.in_(WORKABLE)).subquery())
        c = open_tickets.c
        open_rows = (await s.execute(select(c.status, c.priority_id, c.queue_id, c.assignee_id, c.bucket, func.count())
                                     .group_by(c.status, c.priority_id, c.queue_id, c.assignee_id, c.bucket))).all()
        # func.date gives a date on PostgreSQL, an ISO string on SQLite
        created: dict[Any, int] = dict((await s.execute(select(func.date(Ticket.created_at), func.count())
                                        .where(Ticket.created_at >= since)
                                        .group_by(func.date(Ticket.created_at)))).all())
        resolved: dict[Any, int] = dict((await s.execute(select(func.date(Ticket.resolved_at), func.count())
                                         .where(Ticket.resolved_at >= since)
                                         .group_by(func.date(Ticket.resolved_at)))).all())
        oldest = (await s.execute(
            select(Ticket.id, Ticket.reference, Ticket.title, Ticket.status, Priority.name, Priority.color, Queue.name,
                   User.display_name, Ticket.created_at)
            .join(Priority, Ticket.priority_id == Priority.id)
            .outerjoin(Queue, Ticket.queue_id == Queue.id)
            .outerjoin(User, Ticket.assignee_id == User.id)
            .where(Ticket.status.in_(WORKABLE)).order_by(Ticket.created_at, Ticket.id).limit(OLDEST))).all()
        priorities = {p.id: p for p in (await s.execute(select(Priority))).scalars()}
        queues = dict((await s.execute(select(Queue.id, Queue.name))).all())
        assignee_ids = {r[3] for r in open_rows if r[3] is not None}
        names = dict((await s.execute(select(User.id, User.display_name).where(User.id.in_(assignee_ids))))
                     .all()) if assignee_ids else {}
        result.sla = await _sla_figures(s, now, priorities, queues)

    result.by_status = [Count(key=st.value, label=st.label, count=statuses.get(st.value, 0)) for st in Status]
    by_priority: dict[int, int] = {}
    by_queue: dict[int | None, list[int]] = {}
    by_assignee: dict[int, list[int]] = {}
    ages = [0] * len(AGE_BUCKETS)
    for status, priority_id, queue_id, assignee_id, bucket, count in open_rows:
        result.open_total += count
        by_priority[priority_id] = by_priority.get(priority_id, 0) + count
        q = by_queue.setdefault(queue_id, [0, 0])
        q[0] += count
        if assignee_id is None:
            q[1] += count
            result.unassigned_total += count
            ages[bucket] += count
        else:
            a = by_assignee.setdefault(assignee_id, [0, 0])
            a[0] += count
            if status == Status.IN_PROGRESS:
                a[1] += count
    result.by_priority = sorted(
        (Count(key=pid, label=priorities[pid].name if pid in priorities else f'#{pid}', count=n,
               color=priorities[pid].color if pid in priorities else 'grey') for pid, n in by_priority.items()),
        key=lambda c: (priorities[c.key].rank if c.key in priorities else 99, c.label))
    result.by_queue = sorted((Count(key=qid, label=queues.get(qid, 'No queue') if qid else 'No queue', count=v[0],
                                    extra=v[1]) for qid, v in by_queue.items()), key=lambda c: (-c.count, c.label))
    result.by_assignee = sorted((Count(key=uid, label=names.get(uid, f'#{uid}'), count=v[0], extra=v[1])
                                 for uid, v in by_assignee.items()), key=lambda c: (-c.count, c.label))
    result.unassigned_age = [Count(key=i, label=label, count=ages[i]) for i, (label, _) in enumerate(AGE_BUCKETS)]
    created_by_day = {_day(k): v for k, v in created.items()}
    resolved_by_day = {_day(k): v for k, v in resolved.items()}
    result.days = [(first_day + timedelta(days=i)).isoformat() for i in range(DAYS)]
    result.created_per_day = [created_by_day.get(d, 0) for d in result.days]
    result.resolved_per_day = [resolved_by_day.get(d, 0) for d in result.days]
    result.oldest = [OldTicket(id=r[0], reference=r[1], title=r[2], status=r[3], priority=r[4], priority_color=r[5],
                               queue=r[6] or '', assignee=r[7] or '', created_at=r[8]) for r in oldest]
    result.took_ms = (clock.perf_counter() - started) * 1000
    return result


async def _sla_figures(s: Any, now: datetime, priorities: dict[int, Priority], queues: dict[int, str]) -> SlaFigures:
    """Two aggregate reads: targets met of the last 30 days' tickets (``created_at`` index), and the open tickets'
    breached / at risk / escalated by queue and priority (one pass, like the counts above)."""
    figures = SlaFigures()
    week, month = now - timedelta(days=7), now - timedelta(days=30)

    def counted(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
    decided = []
    for since in (week, month):
        recent = Ticket.created_at >= since
        decided += [counted(recent & Ticket.first_response_breached.is_(False)),
                    counted(recent & Ticket.first_response_breached.is_(True)),
                    counted(recent & Ticket.resolution_breached.is_(False)),
                    counted(recent & Ticket.resolution_breached.is_(True)),
                    counted(recent & Ticket.next_update_breached.is_(False)),
                    counted(recent & Ticket.next_update_breached.is_(True))]
    counts = (await s.execute(select(*decided).where(Ticket.created_at >= month))).one()
    for days, (met, late, rmet, rlate, umet, ulate) in ((7, counts[:6]), (30, counts[6:])):
        total = met + late + rmet + rlate + umet + ulate
        setattr(figures, f'decided_{days}', total)
        setattr(figures, f'met_{days}', round(100 * (met + rmet + umet) / total, 1) if total else None)
    soon = now + timedelta(hours=1)
    running = Ticket.sla_paused_since.is_(None)
    update_late = Ticket.next_update_breached.is_(True)
    breached = Ticket.first_response_breached.is_(True) | Ticket.resolution_breached.is_(True) \
        | (update_late & running & (Ticket.next_update_due_at <= now))
    at_risk = running & (
        (Ticket.first_response_breached.is_(None) & (Ticket.first_response_due_at > now)
         & (Ticket.first_response_due_at <= soon))
        | (Ticket.resolution_breached.is_(None) & (Ticket.resolution_due_at > now)
           & (Ticket.resolution_due_at <= soon))
        | (Ticket.next_update_breached.is_not(True) & (Ticket.next_update_due_at > now)
           & (Ticket.next_update_due_at <= soon)))
    rows = (await s.execute(
        select(Ticket.queue_id, Ticket.priority_id, counted(breached), counted(at_risk),
               counted(Ticket.escalation_level >= 1), counted(update_late))
        .where(Ticket.status.in_(WORKABLE)).group_by(Ticket.queue_id, Ticket.priority_id))).all()
    by_queue: dict[int | None, SlaCount] = {}
    by_priority: dict[int, SlaCount] = {}
    for queue_id, priority_id, n_breached, n_risk, n_escalated, n_late in rows:
        figures.updates_late += n_late
        figures.breached_now += n_breached
        figures.at_risk += n_risk
        figures.escalated += n_escalated
        for key, store, label in ((queue_id, by_queue, queues.get(queue_id, 'No queue') if queue_id else 'No queue'),
                                  (priority_id, by_priority, priorities[priority_id].name
                                   if priority_id in priorities else f'#{priority_id}')):
            entry = store.setdefault(key, SlaCount(label))
            entry.breached += n_breached
            entry.at_risk += n_risk
            entry.escalated += n_escalated
    figures.by_queue = sorted((c for c in by_queue.values() if c.breached or c.at_risk or c.escalated),
                              key=lambda c: (-c.breached, -c.at_risk, c.label))
    figures.by_priority = [by_priority[p] for p in sorted(by_priority, key=lambda p: priorities[p].rank
                                                          if p in priorities else 99)
                           if by_priority[p].breached or by_priority[p].at_risk or by_priority[p].escalated]
    return figures


async def dashboard(viewer: User) -> Dashboard:
    """The figures for one viewer (managers and admins only)."""
    require_dashboard(viewer)
    return await compute_dashboard()
