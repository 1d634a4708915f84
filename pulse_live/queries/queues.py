"""Work lists for agents: each queue's unassigned line, "My tickets", and "All open" with filters, sort and pages.

Each list is one page query plus one ``count(*)`` with the same conditions and no joins; both are served by the
ticket indexes (see docs/QUERY_PLANS.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import aliased

from .. import auth, db
from ..errors import PermissionDenied, ValidationError
from ..models import (
    ACTIVE_STATUSES,
    Channel,
    Organisation,
    Priority,
    Queue,
    QueueMember,
    Service,
    Status,
    Ticket,
    TicketType,
    User,
)
from . import lookups
from . import sla as sla_queries
from .like import contains

WORKABLE = ACTIVE_STATUSES  # open, in progress, waiting for the customer
MAX_PAGE_SIZE = 100
# the days a "created" filter may name (a browser's date input lets one type up to year 275760; 9999-12-31 + 1 day
# is past what Python's dates hold)
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)

Assignee = aliased(User)


def needs_triage():
    """A ticket that needs triage: it came by e-mail and has no customer (the mail intake could not tell who sent
    it: ``PULSE_MAIL_INTAKE_UNKNOWN_SENDER``). It leaves the state when an agent sets its customer."""
    return and_(Ticket.customer_id.is_(None), Ticket.channel == Channel.EMAIL.value)


def is_triage(customer_id: int | None, channel: str | None) -> bool:
    return customer_id is None and channel == Channel.EMAIL.value


SORTS = {
    # escalated tickets first (level 3, 2, 1: the escalation worker raises it), then priority, then oldest
    'priority': (Ticket.escalation_level.desc(), Priority.rank.asc(), Ticket.created_at.asc(), Ticket.id.asc()),
    'oldest': (Ticket.created_at.asc(), Ticket.id.asc()),
    'newest': (Ticket.created_at.desc(), Ticket.id.desc()),
    'updated': (Ticket.updated_at.desc(), Ticket.id.desc()),
}
SORT_LABELS = {'priority': 'Escalated, priority, then oldest', 'oldest': 'Oldest first', 'newest': 'Newest first',
               'updated': 'Recently updated'}


@dataclass
class WorkRow:
    id: int
    reference: str
    title: str
    status: str
    priority: str
    priority_color: str
    type: str
    organisation: str
    service: str
    queue: str
    queue_id: int | None
    assignee_id: int | None
    assignee: str
    created_at: datetime
    updated_at: datetime
    sla: sla_queries.SlaView | None = None  # the Due column (staff lists only)
    needs_triage: bool = False  # see ``needs_triage()``: a badge in every list


@dataclass
class WorkPage:
    rows: list[WorkRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass
class WorkFilters:
    """Filters of the ticket list; ``status`` None means open and in progress, ``'all'`` every status."""
    status: str | None = None
    priority_id: int | None = None
    type_id: int | None = None
    queue_id: int | None = None
    assignee_id: int | None = None   # 0 = unassigned
    organisation_id: int | None = None
    service_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None   # inclusive
    search: str = ''
    triage: bool = False             # only tickets that need triage


@dataclass
class QueueSummary:
    id: int
    name: str
    description: str
    is_default: bool
    is_member: bool
    unassigned: int
    member_names: list[str] = field(default_factory=list)
    may_take: bool = True  # auth.can_take_from_queue for the viewer: an agent only on queues they work


def _require_staff(viewer: User) -> None:
    if not auth.is_staff(viewer):
        raise PermissionDenied('Only agents can see queues and work lists.')


def _rows_query():
    return (select(Ticket.id, Ticket.reference, Ticket.title, Ticket.status, Priority.name, Priority.color,
                   TicketType.name, Organisation.name, Service.name, Queue.name, Ticket.assignee_id,
                   Assignee.display_name, Ticket.created_at, Ticket.updated_at, Ticket.queue_id, Ticket.customer_id,
                   Ticket.channel)
            .join(Priority, Ticket.priority_id == Priority.id)
            .join(TicketType, Ticket.type_id == TicketType.id)
            .join(Organisation, Ticket.organisation_id == Organisation.id)
            .outerjoin(Service, Ticket.service_id == Service.id)
            .outerjoin(Queue, Ticket.queue_id == Queue.id)
            .outerjoin(Assignee, Ticket.assignee_id == Assignee.id))


async def _page(conditions: list, order_by: tuple, page: int, page_size: int, *, inline: bool = True) -> WorkPage:
    """One page of a list, with its count and the rows' SLA clocks. ``inline`` (the workable tickets, by indexed
    fields): a short read (``db.quick``; 100,000 tickets: p95 under 8 ms, ``benchmarks/queue_scale.py``), which on
    a busy SQLite server answered in ~0.2 s where a reader's thread took ~0.7–1 s (every statement's hand-overs
    waited for the loop's turns); else, a text search or a list of closed tickets (a scan), on a reader's thread."""
    page, page_size = max(1, int(page)), min(max(1, int(page_size)), MAX_PAGE_SIZE)
    async with (db.quick() if inline else db.session()) as s:
        total = (await s.execute(select(func.count()).select_from(Ticket).where(*conditions))).scalar_one()
        last_page = max(1, -(-total // page_size))
        page = min(page, last_page)
        query = _rows_query().where(*conditions).order_by(*order_by).offset((page - 1) * page_size).limit(page_size)
        rows = [WorkRow(id=r[0], reference=r[1], title=r[2], status=r[3], priority=r[4], priority_color=r[5],
                        type=r[6], organisation=r[7], service=r[8] or '', queue=r[9] or '', assignee_id=r[10],
                        assignee=r[11] or '', created_at=r[12], updated_at=r[13], queue_id=r[14],
                        needs_triage=is_triage(r[15], r[16]))
                for r in (await s.execute(query)).all()]
        clocks = await sla_queries.views(s, [r.id for r in rows])
        for row in rows:
            row.sla = clocks.get(row.id)
    return WorkPage(rows=rows, total=total, page=page, page_size=page_size)


async def queue_line(viewer: User, queue_id: int, *, page: int = 1, page_size: int = 25) -> WorkPage:
    """A queue's unassigned open tickets: escalated first (highest level), then most urgent priority, then oldest."""
    _require_staff(viewer)
    conditions = [Ticket.queue_id == queue_id, Ticket.assignee_id.is_(None), Ticket.status.in_(WORKABLE)]
    return await _page(conditions, SORTS['priority'], page, page_size)


