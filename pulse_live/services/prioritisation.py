"""Automatic prioritisation: rules (data, see models/work.py) turn a ticket's impact, urgency, customer tier, service
criticality, type and keywords into a priority with a readable reason.

It runs when a ticket is created and again when one of its inputs changes while nobody works on the ticket yet
(status open, unassigned) and no agent has overridden the priority. An agent setting the priority by hand is an
override: recorded in the history (the field change row) and never undone by the rules, until an agent asks for the
automatic priority again (``use_automatic``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth
from ..errors import NotFound, PermissionDenied, ValidationError
from ..events import TicketChanged
from ..models import (EventKind, Level, Organisation, Priority, PriorityRule, PriorityScale, RuleKind, Service, Status,
                      Ticket, TicketEvent, TicketType, User)
from . import audit
from ._uow import unit_of_work
from .customers import CRITICALITIES, TIER_SUGGESTIONS
from .customers import HANDLE_RE as TIER_RE  # the pattern an organisation's tier is checked with
from .labels import label_for

LEVELS = range(1, 6)  # 1 = most urgent … 5 = least
DEFAULT_LEVEL = 3
# the usual ITIL matrix: impact × urgency → level
DEFAULT_MATRIX: dict[tuple[str, str], int] = {
    ('high', 'high'): 1, ('high', 'medium'): 2, ('high', 'low'): 3,
    ('medium', 'high'): 2, ('medium', 'medium'): 3, ('medium', 'low'): 4,
    ('low', 'high'): 3, ('low', 'medium'): 4, ('low', 'low'): 5,
}
INPUT_FIELDS = frozenset({'type_id', 'service_id', 'customer_id', 'title', 'description', 'impact', 'urgency'})
REASON_LIMIT = 300


@dataclass
class Decision:
    priority_id: int
    priority_name: str
    level: int
    reason: str


def level_value(value: Any, what: str) -> str:
    try:
        return Level(str(value).strip().lower()).value
    except ValueError:
        raise ValidationError(f'{what}: {value!r} is not one of high, medium, low.') from None


def contains_keyword(keyword: str, text: str) -> bool:
    keyword = keyword.strip()
    return bool(keyword) and re.search(rf'(?<!\w){re.escape(keyword)}(?!\w)', text, re.IGNORECASE) is not None


def _steps(n: int) -> str:
    return f'↑{n}' if n > 0 else f'↓{-n}'


async def decide(session: AsyncSession, ticket: Ticket) -> Decision:
    """The priority the rules give this ticket (as it is in the session now), and why."""
    rules = list((await session.execute(select(PriorityRule).where(PriorityRule.is_active.is_(True))
                                        .order_by(PriorityRule.position, PriorityRule.id))).scalars())
    impact, urgency = ticket.impact or 'medium', ticket.urgency or 'medium'
    level, parts = DEFAULT_LEVEL, []
    matrix = {(r.impact, r.urgency): r.level for r in rules if r.kind == RuleKind.MATRIX and r.level}
    if (impact, urgency) in matrix:
        level = matrix[(impact, urgency)]
        parts.append(f'impact {Level(impact).label} × urgency {Level(urgency).label}')
    tier = criticality = None
    others = [r for r in rules if r.kind != RuleKind.MATRIX]
    if any(r.kind == RuleKind.TIER for r in others):
        org_id = ticket.organisation_id
        if ticket.customer_id:
            org_id = (await session.execute(select(User.organisation_id).where(User.id == ticket.customer_id))) \
                .scalar_one_or_none() or org_id
        tier = (await session.execute(select(Organisation.tier).where(Organisation.id == org_id))).scalar_one_or_none()
    if ticket.service_id and any(r.kind == RuleKind.CRITICALITY for r in others):
        criticality = (await session.execute(select(Service.criticality)
                                             .where(Service.id == ticket.service_id))).scalar_one_or_none()
    text = f'{ticket.title or ""}\n{ticket.description or ""}'
    type_names: dict[int, str] = {}
    for rule in others:
        match = (rule.match or '').strip()
        if rule.kind == RuleKind.TIER:
            hit, what = bool(tier) and match.lower() == tier.lower(), f'customer tier {match}'
        elif rule.kind == RuleKind.CRITICALITY:
            hit, what = bool(criticality) and match.lower() == criticality.lower(), f'service criticality {match}'
        elif rule.kind == RuleKind.TYPE:
            hit = match == str(ticket.type_id)
            if hit and not type_names:
                type_names = dict((await session.execute(select(TicketType.id, TicketType.name))).all())
            what = f'type {type_names.get(ticket.type_id, match)}'
        elif rule.kind == RuleKind.KEYWORD:
            hit, what = contains_keyword(match, text), f'keyword “{match}”'
        else:
            continue
        if not hit:
            continue
        before = level
        if rule.raise_by:
            level -= rule.raise_by
        if rule.level:
            level = min(level, rule.level)
        level = max(1, min(5, level))
        if level != before:
            parts.append(f'{what} {_steps(before - level)}')
    priorities = list((await session.execute(
        select(Priority.id, Priority.name).join(PriorityScale, Priority.scale_id == PriorityScale.id)
        .where(PriorityScale.is_active.is_(True)).order_by(Priority.rank))).all())
    if not priorities:
        raise ValidationError('No priority scale is configured; run `pulse-live migrate` / seed the catalog.')
    priority_id, name = priorities[min(level, len(priorities)) - 1]
    reason = f'{name}: {"; ".join(parts) if parts else "default level"}'
    if len(reason) > REASON_LIMIT:
        reason = reason[:REASON_LIMIT - 1] + '…'
    return Decision(priority_id=priority_id, priority_name=name, level=level, reason=reason)


def is_untouched(ticket: Ticket) -> bool:
    """Nobody works on it yet and nobody set the priority by hand: the rules may (re)set the priority."""
    return ticket.status == Status.OPEN and ticket.assignee_id is None and not ticket.priority_overridden


async def on_create(session: AsyncSession, actor: User, ticket: Ticket, *, explicit_priority: bool) -> str:
    """Called inside ``create_ticket``: an agent's chosen priority is an override, otherwise the rules decide."""
    if explicit_priority and auth.is_staff(actor):
        ticket.priority_overridden = True
        ticket.priority_reason = f'Set by {actor.display_name} when opening the ticket'
        return ticket.priority_reason
    decision = await decide(session, ticket)
    ticket.priority_id, ticket.priority_reason, ticket.priority_overridden = decision.priority_id, decision.reason, False
    return decision.reason


