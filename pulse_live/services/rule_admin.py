"""The rules as data, for admins: routing rules (ordered) and prioritisation rules (the impact × urgency matrix and
the adjustments). Every change is audited (``audit.record``) in its own transaction; a refusal is logged
(``auth.deny``). The engines that read the rules are ``pulse_live/rules/``."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db
from ..errors import NotFound, ValidationError
from ..models import (
    Channel,
    Organisation,
    PriorityRule,
    Queue,
    RoutingRule,
    RuleKind,
    Service,
    TicketType,
    User,
    utcnow,
)
from ..rules.prioritisation import DEFAULT_MATRIX, LEVELS, describe_rule, level_value
from ..rules.routing import split_keywords
from . import audit
from ._uow import unit_of_work
from .customers import CRITICALITIES, TIER_SUGGESTIONS
from .customers import HANDLE_RE as TIER_RE  # the pattern an organisation's tier is checked with

KEYWORDS_LIMIT = 2000
R = TypeVar('R', RoutingRule, PriorityRule)


def _require_admin(actor: User, what: str, target: object = '') -> None:
    if not auth.can_configure_work(actor):
        raise auth.deny(actor, f'change {what}', target, f'Only admins can change {what}.')


# --- what both kinds of rule share: a required short text, loading one rule, the next position, an update ---

def _short_text(value: str | None, missing: str, label: str, limit: int = 200) -> str:
    """A rule's name or match: stripped, required (``missing`` says what to enter), at most ``limit`` characters."""
    value = (value or '').strip()
    if not value:
        raise ValidationError(missing)
    if len(value) > limit:
        raise ValidationError(f'The {label} is too long (at most {limit} characters).')
    return value


async def _load_rule(session: AsyncSession, model: type[R], rule_id: int, missing: str) -> R:
    """The rule (routing or prioritisation; a matrix cell is not a rule here), else ``NotFound(missing)``."""
    rule = await session.get(model, rule_id)
    if rule is None or getattr(rule, 'kind', None) == RuleKind.MATRIX:
        raise NotFound(missing)
    return rule


async def _in_order(session: AsyncSession, model: type[RoutingRule] | type[PriorityRule]) -> None:
    """Rules of one kind are created (last: the highest position + 1) and moved one transaction at a time: on
    PostgreSQL two rules created at once both got the same position, and which came first was left to the
    database."""
    await db.serialise(session, f'positions:{model.__tablename__}')


async def _next_position(session: AsyncSession, model: type[RoutingRule] | type[PriorityRule]) -> int:
    """After the existing rules of that kind."""
    await _in_order(session, model)
    return (await session.execute(select(func.coalesce(func.max(model.position), 0)))).scalar_one() + 1


def _change(rule: R, values: dict[str, Any], is_active: bool, data: Callable[[R], dict[str, Any]]) -> dict | None:
    """Apply validated ``values`` (and the active switch) to ``rule``: what it was before, or None when nothing
    changed (then nothing is audited)."""
    before = data(rule)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.is_active = bool(is_active)
    return None if data(rule) == before else before


@dataclass(frozen=True)
class _Rules(Generic[R]):
    """How the admin services speak of one kind of rule (routing or prioritisation)."""
    model: type[R]
    what: str  # in refusals: "Only admins can change routing rules."
    entity: str  # in the audit log
    missing: str  # NotFound's message
    data: Callable[[R], dict[str, Any]]  # what the audit log keeps of it
    title: Callable[[AsyncSession, R], Awaitable[str]]  # 'routing rule “VPN”'


async def _audit_update(session: AsyncSession, rules: _Rules[R], actor: User, rule: R, before: dict[str, Any]) -> None:
    audit.record(session, actor, entity=rules.entity, entity_id=rule.id, action='update',
                 summary=f'Changed {await rules.title(session, rule)}',
                 data={'before': before, 'after': rules.data(rule)})


async def _delete_rule(rules: _Rules[R], actor: User, rule_id: int) -> None:
    """Delete one rule, audited with what it was."""
    _require_admin(actor, rules.what, rule_id)
    async with unit_of_work() as uow:
        s = uow.session
        rule = await _load_rule(s, rules.model, rule_id, rules.missing)
        audit.record(s, actor, entity=rules.entity, entity_id=rule.id, action='delete',
                     summary=f'Deleted {await rules.title(s, rule)}', data={'before': rules.data(rule)})
        await s.delete(rule)


# --- routing rules ---

async def _routing_title(session: AsyncSession, rule: RoutingRule) -> str:
    return f'routing rule “{rule.name}”'


