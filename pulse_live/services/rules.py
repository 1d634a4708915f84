"""Routing and prioritisation, applied inside the ticket services' own transactions (one call each)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import EventKind, Ticket, TicketEvent, User
from . import prioritisation, routing


async def apply_on_create(session: AsyncSession, actor: User, ticket: Ticket, *, explicit_priority: bool,
                          explicit_queue: bool) -> None:
    """Route the new ticket and set its priority; the reasons go into the data of its ``created`` history row."""
    info = await routing.on_create(session, ticket, explicit_queue=explicit_queue)
    info['priority_reason'] = await prioritisation.on_create(session, actor, ticket,
                                                             explicit_priority=explicit_priority)
    created = (await session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                               TicketEvent.kind == EventKind.CREATED))).scalars().first()
    if created is not None:
        created.data = {**(created.data or {}), **info}


async def apply_on_update(session: AsyncSession, actor: User, ticket: Ticket,
                          changed: dict[str, Any]) -> list[TicketEvent]:
    """After a field change was applied: record an override or re-prioritise; returns extra history rows."""
    return await prioritisation.on_update(session, actor, ticket, changed)
