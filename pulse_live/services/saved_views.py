"""Saved views: the ticket list's filters (``pages/work.py``, as in its address) saved under a name, personal or
shared with a queue's members. Staff only. Sharing with a queue needs membership of it (managers and admins: any
queue); a view is changed or deleted by its owner, or by a manager or admin when it is shared."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from .. import auth, db
from ..errors import NotFound, ValidationError
from ..models import MAX_ROW_ID, Queue, QueueMember, Role, SavedView, Status, User, utcnow

MAX_NAME = 80
MAX_VIEWS_PER_USER = 30
ID_KEYS = ('priority_id', 'type_id', 'queue_id', 'organisation_id', 'service_id')
SORTS = ('priority', 'newest', 'oldest', 'updated')  # queries/queues.SORT_LABELS
MAX_ID = MAX_ROW_ID  # ids are INTEGER columns (PostgreSQL: 32 bits)


def clean_filters(filters: object) -> dict[str, Any]:
    """The filters as stored: only the ticket list's own keys, each checked (a crafted value is refused, not
    stored)."""
    if not isinstance(filters, dict):
        raise ValidationError('The filters of a view are missing.')
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if value in (None, '', 0) and key != 'assignee_id':
            continue
        if key in ID_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
                raise ValidationError(f'The filter {key} must name a row, not {value!r}.')
        elif key == 'assignee_id':
            if value is None or value == -1:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
                raise ValidationError(f'The assignee filter must be an agent, unassigned or anyone, not {value!r}.')
        elif key == 'status':
            if value != 'all' and value not in {s.value for s in Status}:
                raise ValidationError(f'{value!r} is not a status.')
        elif key in ('created_from', 'created_to'):
            try:
                date.fromisoformat(str(value))
            except ValueError:
                raise ValidationError(f'{key}: {value!r} is not a date (YYYY-MM-DD).') from None
        elif key == 'q':
            if not isinstance(value, str) or len(value) > 200:
                raise ValidationError('The search text of a view is at most 200 characters.')
            value = value.strip()
        elif key == 'triage':
            if value not in (1, True):
                raise ValidationError('The triage filter is on or off.')
            value = 1
        elif key == 'sort':
            if value not in SORTS:
                raise ValidationError(f'{value!r} is not a sort order of the ticket list.')
            if value == 'priority':
                continue
        else:
            raise ValidationError(f'{key!r} is not a filter of the ticket list.')
        out[key] = value
    return out


def _clean_name(name: object) -> str:
    text = ' '.join(name.split()) if isinstance(name, str) else ''
    if not text:
        raise ValidationError('Give the view a name.')
    if len(text) > MAX_NAME:
        raise ValidationError(f'The name is too long ({len(text)} characters; at most {MAX_NAME}).')
    return text


def _may_change(actor: User, view: SavedView) -> bool:
    return view.owner_id == actor.id or (view.queue_id is not None and actor.role in (Role.MANAGER, Role.ADMIN))


async def save_view(*, actor: User, name: str, filters: dict[str, Any], queue_id: int | None = None,
                    view_id: int | None = None) -> SavedView:
    """Save a new view (``view_id`` None) or change one; ``queue_id`` shares it with that queue's members."""
    auth.require_staff(actor, 'save a view of the ticket list')
    clean_name, clean = _clean_name(name), clean_filters(filters)
    async with db.write_lock(), db.session() as s, s.begin():
        await db.serialise(s, f'saved-views:{actor.id}')  # counted, then inserted: one at a time per person
        if queue_id is not None:
            if await s.get(Queue, queue_id) is None:
                raise ValidationError('That queue does not exist (any more).')
            member = (await s.execute(select(QueueMember.id).where(QueueMember.queue_id == queue_id,
                                                                   QueueMember.user_id == actor.id))).first()
            if member is None and actor.role not in (Role.MANAGER, Role.ADMIN):
                raise auth.deny(actor, 'share a view with a queue they do not work', f'queue {queue_id}',
                                'You can share a view only with a queue you work in.')
        if view_id is None:
            count = (await s.execute(select(func.count(SavedView.id))
                                     .where(SavedView.owner_id == actor.id))).scalar_one()
            if count >= MAX_VIEWS_PER_USER:
                raise ValidationError(f'You have {count} saved views, the most one may have. Delete one first.')
            view = SavedView(owner_id=actor.id, created_at=utcnow(), position=count)
            s.add(view)
        else:
            found = await s.get(SavedView, view_id)
            if found is None or not await _visible(s, actor, found):
                raise NotFound('That view does not exist (any more).')
            if not _may_change(actor, found):
                raise auth.deny(actor, 'change a view of someone else', f'view {view_id}',
                                'Only its owner (or a manager) can change this view.')
            view = found
        view.name, view.filters, view.queue_id, view.updated_at = clean_name, clean, queue_id, utcnow()
    return view


async def _visible(s, actor: User, view: SavedView) -> bool:
    if view.owner_id == actor.id:
        return True
    if view.queue_id is None:
        return False
    if actor.role in (Role.MANAGER, Role.ADMIN):
        return True
    return (await s.execute(select(QueueMember.id).where(QueueMember.queue_id == view.queue_id,
                                                         QueueMember.user_id == actor.id))).first() is not None


async def delete_view(*, actor: User, view_id: int) -> None:
    auth.require_staff(actor, 'delete a saved view')
    async with db.write_lock(), db.session() as s, s.begin():
        view = await s.get(SavedView, view_id)
        if view is None or not await _visible(s, actor, view):
            raise NotFound('That view does not exist (any more).')
        if not _may_change(actor, view):
            raise auth.deny(actor, 'delete a view of someone else', f'view {view_id}',
                            'Only its owner (or a manager) can delete this view.')
        await s.delete(view)