async def _automatic_change(session: AsyncSession, ticket: Ticket, decision: Decision) -> TicketEvent | None:
    """Apply the rules' decision to the ticket; a history row when the priority itself changes."""
    old = ticket.priority_id
    ticket.priority_reason = decision.reason
    if decision.priority_id == old:
        return None
    ticket.priority_id = decision.priority_id
    old_label = await label_for(session, 'priority_id', old)
    event = TicketEvent(ticket_id=ticket.id, kind=EventKind.FIELD_CHANGE, actor_id=None, field='priority_id',
                        old_value=old_label, new_value=decision.priority_name,
                        body=f'Priority changed automatically {old_label} → {decision.priority_name}',
                        data={'old': old, 'new': decision.priority_id, 'automatic': True, 'reason': decision.reason})
    session.add(event)
    return event


async def on_update(session: AsyncSession, actor: User, ticket: Ticket, changed: dict[str, Any]) -> list[TicketEvent]:
    """Called inside ``update_ticket`` after the change was applied: a hand-set priority is an override; a changed
    input re-runs the rules while the ticket is untouched."""
    if 'priority_id' in changed:
        if auth.is_staff(actor):
            ticket.priority_overridden = True
            ticket.priority_reason = f'Set by {actor.display_name}'
        return []
    if INPUT_FIELDS.isdisjoint(changed) or not is_untouched(ticket):
        return []
    event = await _automatic_change(session, ticket, await decide(session, ticket))
    return [event] if event is not None else []


