"""Routing: the ordered rules that put a new ticket into a queue, and their administration (audited).

A rule matches when every condition it sets matches (type, service, organisation, channel, any one of its keywords
in title or description); a rule without conditions matches everything. The first matching active rule wins; no
match means the default queue.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth
from ..errors import NotFound, PermissionDenied, ValidationError
from ..models import Channel, Organisation, Queue, RoutingRule, Service, Ticket, TicketType, User, utcnow
from . import audit
from ._uow import unit_of_work
from .prioritisation import contains_keyword

KEYWORDS_LIMIT = 2000


def split_keywords(keywords: str) -> list[str]:
    return [k.strip() for k in (keywords or '').split(',') if k.strip()]


def matches(rule: RoutingRule, ticket: Ticket) -> bool:
    if rule.type_id is not None and rule.type_id != ticket.type_id:
        return False
    if rule.service_id is not None and rule.service_id != ticket.service_id:
        return False
    if rule.organisation_id is not None and rule.organisation_id != ticket.organisation_id:
        return False
    if rule.channel and rule.channel != ticket.channel:
        return False
    keywords = split_keywords(rule.keywords)
    if keywords:
        text = f'{ticket.title or ""}\n{ticket.description or ""}'
        return any(contains_keyword(k, text) for k in keywords)
    return True


async def default_queue_id(session: AsyncSession) -> int | None:
    return (await session.execute(select(Queue.id).order_by(Queue.is_default.desc(), Queue.id).limit(1))) \
        .scalar_one_or_none()


async def route(session: AsyncSession, ticket: Ticket) -> tuple[int | None, str, int | None]:
    """(queue id, why, rule id) for a ticket as it is in the session now."""
    rules = (await session.execute(select(RoutingRule).where(RoutingRule.is_active.is_(True))
                                   .order_by(RoutingRule.position, RoutingRule.id))).scalars()
    for rule in rules:
        if matches(rule, ticket):
            return rule.queue_id, f'routing rule “{rule.name}”', rule.id
    return await default_queue_id(session), 'default queue', None


async def on_create(session: AsyncSession, ticket: Ticket, *, explicit_queue: bool) -> dict[str, Any]:
    """Called inside ``create_ticket``: route unless the creator chose the queue. Returns what to note in history."""
    if explicit_queue:
        return {'queue_reason': 'chosen when opening the ticket'}
    queue_id, reason, rule_id = await route(session, ticket)
    ticket.queue_id = queue_id
    return {'queue_reason': reason, 'routing_rule_id': rule_id}


# --- administration ---

def _require_admin(actor: User) -> None:
    if not auth.can_configure_work(actor):
        raise PermissionDenied('Only admins can change routing rules.')


def _data(rule: RoutingRule) -> dict[str, Any]:
    return {'name': rule.name, 'position': rule.position, 'is_active': rule.is_active, 'queue_id': rule.queue_id,
            'type_id': rule.type_id, 'service_id': rule.service_id, 'organisation_id': rule.organisation_id,
            'channel': rule.channel, 'keywords': rule.keywords}


async def _ref(session: AsyncSession, model: type, value: Any, label: str, *, required: bool = False) -> int | None:
    if value in (None, ''):
        if required:
            raise ValidationError(f'{label} is required.')
        return None
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f'{label}: {value!r} is not a valid choice.') from None
    if await session.get(model, value) is None:
        raise ValidationError(f'{label}: no such choice (#{value}).')
    return value


async def _validated(session: AsyncSession, *, name: str, queue_id: Any, type_id: Any, service_id: Any,
                     organisation_id: Any, channel: Any, keywords: str) -> dict[str, Any]:
    name = (name or '').strip()
    if not name:
        raise ValidationError('A routing rule needs a name.')
    if len(name) > 200:
        raise ValidationError('The name is too long (at most 200 characters).')
    if channel in (None, ''):
        channel = None
    else:
        try:
            channel = Channel(channel).value
        except ValueError:
            raise ValidationError(f'Channel: {channel!r} is not a known channel.') from None
    keywords = ', '.join(split_keywords(keywords))
    if len(keywords) > KEYWORDS_LIMIT:
        raise ValidationError(f'Too many keywords (at most {KEYWORDS_LIMIT} characters).')
    return {'name': name, 'queue_id': await _ref(session, Queue, queue_id, 'Queue', required=True),
            'type_id': await _ref(session, TicketType, type_id, 'Type'),
            'service_id': await _ref(session, Service, service_id, 'Service'),
            'organisation_id': await _ref(session, Organisation, organisation_id, 'Organisation'),
            'channel': channel, 'keywords': keywords}


async def create_rule(*, actor: User, name: str, queue_id: int, type_id: int | None = None,
                      service_id: int | None = None, organisation_id: int | None = None, channel: str | None = None,
                      keywords: str = '', is_active: bool = True) -> RoutingRule:
    """A new rule, tried after the existing ones."""
    _require_admin(actor)
    async with unit_of_work() as uow:
        s = uow.session
        values = await _validated(s, name=name, queue_id=queue_id, type_id=type_id, service_id=service_id,
                                  organisation_id=organisation_id, channel=channel, keywords=keywords)
        position = (await s.execute(select(func.coalesce(func.max(RoutingRule.position), 0)))).scalar_one() + 1
        rule = RoutingRule(position=position, is_active=bool(is_active), **values)
        s.add(rule)
        await s.flush()
        audit.record(s, actor, entity='routing_rule', entity_id=rule.id, action='create',
                     summary=f'Added routing rule “{rule.name}”', data={'after': _data(rule)})
    return rule


async def update_rule(*, actor: User, rule_id: int, name: str, queue_id: int, type_id: int | None = None,
                      service_id: int | None = None, organisation_id: int | None = None, channel: str | None = None,
                      keywords: str = '', is_active: bool = True) -> RoutingRule:
    _require_admin(actor)
    async with unit_of_work() as uow:
        s = uow.session
        rule = await s.get(RoutingRule, rule_id)
        if rule is None:
            raise NotFound('No such routing rule.')
        before = _data(rule)
        values = await _validated(s, name=name, queue_id=queue_id, type_id=type_id, service_id=service_id,
                                  organisation_id=organisation_id, channel=channel, keywords=keywords)
        for key, value in values.items():
            setattr(rule, key, value)
        rule.is_active = bool(is_active)
        if _data(rule) == before:
            return rule
        rule.updated_at = utcnow()
        audit.record(s, actor, entity='routing_rule', entity_id=rule.id, action='update',
                     summary=f'Changed routing rule “{rule.name}”', data={'before': before, 'after': _data(rule)})
    return rule


async def delete_rule(*, actor: User, rule_id: int) -> None:
    _require_admin(actor)
    async with unit_of_work() as uow:
        s = uow.session
        rule = await s.get(RoutingRule, rule_id)
        if rule is None:
            raise NotFound('No such routing rule.')
        audit.record(s, actor, entity='routing_rule', entity_id=rule.id, action='delete',
                     summary=f'Deleted routing rule “{rule.name}”', data={'before': _data(rule)})
        await s.delete(rule)


async def move_rule(*, actor: User, rule_id: int, delta: int) -> None:
    """Move a rule up (delta < 0) or down in the order; positions are renumbered 1…n."""
    _require_admin(actor)
    async with unit_of_work() as uow:
        s = uow.session
        rules = list((await s.execute(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))).scalars())
        index = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
        if index is None:
            raise NotFound('No such routing rule.')
        target = max(0, min(len(rules) - 1, index + (1 if delta > 0 else -1)))
        if target == index:
            return
        order_before = [r.id for r in rules]
        rules.insert(target, rules.pop(index))
        for position, rule in enumerate(rules, start=1):
            rule.position = position
        moved = rules[target]
        audit.record(s, actor, entity='routing_rule', entity_id=rule_id, action='move',
                     summary=f'Moved routing rule “{moved.name}” to position {target + 1}',
                     data={'before': order_before, 'after': [r.id for r in rules]})
