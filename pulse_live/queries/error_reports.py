"""Read models for error reports: the admin's sources and their groups, and a ticket's error details (staff only).

What a customer sees of a ticket made from error reports: its title (exception type and message), the description
("Reported automatically by the application …"), its status and the public history like any request of theirs —
never the stack trace, the counts or the context (release, environment, user, tags): ``group_for_ticket`` answers
only staff, and the portal does not show the section.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from .. import auth, db
from ..models import ErrorGroup, ErrorSource, Organisation, Queue, Role, Service, Ticket, User


@dataclass
class SourceRow:
    id: int
    name: str
    public_key: str
    is_active: bool
    organisation: str
    queue: str
    service: str
    contact: str
    rate_limit_per_minute: int
    rate_limited: int
    groups: int
    events: int
    created_at: datetime
    revoked_at: datetime | None


@dataclass
class GroupRow:
    id: int
    source_id: int
    source: str
    title: str
    culprit: str
    count: int
    first_seen: datetime
    last_seen: datetime
    ticket_reference: str | None
    ticket_status: str | None
    regressions: int


@dataclass
class GroupDetails:
    id: int
    source: str
    title: str
    culprit: str
    count: int
    first_seen: datetime
    last_seen: datetime
    regressions: int
    last_regression_at: datetime | None
    grouping: str
    last_event: dict[str, Any] = field(default_factory=dict)


def _may_administer(viewer: User, action: str) -> bool:
    if viewer.role != Role.ADMIN:
        auth.refused(viewer, action, 'error sources')
        return False
    return True


async def sources(viewer: User) -> list[SourceRow]:
    """Every reporting source (admins), active first, with its group and event counts."""
    if not _may_administer(viewer, 'list'):
        return []
    contact = aliased(User)
    groups = (select(func.count(ErrorGroup.id)).where(ErrorGroup.source_id == ErrorSource.id)
              .correlate(ErrorSource).scalar_subquery())
    events = (select(func.coalesce(func.sum(ErrorGroup.count), 0)).where(ErrorGroup.source_id == ErrorSource.id)
              .correlate(ErrorSource).scalar_subquery())
    async with db.session() as s:
        rows = (await s.execute(
            select(ErrorSource, Organisation.name, Queue.name, Service.name, contact.display_name, groups, events)
            .join(Organisation, Organisation.id == ErrorSource.organisation_id)
            .outerjoin(Queue, Queue.id == ErrorSource.queue_id)
            .outerjoin(Service, Service.id == ErrorSource.service_id)
            .outerjoin(contact, contact.id == ErrorSource.contact_id)
            .order_by(ErrorSource.is_active.desc(), ErrorSource.name, ErrorSource.id))).all()
    return [SourceRow(id=src.id, name=src.name, public_key=src.public_key, is_active=src.is_active,
                      organisation=org or '', queue=queue or '—', service=service or '—', contact=person or '—',
                      rate_limit_per_minute=src.rate_limit_per_minute, rate_limited=src.rate_limited or 0,
                      groups=n_groups or 0, events=int(n_events or 0), created_at=src.created_at,
                      revoked_at=src.revoked_at)
            for src, org, queue, service, person, n_groups, n_events in rows]


async def groups(viewer: User, *, source_id: int | None = None, limit: int = 200) -> list[GroupRow]:
    """Groups, most recently seen first (admins), with their ticket's reference and status."""
    if not _may_administer(viewer, 'list groups of'):
        return []
    query = (select(ErrorGroup, ErrorSource.name, Ticket.reference, Ticket.status)
             .join(ErrorSource, ErrorSource.id == ErrorGroup.source_id)
             .outerjoin(Ticket, Ticket.id == ErrorGroup.ticket_id)
             .order_by(ErrorGroup.last_seen.desc(), ErrorGroup.id.desc()).limit(max(1, min(limit, 1000))))
    if source_id is not None:
        query = query.where(ErrorGroup.source_id == source_id)
    async with db.session() as s:
        rows = (await s.execute(query)).all()
    return [GroupRow(id=g.id, source_id=g.source_id, source=name, title=g.title, culprit=g.culprit, count=g.count,
                     first_seen=g.first_seen, last_seen=g.last_seen, ticket_reference=reference,
                     ticket_status=status, regressions=g.regressions)
            for g, name, reference, status in rows]


async def group_for_ticket(viewer: User, ticket_id: int) -> GroupDetails | None:
    """The error group a ticket was made from, for staff; None for anybody else (logged) or another ticket."""
    if not auth.is_staff(viewer):
        auth.refused(viewer, 'see the error details of ticket', f'#{ticket_id}')
        return None
    async with db.session() as s:
        row = (await s.execute(select(ErrorGroup, ErrorSource.name)
                               .join(ErrorSource, ErrorSource.id == ErrorGroup.source_id)
                               .where(ErrorGroup.ticket_id == ticket_id)
                               .order_by(ErrorGroup.id).limit(1))).first()
    if row is None:
        return None
    g, name = row
    return GroupDetails(id=g.id, source=name, title=g.title, culprit=g.culprit, count=g.count,
                        first_seen=g.first_seen, last_seen=g.last_seen, regressions=g.regressions,
                        last_regression_at=g.last_regression_at, grouping=g.grouping,
                        last_event=g.last_event or {})
