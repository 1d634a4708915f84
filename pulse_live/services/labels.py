"""Readable names for field values, used in automatic chatter entries ("Priority Major → Critical")."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..models import (
    Base,
    Level,
    Organisation,
    Priority,
    PriorityScale,
    Queue,
    ResolutionCode,
    Service,
    Status,
    TicketType,
    User,
)
from ..visibility import INTERNAL_FIELDS  # noqa: F401  (who reads a field's history: visibility.py)

FIELD_LABELS = {
    'title': 'Title',
    'description': 'Description',
    'type_id': 'Type',
    'priority_id': 'Priority',
    'status': 'Status',
    'channel': 'Channel',
    'customer_id': 'Customer',
    'organisation_id': 'Organisation',
    'service_id': 'Service',
    'queue_id': 'Queue',
    'assignee_id': 'Assignee',
    'affected_components': 'Affected components',
    'technical_details': 'Technical details',
    'attempted_solutions': 'Attempted solutions',
    'workaround': 'Work-around',
    'resolution_code_id': 'Resolution code',
    'resolution_text': 'Resolution',
    'impact': 'Impact',
    'urgency': 'Urgency',
}

_MODELS: dict[str, tuple[type[Base], str]] = {
    'type_id': (TicketType, 'name'),
    'priority_id': (Priority, 'name'),
    'service_id': (Service, 'name'),
    'queue_id': (Queue, 'name'),
    'assignee_id': (User, 'display_name'),
    'customer_id': (User, 'display_name'),
    'organisation_id': (Organisation, 'name'),
    'resolution_code_id': (ResolutionCode, 'name'),
}


async def label_for(session: AsyncSession, field: str, value: Any) -> str:
    if value is None or value == '':
        return '—'
    if field == 'status':
        return Status(value).label
    if field in ('impact', 'urgency'):
        return Level(value).label
    if field in _MODELS:
        model, attr = _MODELS[field]
        row = await session.get(model, value)
        return getattr(row, attr) if row is not None else f'#{value}'
    text = str(value)
    return text if len(text) <= 200 else text[:197] + '…'


async def exists(session: AsyncSession, field: str, value: Any) -> bool:
    model, _ = _MODELS[field]
    return await session.get(model, value) is not None


async def not_offered(session: AsyncSession, field: str, value: Any) -> str | None:
    """Why an existing choice may not be given to a ticket *now* (None: it may): a retired type, service or
    resolution code, a priority of a scale not in use. A ticket that has such a value from before keeps it; only a
    new value is checked (``services/tickets.py``). Services have one flag, shown to admins as "Customers can choose
    it": a service switched off is offered to nobody, as in every form's list (``queries/catalog.py``)."""
    label = FIELD_LABELS.get(field, field)
    if field in ('type_id', 'service_id', 'resolution_code_id'):
        row: Any = await session.get(_MODELS[field][0], value)
        if row is not None and not row.is_active:
            return f'{label}: {row.name} is no longer offered; choose another.'
    elif field == 'priority_id':
        priority = await session.get(Priority, value)
        scale = await session.get(PriorityScale, priority.scale_id) if priority is not None else None
        if priority is not None and (scale is None or not scale.is_active):
            return f'{label}: {priority.name} belongs to a priority scale that is not in use; choose another.'
    return None
