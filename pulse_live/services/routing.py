"""Routing inside ``create_ticket``: read the active routing rules and the ticket's facts, ask the pure engine
(``rules/routing.py``) which queue, note why. The rules are administered in ``rule_admin.py``."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Queue, Ticket
from ..rules import routing as engine


def facts(ticket: Ticket) -> engine.Facts:
    return engine.Facts(type_id=ticket.type_id, service_id=ticket.service_id, organisation_id=ticket.organisation_id,
                        channel=ticket.channel, text=f'{ticket.title or ""}\n{ticket.description or ""}')


async def default_queue_id(session: AsyncSession) -> int | None:
    return (await session.execute(select(Queue.id).order_by(Queue.is_default.desc(), Queue.id).limit(1))) \
        .scalar_one_or_none()


async def route(session: AsyncSession, ticket: Ticket) -> tuple[int | None, str, int | None]:
    """(queue id, why, rule id) for a ticket as it is in the session now."""
    from .config_cache import current
    config = await current(session)  # the active rules and the default queue (one version read per unit)
    rule = engine.first_match(config.routing_rules, facts(ticket))
    if rule is not None:
        return rule.queue_id, f'routing rule “{rule.name}”', rule.id
    return config.default_queue_id, 'default queue', None


async def on_create(session: AsyncSession, ticket: Ticket, *, explicit_queue: bool) -> dict[str, Any]:
    """Called inside ``create_ticket``: route unless the creator chose the queue. Returns what to note in history."""
    if explicit_queue:
        return {'queue_reason': 'chosen when opening the ticket'}
    queue_id, reason, rule_id = await route(session, ticket)
    ticket.queue_id = queue_id
    return {'queue_reason': reason, 'routing_rule_id': rule_id}