async def my_tickets(viewer: User, *, include_resolved: bool = False, sort: str = 'priority', page: int = 1,
                     page_size: int = 25) -> WorkPage:
    """The viewer's own tickets (open and in progress; resolved too on request)."""
    _require_staff(viewer)
    statuses = WORKABLE + ((Status.RESOLVED.value,) if include_resolved else ())
    conditions = [Ticket.assignee_id == viewer.id, Ticket.status.in_(statuses)]
    return await _page(conditions, SORTS.get(sort, SORTS['priority']), page, page_size)


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time.min)


def check_day(value: date | None, label: str) -> date | None:
    """A "created" filter day, or ``ValidationError`` (clear, for the user) when it is not a day or out of range."""
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationError(f'{label}: {value!r} is not a date (YYYY-MM-DD).')
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValidationError(f'{label}: {value.isoformat()} is out of range; choose a day between '
                              f'{FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}.')
    return value


def check_dates(created_from: date | None, created_to: date | None) -> None:
    """Both "created" days valid and in order, else ``ValidationError`` (nothing is filtered by them then)."""
    check_day(created_from, 'Created from')
    check_day(created_to, 'Created to')
    if created_from and created_to and created_from > created_to:
        raise ValidationError('The “created from” date is after the “created to” date.')


async def open_tickets(viewer: User, filters: WorkFilters | None = None, *, sort: str = 'priority', page: int = 1,
                       page_size: int = 25) -> WorkPage:
    """All open tickets (or one status), filtered by any of the fields, sorted, in pages."""
    _require_staff(viewer)
    filters = filters or WorkFilters()
    conditions = filter_conditions(filters)
    short = not filters.status and not (filters.search or '').strip()  # the workable tickets, no text to scan for
    return await _page(conditions, SORTS.get(sort, SORTS['priority']), page, page_size, inline=short)


async def count_tickets(viewer: User, filters: WorkFilters) -> int:
    """How many tickets the ticket list shows with these filters (a saved view's count in the navigation)."""
    _require_staff(viewer)
    async with db.session() as s:
        return (await s.execute(select(func.count(Ticket.id)).where(*filter_conditions(filters)))).scalar_one()


