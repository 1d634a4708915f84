"""Escalation rules as data, for admins: create, change, switch on/off, order, delete. Validated (a rule that can
never match, a zero time, an unknown queue or person are refused with a clear message; nothing stored is touched),
audited, and announced (``EscalationRulesChanged``: the acting worker re-schedules every open ticket)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db
from ..errors import NotFound, ValidationError
from ..events import EscalationRulesChanged
from ..models import (
    STAFF_ROLES,
    EscalationRule,
    Organisation,
    Priority,
    Queue,
    Role,
    Service,
    SlaPolicy,
    User,
    WebhookEndpoint,
    utcnow,
)
from ..sla import escalation as pure
from . import audit
from ._uow import unit_of_work

CHANNELS = ('in_app', 'mail')


def _require_admin(actor: User, what: str, target: object = '') -> None:
    if actor.role != Role.ADMIN:
        raise auth.deny(actor, f'change {what}', target, 'Only admins can change escalation rules.')


def _ids(value: Any, label: str) -> list[int]:
    if value in (None, ''):
        return []
    if not isinstance(value, list | tuple | set | frozenset) or \
            not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValidationError(f'{label}: give a list of ids.')
    return sorted(set(value))


async def _existing(session: AsyncSession, model: Any, ids: list[int], label: str) -> None:
    if not ids:
        return
    found = set((await session.execute(select(model.id).where(model.id.in_(ids)))).scalars())
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError(f'The rule can never match: {label} #{missing[0]} does not exist.')


async def _check_conditions(session: AsyncSession, conditions: Mapping[str, Any]) -> dict[str, list]:
    clean: dict[str, list[Any]] = {'priority_ids': _ids(conditions.get('priority_ids'), 'Priorities'),
             'service_ids': _ids(conditions.get('service_ids'), 'Services'),
             'queue_ids': _ids(conditions.get('queue_ids'), 'Queues'),
             'tiers': sorted({str(t).strip() for t in conditions.get('tiers') or [] if str(t).strip()})}
    await _existing(session, Priority, clean['priority_ids'], 'priority')
    await _existing(session, Service, clean['service_ids'], 'service')
    await _existing(session, Queue, clean['queue_ids'], 'queue')
    if clean['tiers']:
        known = set((await session.execute(select(Organisation.tier).where(Organisation.is_provider.is_(False))))
                    .scalars())
        unknown = [t for t in clean['tiers'] if t not in known]
        if len(unknown) == len(clean['tiers']):
            raise ValidationError(f'The rule can never match: no customer organisation has the tier {unknown[0]!r}.')
    return clean


async def _check_target(session: AsyncSession, clean: dict[str, Any]) -> None:
    """A target rule needs a policy that sets that target (else it can never match)."""
    if clean['target'] == 'next_update':
        has = (await session.execute(select(func.count(SlaPolicy.id)).where(
            SlaPolicy.active.is_(True), SlaPolicy.update_minutes.is_not(None)))).scalar_one()
        if not has:
            raise ValidationError('The rule can never match: no active SLA policy sets "update every N".')


async def _check_actions(session: AsyncSession, actions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    clean: list[dict[str, Any]] = []
    kinds = [a.get('type') for a in actions]
    if len(kinds) != len(set(kinds)) and kinds.count('notify') < 2 and kinds.count('webhook') < 2:
        raise ValidationError('Each action can be given once (notify and webhook may repeat).')
    staff_ids = set((await session.execute(select(User.id).where(
        User.role.in_([r.value for r in STAFF_ROLES]), User.is_active.is_(True)))).scalars())
    for action in actions:
        kind = action['type']
        if kind in ('raise_level', 'raise_priority'):
            clean.append({'type': kind})
        elif kind == 'move_queue':
            queue_id = action.get('queue_id')
            if not isinstance(queue_id, int) or await session.get(Queue, queue_id) is None:
                raise ValidationError('Move to queue: choose an existing queue.')
            clean.append({'type': kind, 'queue_id': queue_id})
        elif kind == 'assign':
            user_id = action.get('user_id')
            if user_id not in staff_ids:
                raise ValidationError('Assign: choose an active agent, manager or admin.')
            clean.append({'type': kind, 'user_id': user_id})
        elif kind == 'assign_lead':
            queue_id = action.get('queue_id')
            if queue_id is not None and (not isinstance(queue_id, int) or await session.get(Queue, queue_id) is None):
                raise ValidationError("Assign to a queue's lead: choose an existing queue (or the ticket's own).")
            clean.append({'type': kind, 'queue_id': queue_id})
        elif kind == 'add_team':
            users = _ids(action.get('user_ids'), 'Team')
            if not users or not set(users) <= staff_ids:
                raise ValidationError('Add to the team: choose one or more active staff members.')
            clean.append({'type': kind, 'user_ids': users})
        elif kind == 'notify':
            users = _ids(action.get('user_ids'), 'People')
            if not set(users) <= staff_ids:
                raise ValidationError('Notify: only active staff members can be notified.')
            roles = sorted(set(action.get('roles') or []))
            if not set(roles) <= {r.value for r in STAFF_ROLES}:
                raise ValidationError('Notify: roles are agent, manager or admin.')
            channels = sorted(set(action.get('channels') or []))
            if not channels or not set(channels) <= set(CHANNELS):
                raise ValidationError('Notify: choose in-app, mail or both.')
            queue_members, managers = bool(action.get('queue_members')), bool(action.get('managers'))
            if not (users or roles or queue_members or managers):
                raise ValidationError('Notify: choose whom to notify.')
            clean.append({'type': kind, 'user_ids': users, 'roles': roles, 'queue_members': queue_members,
                          'managers': managers, 'channels': channels})
        elif kind == 'webhook':
            endpoint_id = action.get('endpoint_id')
            if not isinstance(endpoint_id, int) or await session.get(WebhookEndpoint, endpoint_id) is None:
                raise ValidationError('Webhook: choose an existing webhook (add one under Webhooks first).')
            clean.append({'type': kind, 'endpoint_id': endpoint_id})
    return clean


async def _validated(session: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    actions = values.get('actions') or []
    if not isinstance(actions, list | tuple):
        raise ValidationError('Actions: give a list.')
    clean = pure.validate_rule(name=values.get('name'), criterion=values.get('criterion'),
                               target=values.get('target'), share_percent=values.get('share_percent'),
                               minutes=values.get('minutes'), conditions=values.get('conditions') or {},
                               actions=actions)
    clean['conditions'] = await _check_conditions(session, values.get('conditions') or {})
    await _check_target(session, clean)
    clean['actions'] = await _check_actions(session, actions)
    clean['round_the_clock'] = bool(values.get('round_the_clock'))
    return clean


async def _name_taken(session: AsyncSession, name: str, except_id: int | None) -> bool:
    query = select(EscalationRule.id).where(EscalationRule.name == name)
    if except_id is not None:
        query = query.where(EscalationRule.id != except_id)
    return (await session.execute(query)).first() is not None


def _data(rule: EscalationRule) -> dict[str, Any]:
    return {'name': rule.name, 'criterion': rule.criterion, 'target': rule.target,
            'share_percent': rule.share_percent, 'minutes': rule.minutes, 'conditions': rule.conditions,
            'actions': rule.actions, 'round_the_clock': rule.round_the_clock, 'is_active': rule.is_active}


async def _in_order(session: AsyncSession) -> None:
    """Rules are created (last: the highest position + 1), renamed and moved one transaction at a time: on
    PostgreSQL two rules created at once both got the same position."""
    await db.serialise(session, 'positions:escalation_rules')


async def save_rule(*, actor: User, name: str, criterion: str, target: str | None = None,
                    share_percent: int | None = None, minutes: int | None = None,
                    conditions: Mapping[str, Any] | None = None, actions: Sequence[Mapping[str, Any]] = (),
                    round_the_clock: bool = False, is_active: bool = True,
                    rule_id: int | None = None) -> EscalationRule:
    """Create (``rule_id`` None: last in the order) or change a rule."""
    _require_admin(actor, 'escalation rules', rule_id or name)
    async with unit_of_work() as uow:
        s = uow.session
        clean = await _validated(s, {'name': name, 'criterion': criterion, 'target': target,
                                     'share_percent': share_percent, 'minutes': minutes,
                                     'conditions': dict(conditions or {}), 'actions': list(actions),
                                     'round_the_clock': round_the_clock})
        await _in_order(s)
        if await _name_taken(s, clean['name'], rule_id):
            raise ValidationError(f'A rule named {clean["name"]!r} exists already.')
        if rule_id is None:
            position = (await s.execute(select(func.coalesce(func.max(EscalationRule.position), 0)))).scalar_one()
            rule = EscalationRule(**clean, position=position + 1, is_active=bool(is_active), created_at=utcnow(),
                                  updated_at=utcnow())
            s.add(rule)
            await s.flush()
            audit.record(s, actor, entity='escalation_rule', entity_id=rule.id, action='create',
                         summary=f'Escalation rule “{rule.name}” created', data=_data(rule))
        else:
            found = await s.get(EscalationRule, rule_id)
            if found is None:
                raise NotFound('That rule does not exist (any more).')
            rule = found
            before = _data(rule)
            for key, value in clean.items():
                setattr(rule, key, value)
            rule.is_active, rule.updated_at = bool(is_active), utcnow()
            audit.record(s, actor, entity='escalation_rule', entity_id=rule.id, action='update',
                         summary=f'Escalation rule “{rule.name}” changed', data={'before': before,
                                                                                 'after': _data(rule)})
        uow.publish_after_commit(EscalationRulesChanged())
    return rule


async def set_active(*, actor: User, rule_id: int, is_active: bool) -> None:
    _require_admin(actor, 'escalation rules', rule_id)
    async with unit_of_work() as uow:
        rule = await uow.session.get(EscalationRule, rule_id)
        if rule is None:
            raise NotFound('That rule does not exist (any more).')
        if rule.is_active != bool(is_active):
            rule.is_active = bool(is_active)
            audit.record(uow.session, actor, entity='escalation_rule', entity_id=rule.id,
                         action='activate' if is_active else 'deactivate',
                         summary=f'Escalation rule “{rule.name}” switched {"on" if is_active else "off"}')
            uow.publish_after_commit(EscalationRulesChanged())


async def delete_rule(*, actor: User, rule_id: int) -> None:
    _require_admin(actor, 'escalation rules', rule_id)
    async with unit_of_work() as uow:
        rule = await uow.session.get(EscalationRule, rule_id)
        if rule is None:
            raise NotFound('That rule does not exist (any more).')
        audit.record(uow.session, actor, entity='escalation_rule', entity_id=rule.id, action='delete',
                     summary=f'Escalation rule “{rule.name}” deleted', data=_data(rule))
        await uow.session.delete(rule)
        uow.publish_after_commit(EscalationRulesChanged())


async def move_rule(*, actor: User, rule_id: int, delta: int) -> None:
    """Move a rule up (-1) or down (+1) in the order the worker applies them."""
    _require_admin(actor, 'escalation rules', rule_id)
    async with unit_of_work() as uow:
        s = uow.session
        await _in_order(s)
        rules = list((await s.execute(select(EscalationRule).order_by(EscalationRule.position, EscalationRule.id)))
                     .scalars())
        index = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
        if index is None:
            raise NotFound('That rule does not exist (any more).')
        other = index + (1 if delta > 0 else -1)
        if not 0 <= other < len(rules):
            return
        rules[index], rules[other] = rules[other], rules[index]
        for position, rule in enumerate(rules, start=1):
            rule.position = position
        audit.record(s, actor, entity='escalation_rule', entity_id=rule_id, action='move',
                     summary=f'Escalation rule “{rules[other].name}” moved {"down" if delta > 0 else "up"}')
        uow.publish_after_commit(EscalationRulesChanged())