async def set_assessment(*, actor: User, ticket_id: int, expected_version: int, impact: str | None = None,
                         urgency: str | None = None) -> Ticket:
    """An agent rates impact and urgency; the rules re-prioritise while the ticket is untouched."""
    from .tickets import _apply, _load_for_write  # the tickets service owns the optimistic lock
    auth.require_staff(actor)
    values: dict[str, str] = {}
    if impact is not None:
        values['impact'] = level_value(impact, 'Impact')
    if urgency is not None:
        values['urgency'] = level_value(urgency, 'Urgency')
    if not values:
        raise ValidationError('Nothing to change.')
    async with unit_of_work() as uow:
        s = uow.session
        ticket = await _load_for_write(s, actor, ticket_id, expected_version)
        if ticket.status == Status.CLOSED:
            raise ValidationError(f'{ticket.reference} is closed; a closed ticket cannot be changed.')
        values = {k: v for k, v in values.items() if getattr(ticket, k) != v}
        if not values:
            return ticket
        old = {k: getattr(ticket, k) for k in values}
        await _apply(s, ticket, expected_version, values)
        events = []
        for field, new in values.items():
            label = field.capitalize()
            event = TicketEvent(ticket_id=ticket.id, kind=EventKind.FIELD_CHANGE, actor_id=actor.id, field=field,
                                old_value=Level(old[field]).label, new_value=Level(new).label,
                                body=f'{actor.display_name} changed {label} {Level(old[field]).label} → {Level(new).label}',
                                data={'old': old[field], 'new': new})
            s.add(event)
            events.append(event)
        fields = list(values)
        if is_untouched(ticket):
            auto = await _automatic_change(s, ticket, await decide(s, ticket))
            if auto is not None:
                events.append(auto)
                fields.append('priority_id')
        await s.flush()
        uow.publish_after_commit(TicketChanged(ticket_id=ticket.id, kind='field_change', actor_id=actor.id,
                                               event_ids=tuple(e.id for e in events), fields=tuple(fields)))
    return ticket


async def use_automatic(*, actor: User, ticket_id: int, expected_version: int) -> Ticket:
    """Drop an agent's override: the rules set the priority again (recorded like any change)."""
    from .tickets import _apply, _load_for_write
    auth.require_staff(actor)
    async with unit_of_work() as uow:
        s = uow.session
        ticket = await _load_for_write(s, actor, ticket_id, expected_version)
        if ticket.status == Status.CLOSED:
            raise ValidationError(f'{ticket.reference} is closed; a closed ticket cannot be changed.')
        await _apply(s, ticket, expected_version, {'priority_overridden': False})
        decision = await decide(s, ticket)
        event = await _automatic_change(s, ticket, decision)
        if event is not None:  # the rules changed it, on this agent's word: the history names them
            event.actor_id = actor.id
            event.body = (f'{actor.display_name} switched the priority back to automatic: '
                          f'{event.old_value} → {event.new_value}')
        else:
            event = TicketEvent(ticket_id=ticket.id, kind=EventKind.FIELD_CHANGE, actor_id=actor.id,
                                field='priority_id', old_value=decision.priority_name, new_value=decision.priority_name,
                                body=f'{actor.display_name} switched the priority back to automatic ({decision.priority_name})',
                                data={'automatic': True, 'reason': decision.reason})
            s.add(event)
        await s.flush()
        uow.publish_after_commit(TicketChanged(ticket_id=ticket.id, kind='field_change', actor_id=actor.id,
                                               event_ids=(event.id,), fields=('priority_id',)))
    return ticket


# --- the rules themselves (admins; every change audited) ---

async def ensure_default_rules(session: AsyncSession) -> None:
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


def _rule_data(rule: PriorityRule) -> dict[str, Any]:
    return {'kind': rule.kind, 'impact': rule.impact, 'urgency': rule.urgency, 'match': rule.match,
            'level': rule.level, 'raise_by': rule.raise_by, 'is_active': rule.is_active}


def describe_rule(rule: PriorityRule, type_names: dict[int, str] | None = None) -> str:
    if rule.kind == RuleKind.MATRIX:
        return f'impact {rule.impact} × urgency {rule.urgency} → level {rule.level}'
    match = rule.match
    if rule.kind == RuleKind.TYPE and type_names and match.isdigit():
        match = type_names.get(int(match), match)
    effects = []
    if rule.raise_by:
        effects.append(f'{_steps(rule.raise_by)} step{"s" if abs(rule.raise_by) != 1 else ""}')
    if rule.level:
        effects.append(f'at least level {rule.level}')
    return f'{RuleKind(rule.kind).label} “{match}”: {", ".join(effects) or "no effect"}'