def field_conditions(f, *, customer_id: int | None = None) -> list[ColumnElement[bool]]:
    """The conditions on a ticket's fields shared by the ticket list and the API's list: priority, type, queue,
    organisation, service (and customer), the assignee (0 = nobody) and the created-between days (checked)."""
    conditions: list[ColumnElement[bool]] = []
    for column, value in ((Ticket.priority_id, f.priority_id), (Ticket.type_id, f.type_id),
                          (Ticket.queue_id, f.queue_id), (Ticket.organisation_id, f.organisation_id),
                          (Ticket.service_id, f.service_id), (Ticket.customer_id, customer_id)):
        if value:
            conditions.append(column == value)
    if f.assignee_id == 0:
        conditions.append(Ticket.assignee_id.is_(None))
    elif f.assignee_id:
        conditions.append(Ticket.assignee_id == f.assignee_id)
    check_dates(f.created_from, f.created_to)
    if f.created_from:
        conditions.append(Ticket.created_at >= _day_start(f.created_from))
    if f.created_to:
        conditions.append(Ticket.created_at < _day_start(f.created_to + timedelta(days=1)))
    return conditions


def filter_conditions(f: WorkFilters) -> list[ColumnElement[bool]]:
    """The ticket list's filters as SQL conditions (``ValidationError`` for a status or days that cannot be)."""
    conditions: list[ColumnElement[bool]]
    if f.status == 'all':  # every status (the ticket list's "All statuses")
        conditions = []
    elif f.status:
        try:
            conditions = [Ticket.status == Status(f.status).value]
        except ValueError:
            raise ValidationError(f'{f.status!r} is not a status.') from None
    else:
        conditions = [Ticket.status.in_(WORKABLE)]
    conditions += field_conditions(f)
    if f.triage:
        conditions.append(needs_triage())
    term = (f.search or '').strip()
    if term:
        conditions.append(contains(Ticket.title, term[:200]) | contains(Ticket.reference, term[:200]))
    return conditions


async def queue_summaries(viewer: User) -> list[QueueSummary]:
    """Every queue with its number of unassigned open tickets; the viewer's own queues first."""
    _require_staff(viewer)
    async with db.session() as s:
        queues = (await s.execute(select(Queue).order_by(Queue.name))).scalars().all()
        counts = dict((await s.execute(select(Ticket.queue_id, func.count())
                                       .where(Ticket.assignee_id.is_(None), Ticket.status.in_(WORKABLE))
                                       .group_by(Ticket.queue_id))).all())
        members: dict[int, list[tuple[int, str]]] = {}
        for queue_id, user_id, name in (await s.execute(
                select(QueueMember.queue_id, User.id, User.display_name).join(User, QueueMember.user_id == User.id)
                .order_by(User.display_name))).all():
            members.setdefault(queue_id, []).append((user_id, name))
    summaries = [QueueSummary(id=q.id, name=q.name, description=q.description, is_default=q.is_default,
                              is_member=any(uid == viewer.id for uid, _ in members.get(q.id, [])),
                              unassigned=counts.get(q.id, 0), member_names=[n for _, n in members.get(q.id, [])],
                              may_take=auth.can_take_from_queue(viewer, {uid for uid, _ in members.get(q.id, [])}))
                 for q in queues]
    return sorted(summaries, key=lambda q: (not q.is_member, q.name.lower()))


async def queues_not_takeable(viewer: User) -> frozenset[int]:
    """Queues whose tickets the viewer may not take (``auth.can_take_from_queue``): the lists hide Take there."""
    _require_staff(viewer)

    async def load() -> dict[int, set[int]]:
        async with db.quick() as s:
            members: dict[int, set[int]] = {}
            for queue_id, user_id in (await s.execute(select(QueueMember.queue_id, QueueMember.user_id))).all():
                members.setdefault(queue_id, set()).add(user_id)
            return members
    members = await lookups.kept(('queue_members',), load)  # the same for every page: kept a moment (lookups.py)
    return frozenset(q for q, ids in members.items() if not auth.can_take_from_queue(viewer, ids))


async def organisation_tiers() -> list[str]:
    """The customer tiers organisations have now, for prioritisation rules."""
    async with db.session() as s:
        return list((await s.execute(select(Organisation.tier).where(Organisation.is_provider.is_(False))
                                     .distinct().order_by(Organisation.tier))).scalars())


async def organisations() -> dict[int, str]:
    """Customer organisations, for filters: the same for every list page, so kept a moment (``lookups.kept``)."""
    async def load() -> dict[int, str]:
        async with db.quick() as s:
            rows = await s.execute(select(Organisation.id, Organisation.name).order_by(Organisation.name))
            return dict(rows.all())
    return await lookups.kept(('organisations',), load)
