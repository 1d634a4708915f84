"""Read models of the REST API (``pulse_live/api``): ticket lists with the work lists' filters for staff and
customers alike (``auth.visible_tickets``), one ticket with its names, a ticket's messages after a cursor.

What a customer reads is what the portal shows them: ``visibility.py`` for entries and attachments; the ticket's
queue, assignee, priority and agent-only fields are left out (``None``) for them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select

from .. import auth, db, visibility
from ..errors import NotFound, ValidationError
from ..models import (
    Attachment,
    EventKind,
    Organisation,
    Status,
    Ticket,
    TicketEvent,
    User,
)
from . import tickets as ticket_queries
from .like import contains
from .queues import SORTS, field_conditions

ACTIVE = (Status.OPEN.value, Status.IN_PROGRESS.value, Status.WAITING.value)  # waiting for the customer: still open
STAFF_FILTERS = ('queue_id', 'assignee_id', 'priority_id')


@dataclass
class TicketFilters:
    status: str | None = None  # a status, 'active' (open, in progress, waiting) or None / 'all'
    queue_id: int | None = None
    assignee_id: int | None = None  # 0 = unassigned
    priority_id: int | None = None
    type_id: int | None = None
    service_id: int | None = None
    organisation_id: int | None = None
    customer_id: int | None = None
    search: str = ''
    created_from: date | None = None
    created_to: date | None = None


@dataclass
class TicketRecord:
    """A ticket as the API shows it (agent-only values are None for customers)."""
    id: int
    reference: str
    title: str
    status: str
    type_id: int
    type: str
    organisation_id: int
    organisation: str
    service_id: int | None
    service: str | None
    customer_id: int | None
    customer: str | None
    channel: str | None  # staff only (visibility.py: the channel is the provider's business)
    created_at: datetime
    updated_at: datetime
    version: int
    description: str = ''
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution_code_id: int | None = None
    resolution_code: str | None = None
    resolution_text: str = ''
    # staff only
    priority_id: int | None = None
    priority: str | None = None
    queue_id: int | None = None
    queue: str | None = None
    assignee_id: int | None = None
    assignee: str | None = None
    impact: str | None = None
    urgency: str | None = None
    priority_reason: str | None = None
    affected_components: str | None = None
    technical_details: str | None = None
    attempted_solutions: str | None = None
    workaround: str | None = None


def _columns():  # the ticket and the names it shows
    return ticket_queries.with_names(select(Ticket))


def _record(viewer: User, row: Any, *, full: bool) -> TicketRecord:
    t, priority, _colour, customer, _email, type_name, org, service, queue, assignee, _creator, code = row
    closed = t.status in (Status.RESOLVED, Status.CLOSED)
    record = TicketRecord(
        id=t.id, reference=t.reference, title=t.title, status=t.status, type_id=t.type_id, type=type_name,
        organisation_id=t.organisation_id, organisation=org, service_id=t.service_id, service=service,
        customer_id=t.customer_id, customer=customer, channel=None, created_at=t.created_at,
        updated_at=t.updated_at, version=t.version, resolved_at=t.resolved_at, closed_at=t.closed_at,
        resolution_code_id=t.resolution_code_id if closed else None, resolution_code=code if closed else None,
        resolution_text=t.resolution_text if closed else '', description=t.description if full else '')
    if auth.can_see_internal(viewer):
        record.channel = t.channel
        record.priority_id, record.priority = t.priority_id, priority
        record.queue_id, record.queue = t.queue_id, queue
        record.assignee_id, record.assignee = t.assignee_id, assignee
        record.impact, record.urgency, record.priority_reason = t.impact, t.urgency, t.priority_reason
        if full:
            record.affected_components, record.technical_details = t.affected_components, t.technical_details
            record.attempted_solutions, record.workaround = t.attempted_solutions, t.workaround
    return record


async def ticket_list(viewer: User, filters: TicketFilters, *, sort: str = 'updated', limit: int = 25,
                      offset: int = 0) -> tuple[list[TicketRecord], int]:
    """The tickets the viewer may see that match ``filters``, sorted, one page; and how many match in all.
    Customers may not filter or sort by what they do not see (queue, assignee, priority)."""
    f = filters
    if not auth.is_staff(viewer):
        used = [name for name in STAFF_FILTERS if getattr(f, name) is not None] + (['sort'] if sort == 'priority'
                                                                                    else [])
        if used:
            shown = dict.fromkeys('priority' if n == 'sort' else n.removesuffix('_id') for n in used)
            raise auth.deny(viewer, f'filter tickets by {", ".join(used)}', '',
                            f'Only agents can filter or sort by {", ".join(shown)}.')
    conditions: list[Any] = [auth.visible_tickets(viewer)]
    if f.status == 'active':
        conditions.append(Ticket.status.in_(ACTIVE))
    elif f.status and f.status != 'all':
        try:
            conditions.append(Ticket.status == Status(f.status).value)
        except ValueError:
            raise ValidationError(f'{f.status!r} is not a status.') from None
    conditions += field_conditions(f, customer_id=f.customer_id)
    term = (f.search or '').strip().lower()[:200]
    if term:
        conditions.append(or_(contains(Ticket.title, term), contains(Ticket.reference, term)))
    order = SORTS.get(sort, SORTS['updated'])
    async with db.session() as s:
        total = (await s.execute(select(func.count()).select_from(Ticket).where(*conditions))).scalar_one()
        rows = (await s.execute(_columns().where(*conditions).order_by(*order).offset(offset).limit(limit))).all()
    return [_record(viewer, row, full=False) for row in rows], total


async def ticket(viewer: User, ticket_id: int) -> TicketRecord | None:
    """One ticket with its names, or None when it does not exist or the viewer may not see it (logged)."""
    async with db.session() as s:
        row = (await s.execute(_columns().where(Ticket.id == ticket_id))).first()
        if row is None:
            return None
        if not await auth.may_view_ticket(s, viewer, row[0]):
            auth.refused(viewer, 'read ticket (API)', row[0].reference)
            return None
    return _record(viewer, row, full=True)


@dataclass
class AttachmentRecord:
    id: int
    filename: str
    content_type: str
    size: int
    internal: bool
    created_at: datetime


@dataclass
class MessageRecord:
    id: int
    author_id: int | None
    author: str
    created_at: datetime
    body: str
    internal: bool
    attachments: list[AttachmentRecord] = field(default_factory=list)


async def messages(viewer: User, ticket_id: int, *, after: int = 0, limit: int = 50) -> tuple[list[MessageRecord],
                                                                                            bool]:
    """The ticket's messages (public replies; internal notes for staff only) after the message id ``after``,
    oldest first, at most ``limit``; and whether more follow. ``NotFound`` for a ticket the viewer may not see."""
    async with db.session() as s:
        if not await auth.may_read_ticket(s, viewer, ticket_id, 'read the messages of ticket (API)'):
            raise NotFound('Ticket not found.')
        conditions: list[Any] = [TicketEvent.ticket_id == ticket_id, TicketEvent.kind == EventKind.MESSAGE.value,
                                 TicketEvent.id > after]
        if not auth.can_see_internal(viewer):
            conditions.append(visibility.customer_entries())
        rows = (await s.execute(select(TicketEvent, User.display_name).outerjoin(User, TicketEvent.actor_id == User.id)
                                .where(*conditions).order_by(TicketEvent.id).limit(limit + 1))).all()
        more = len(rows) > limit
        found = [MessageRecord(id=e.id, author_id=e.actor_id, author=name or 'System', created_at=e.created_at,
                               body=e.body, internal=e.is_internal) for e, name in rows[:limit]]
        by_id = {m.id: m for m in found}
        if by_id:
            attachment_conditions: list[Any] = [Attachment.event_id.in_(list(by_id))]
            if not auth.can_see_internal(viewer):
                attachment_conditions.append(visibility.customer_attachments())
            for a in (await s.execute(select(Attachment).where(*attachment_conditions)
                                      .order_by(Attachment.id))).scalars():
                by_id[a.event_id].attachments.append(attachment_record(a))
    return found, more


def attachment_record(a: Attachment) -> AttachmentRecord:
    return AttachmentRecord(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size,
                            internal=a.is_internal, created_at=a.created_at)


async def message(viewer: User, event_id: int) -> MessageRecord | None:
    """One message as ``messages`` shows it (after posting it)."""
    async with db.session() as s:
        event = await s.get(TicketEvent, event_id)
    if event is None:
        return None
    found, _ = await messages(viewer, event.ticket_id, after=event_id - 1, limit=1)
    return found[0] if found and found[0].id == event_id else None


async def organisation(viewer: User, organisation_id: int) -> Organisation | None:
    """One organisation (staff only: ``auth.can_identify_customers``)."""
    if not auth.can_identify_customers(viewer):
        raise auth.deny(viewer, 'see organisation', organisation_id, 'Only agents can see organisations.')
    async with db.session() as s:
        return await s.get(Organisation, organisation_id)