async def _describe(session: AsyncSession, rule: PriorityRule) -> str:
    return describe_rule(rule, dict((await session.execute(select(TicketType.id, TicketType.name))).all()))


async def set_matrix_level(*, actor: User, impact: str, urgency: str, level: int) -> PriorityRule:
    if not auth.can_configure_work(actor):
        raise PermissionDenied('Only admins can change prioritisation rules.')
    impact, urgency = level_value(impact, 'Impact'), level_value(urgency, 'Urgency')
    level = _check_level(level, required=True)
    async with unit_of_work() as uow:
        s = uow.session
        rule = (await s.execute(select(PriorityRule).where(PriorityRule.kind == RuleKind.MATRIX,
                                                           PriorityRule.impact == impact,
                                                           PriorityRule.urgency == urgency))).scalars().first()
        before = _rule_data(rule) if rule else None
        if rule is None:
            rule = PriorityRule(kind=RuleKind.MATRIX.value, impact=impact, urgency=urgency, level=level)
            s.add(rule)
        elif rule.level == level:
            return rule
        rule.level = level
        await s.flush()
        audit.record(s, actor, entity='priority_rule', entity_id=rule.id, action='update' if before else 'create',
                     summary=f'Matrix: {describe_rule(rule)}', data={'before': before, 'after': _rule_data(rule)})
    return rule


async def _validated(session: AsyncSession, kind: str, match: str, level: Any, raise_by: Any) -> dict[str, Any]:
    try:
        kind = RuleKind(kind).value
    except ValueError:
        raise ValidationError(f'{kind!r} is not a kind of rule.') from None
    if kind == RuleKind.MATRIX:
        raise ValidationError('Matrix cells are set with the matrix editor.')
    match = (match or '').strip()
    if not match:
        raise ValidationError('Say what the rule matches (a tier, a criticality, a type or a keyword).')
    if len(match) > 200:
        raise ValidationError('The match is too long (at most 200 characters).')
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


async def create_rule(*, actor: User, kind: str, match: str, raise_by: int = 0, level: int | None = None) -> PriorityRule:
    if not auth.can_configure_work(actor):
        raise PermissionDenied('Only admins can change prioritisation rules.')
    async with unit_of_work() as uow:
        s = uow.session
        values = await _validated(s, kind, match, level, raise_by)
        position = (await s.execute(select(func.coalesce(func.max(PriorityRule.position), 0)))).scalar_one() + 1
        rule = PriorityRule(position=position, is_active=True, **values)
        s.add(rule)
        await s.flush()
        audit.record(s, actor, entity='priority_rule', entity_id=rule.id, action='create',
                     summary=f'Added priority rule {await _describe(s, rule)}', data={'after': _rule_data(rule)})
    return rule


async def update_rule(*, actor: User, rule_id: int, kind: str, match: str, raise_by: int = 0,
                      level: int | None = None, is_active: bool = True) -> PriorityRule:
    if not auth.can_configure_work(actor):
        raise PermissionDenied('Only admins can change prioritisation rules.')
    async with unit_of_work() as uow:
        s = uow.session
        rule = await s.get(PriorityRule, rule_id)
        if rule is None or rule.kind == RuleKind.MATRIX:
            raise NotFound('No such prioritisation rule.')
        before = _rule_data(rule)
        for key, value in (await _validated(s, kind, match, level, raise_by)).items():
            setattr(rule, key, value)
        rule.is_active = bool(is_active)
        if _rule_data(rule) == before:
            return rule
        audit.record(s, actor, entity='priority_rule', entity_id=rule.id, action='update',
                     summary=f'Changed priority rule {await _describe(s, rule)}',
                     data={'before': before, 'after': _rule_data(rule)})
    return rule


async def delete_rule(*, actor: User, rule_id: int) -> None:
    if not auth.can_configure_work(actor):
        raise PermissionDenied('Only admins can change prioritisation rules.')
    async with unit_of_work() as uow:
        s = uow.session
        rule = await s.get(PriorityRule, rule_id)
        if rule is None or rule.kind == RuleKind.MATRIX:
            raise NotFound('No such prioritisation rule.')
        audit.record(s, actor, entity='priority_rule', entity_id=rule.id, action='delete',
                     summary=f'Deleted priority rule {await _describe(s, rule)}', data={'before': _rule_data(rule)})
        await s.delete(rule)
