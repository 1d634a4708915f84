"""The audit log of configuration changes (queues, members, rules): who, when, what, before → after."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..models import AuditLog, User, utcnow


def record(session: AsyncSession, actor: User | None, *, entity: str, entity_id: int | None, action: str,
           summary: str, data: dict[str, Any] | None = None) -> AuditLog:
    """Add an audit row to the caller's transaction (it commits or rolls back with the change itself).
    ``actor`` None: the system (the command line, the demo seed), recorded as ``{'by': 'system'}``."""
    if actor is None:
        data = {**(data or {}), 'by': 'system'}
    row = AuditLog(actor_id=actor.id if actor is not None else None, created_at=utcnow(), entity=entity,
                   entity_id=entity_id, action=action, summary=summary, data=data)
    session.add(row)
    return row