def _routing_data(rule: RoutingRule) -> dict[str, Any]:
    return {'name': rule.name, 'position': rule.position, 'is_active': rule.is_active, 'queue_id': rule.queue_id,
            'type_id': rule.type_id, 'service_id': rule.service_id, 'organisation_id': rule.organisation_id,
            'channel': rule.channel, 'keywords': rule.keywords}


ROUTING = _Rules(RoutingRule, 'routing rules', 'routing_rule', 'No such routing rule.', _routing_data, _routing_title)


async def _ref(session: AsyncSession, model: type[Any], value: Any, label: str, *,
               required: bool = False) -> int | None:
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


async def _routing_validated(session: AsyncSession, *, name: str, queue_id: Any, type_id: Any, service_id: Any,
                             organisation_id: Any, channel: Any, keywords: str) -> dict[str, Any]:
    name = _short_text(name, 'A routing rule needs a name.', 'name')
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


async def create_routing_rule(*, actor: User, name: str, queue_id: int, type_id: int | None = None,
                              service_id: int | None = None, organisation_id: int | None = None,
                              channel: str | None = None, keywords: str = '', is_active: bool = True) -> RoutingRule:
    """A new rule, tried after the existing ones."""
    _require_admin(actor, 'routing rules')
    async with unit_of_work() as uow:
        s = uow.session
        values = await _routing_validated(s, name=name, queue_id=queue_id, type_id=type_id, service_id=service_id,
                                          organisation_id=organisation_id, channel=channel, keywords=keywords)
        rule = RoutingRule(position=await _next_position(s, RoutingRule), is_active=bool(is_active), **values)
        s.add(rule)
        await s.flush()
        audit.record(s, actor, entity='routing_rule', entity_id=rule.id, action='create',
                     summary=f'Added routing rule “{rule.name}”', data={'after': _routing_data(rule)})
    return rule


async def update_routing_rule(*, actor: User, rule_id: int, name: str, queue_id: int, type_id: int | None = None,
                              service_id: int | None = None, organisation_id: int | None = None,
                              channel: str | None = None, keywords: str = '', is_active: bool = True) -> RoutingRule:
    _require_admin(actor, 'routing rules', rule_id)
    async with unit_of_work() as uow:
        s = uow.session
        rule = await _load_rule(s, RoutingRule, rule_id, ROUTING.missing)
        values = await _routing_validated(s, name=name, queue_id=queue_id, type_id=type_id, service_id=service_id,
                                          organisation_id=organisation_id, channel=channel, keywords=keywords)
        before = _change(rule, values, is_active, _routing_data)
        if before is not None:
            rule.updated_at = utcnow()
            await _audit_update(s, ROUTING, actor, rule, before)
    return rule


async def delete_routing_rule(*, actor: User, rule_id: int) -> None:
    await _delete_rule(ROUTING, actor, rule_id)


async def move_routing_rule(*, actor: User, rule_id: int, delta: int) -> None:
    """Move a rule up (delta < 0) or down in the order; positions are renumbered 1…n."""
    _require_admin(actor, 'routing rules', rule_id)
    async with unit_of_work() as uow:
        s = uow.session
        await _in_order(s, RoutingRule)
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


# --- prioritisation rules ---

async def ensure_default_priority_rules(session: AsyncSession) -> None:
    """The shipped impact × urgency matrix, if there is none yet (called by ``catalog.ensure_catalog``)."""
    if (await session.execute(select(PriorityRule.id).where(PriorityRule.kind == RuleKind.MATRIX).limit(1))).first():
        return
    for (impact, urgency), level in DEFAULT_MATRIX.items():
        session.add(PriorityRule(kind=RuleKind.MATRIX.value, impact=impact, urgency=urgency, level=level))


def _check_level(level: Any, *, required: bool) -> int | None:
    if level in (None, '', 0) and not required:
        return None
    try:
        level = int(level)
    except (TypeError, ValueError):
        raise ValidationError('Level must be a number from 1 (most urgent) to 5.') from None
    if level not in LEVELS:
        raise ValidationError('Level must be a number from 1 (most urgent) to 5.')
    return level


def _priority_data(rule: PriorityRule) -> dict[str, Any]:
    return {'kind': rule.kind, 'impact': rule.impact, 'urgency': rule.urgency, 'match': rule.match,
            'level': rule.level, 'raise_by': rule.raise_by, 'is_active': rule.is_active}


async def _describe(session: AsyncSession, rule: PriorityRule) -> str:
    return describe_rule(rule, dict((await session.execute(select(TicketType.id, TicketType.name))).all()))


async def _priority_title(session: AsyncSession, rule: PriorityRule) -> str:
    return f'priority rule {await _describe(session, rule)}'


