"""Saved views for the navigation: which views a staff member lists (their own personal ones, and those shared
with a queue they work in; managers and admins every shared one) and each one's live count (the ticket list's
own filter conditions, one ``count(*)`` per view)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import or_, select

from .. import auth, db
from ..errors import ValidationError
from ..models import Queue, QueueMember, Role, SavedView, User
from . import queues as work_queries


@dataclass(frozen=True)
class ViewRow:
    id: int
    name: str
    filters: dict[str, Any]
    queue_id: int | None
    queue: str            # '' for a personal view
    owner_id: int
    owner: str
    may_change: bool

    @property
    def address(self) -> str:
        return view_address(self.id, self.filters)


def view_address(view_id: int, filters: dict[str, Any]) -> str:
    return '/tickets?' + urlencode({**filters, 'view': view_id})


async def visible_views(viewer: User) -> list[ViewRow]:
    """The views this person lists: personal ones of their own; shared ones of their queues (managers and admins:
    all shared). A personal view is never listed for anybody else."""
    if not auth.is_staff(viewer):
        return []
    manager = viewer.role in (Role.MANAGER, Role.ADMIN)
    my_queues = select(QueueMember.queue_id).where(QueueMember.user_id == viewer.id)
    shared = SavedView.queue_id.is_not(None) if manager else SavedView.queue_id.in_(my_queues)
    async with db.quick() as s:  # a person's few views, on every list page: a short read
        rows = (await s.execute(
            select(SavedView, Queue.name, User.display_name)
            .outerjoin(Queue, Queue.id == SavedView.queue_id).join(User, User.id == SavedView.owner_id)
            .where(or_(SavedView.owner_id == viewer.id, shared))
            .order_by(SavedView.queue_id.is_not(None), SavedView.position, SavedView.name, SavedView.id))).tuples()
        return [ViewRow(v.id, v.name, dict(v.filters or {}), v.queue_id, queue or '', v.owner_id, owner,
                        v.owner_id == viewer.id or (v.queue_id is not None and manager))
                for v, queue, owner in rows]


def to_filters(stored: dict[str, Any]) -> tuple[work_queries.WorkFilters, str]:
    """A stored view as the ticket list's filters and sort."""
    f = work_queries.WorkFilters()
    f.status = stored.get('status') or None
    for key in ('priority_id', 'type_id', 'queue_id', 'organisation_id', 'service_id'):
        setattr(f, key, stored.get(key) or None)
    assignee = stored.get('assignee_id')
    f.assignee_id = assignee if isinstance(assignee, int) and assignee >= 0 else None
    for key in ('created_from', 'created_to'):
        if stored.get(key):
            setattr(f, key, date.fromisoformat(stored[key]))
    f.search = stored.get('q') or ''
    f.triage = bool(stored.get('triage'))
    return f, stored.get('sort') or 'priority'


async def view_counts(viewer: User, views: list[ViewRow]) -> dict[int, int | None]:
    """Each view's number of tickets now (None for a view whose filters no longer make sense)."""
    counts: dict[int, int | None] = {}
    for v in views:
        try:
            counts[v.id] = await work_queries.count_tickets(viewer, to_filters(v.filters)[0])
        except (ValidationError, ValueError):
            counts[v.id] = None
    return counts