PRIORITY = _Rules(PriorityRule, 'prioritisation rules', 'priority_rule', 'No such prioritisation rule.',
                  _priority_data, _priority_title)


async def set_matrix_level(*, actor: User, impact: str, urgency: str, level: int) -> PriorityRule:
    _require_admin(actor, 'prioritisation rules')
    impact, urgency = level_value(impact, 'Impact'), level_value(urgency, 'Urgency')
    checked = _check_level(level, required=True)
    assert checked is not None  # required
    level = checked
    async with unit_of_work() as uow:
        s = uow.session
        rule = (await s.execute(select(PriorityRule).where(PriorityRule.kind == RuleKind.MATRIX,
                                                           PriorityRule.impact == impact,
                                                           PriorityRule.urgency == urgency))).scalars().first()
        before = _priority_data(rule) if rule else None
        if rule is None:
            rule = PriorityRule(kind=RuleKind.MATRIX.value, impact=impact, urgency=urgency, level=level)
            s.add(rule)
        elif rule.level == level:
            return rule
        rule.level = level
        await s.flush()
        audit.record(s, actor, entity='priority_rule', entity_id=rule.id, action='update' if before else 'create',
                     summary=f'Matrix: {describe_rule(rule)}', data={'before': before, 'after': _priority_data(rule)})
    return rule


async def _priority_validated(session: AsyncSession, kind: str, match: str, level: Any,
                              raise_by: Any) -> dict[str, Any]:
    try:
        kind = RuleKind(kind).value
    except ValueError:
        raise ValidationError(f'{kind!r} is not a kind of rule.') from None
    if kind == RuleKind.MATRIX:
        raise ValidationError('Matrix cells are set with the matrix editor.')
    match = _short_text(match, 'Say what the rule matches (a tier, a criticality, a type or a keyword).', 'match')
    if kind == RuleKind.TYPE:
        if not match.isdigit() or await session.get(TicketType, int(match)) is None:
            raise ValidationError('Type: no such ticket type.')
        match = str(int(match))
    elif kind == RuleKind.CRITICALITY:
        match = match.lower()
        if match not in CRITICALITIES:  # a service's criticality is always one of these (services/customers.py)
            raise ValidationError(f'Criticality: {match!r} is not a service criticality; '
                                  f'choose one of {", ".join(CRITICALITIES)}.')
    elif kind == RuleKind.TIER:
        match = match.lower()
        if not TIER_RE.match(match):  # the same pattern an organisation's tier must have (services/customers.py)
            raise ValidationError(f'Tier: {match!r} can never match a customer tier: a tier is one word (letters, '
                                  f'digits, dots, dashes), e.g. {", ".join(TIER_SUGGESTIONS)}.')
    try:
        raise_by = int(raise_by or 0)
    except (TypeError, ValueError):
        raise ValidationError('Steps must be a whole number (positive: more urgent).') from None
    if not -4 <= raise_by <= 4:
        raise ValidationError('Steps must be between -4 and 4.')
    level = _check_level(level, required=False)
    if not raise_by and level is None:
        raise ValidationError('A rule needs an effect: steps up or down, or “at least level”.')
    return {'kind': kind, 'match': match, 'level': level, 'raise_by': raise_by}


async def create_priority_rule(*, actor: User, kind: str, match: str, raise_by: int = 0,
                               level: int | None = None) -> PriorityRule:
    _require_admin(actor, 'prioritisation rules')
    async with unit_of_work() as uow:
        s = uow.session
        values = await _priority_validated(s, kind, match, level, raise_by)
        rule = PriorityRule(position=await _next_position(s, PriorityRule), is_active=True, **values)
        s.add(rule)
        await s.flush()
        audit.record(s, actor, entity='priority_rule', entity_id=rule.id, action='create',
                     summary=f'Added priority rule {await _describe(s, rule)}', data={'after': _priority_data(rule)})
    return rule


async def update_priority_rule(*, actor: User, rule_id: int, kind: str, match: str, raise_by: int = 0,
                               level: int | None = None, is_active: bool = True) -> PriorityRule:
    _require_admin(actor, 'prioritisation rules', rule_id)
    async with unit_of_work() as uow:
        s = uow.session
        rule = await _load_rule(s, PriorityRule, rule_id, PRIORITY.missing)
        before = _change(rule, await _priority_validated(s, kind, match, level, raise_by), is_active, _priority_data)
        if before is not None:
            await _audit_update(s, PRIORITY, actor, rule, before)
    return rule


async def delete_priority_rule(*, actor: User, rule_id: int) -> None:
    await _delete_rule(PRIORITY, actor, rule_id)
