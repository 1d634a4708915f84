"""A ticket's priority: the rules' decision applied inside the ticket services' writes, an agent's override, and the
two actions on it (rate impact and urgency; back to automatic).

The rules decide (``rules/prioritisation.py``, pure); this module reads their facts from the database and writes
the decision through ``ticket_write``. An agent setting the priority by hand is an override: recorded in the history
(the field change row) and never undone by the rules, until an agent asks for the automatic priority again
(``use_automatic``). The rules themselves are administered in ``rule_admin.py``.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth
from ..errors import ValidationError
from ..models import (
    EventKind,
    Organisation,
    PriorityRule,
    RuleKind,
    Service,
    Ticket,
    TicketEvent,
    TicketType,
    User,
)
from ..rules import prioritisation as engine
from ..rules.prioritisation import Decision, level_value
from . import config_cache, sla
from .labels import label_for
from .ticket_write import TicketWrite, ticket_write


async def _facts(session: AsyncSession, ticket: Ticket, rules: list[PriorityRule]) -> engine.Facts:
    """What the rules read of the ticket; the customer's tier, the service's criticality and the type's name only
    when a rule asks for them."""
    tier = criticality = type_name = None
    if engine.needs(rules, RuleKind.TIER):
        org_id = ticket.organisation_id
        if ticket.customer_id:
            org_id = (await session.execute(select(User.organisation_id).where(User.id == ticket.customer_id))) \
                .scalar_one_or_none() or org_id
        tier = (await session.execute(select(Organisation.tier).where(Organisation.id == org_id))).scalar_one_or_none()
    if ticket.service_id and engine.needs(rules, RuleKind.CRITICALITY):
        criticality = (await session.execute(select(Service.criticality)
                                             .where(Service.id == ticket.service_id))).scalar_one_or_none()
    if ticket.type_id and engine.needs(rules, RuleKind.TYPE):
        type_name = (await session.execute(select(TicketType.name)
                                           .where(TicketType.id == ticket.type_id))).scalar_one_or_none()
    return engine.Facts(impact=ticket.impact, urgency=ticket.urgency, type_id=ticket.type_id, type_name=type_name,
                        tier=tier, criticality=criticality, text=f'{ticket.title or ""}\n{ticket.description or ""}')


async def decide(session: AsyncSession, ticket: Ticket) -> Decision:
    """The priority the active rules give this ticket (as it is in the session now), and why."""
    config = await config_cache.current(session)  # the active rules and priorities (one version read per unit)
    rules: list[Any] = list(config.priority_rules)
    return engine.decide(await _facts(session, ticket, rules), rules, list(config.priorities))


def is_untouched(ticket: Ticket) -> bool:
    return engine.is_untouched(ticket.status, ticket.assignee_id, ticket.priority_overridden)


async def on_create(session: AsyncSession, actor: User, ticket: Ticket, *, explicit_priority: bool) -> str:
    """Called inside ``create_ticket``: an agent's chosen priority is an override, otherwise the rules decide."""
    if explicit_priority and auth.is_staff(actor):
        ticket.priority_overridden = True
        ticket.priority_reason = f'Set by {actor.display_name} when opening the ticket'
        return ticket.priority_reason
    decision = await decide(session, ticket)
    ticket.priority_id, ticket.priority_reason = decision.priority_id, decision.reason
    ticket.priority_overridden = False
    return decision.reason


async def _automatic_change(w: TicketWrite, decision: Decision) -> TicketEvent | None:
    """Apply the rules' decision to the ticket; a history row (by the system) when the priority itself changes."""
    ticket = w.ticket
    old = ticket.priority_id
    ticket.priority_reason = decision.reason
    if decision.priority_id == old:
        return None
    ticket.priority_id = decision.priority_id
    old_label = await label_for(w.session, 'priority_id', old)
    return w.add(EventKind.FIELD_CHANGE, f'Priority changed automatically {old_label} → {decision.priority_name}',
                 actor=None, field='priority_id', old_value=old_label, new_value=decision.priority_name,
                 data={'old': old, 'new': decision.priority_id, 'automatic': True, 'reason': decision.reason})


async def on_update(w: TicketWrite, changed: dict[str, Any]) -> TicketEvent | None:
    """Called inside ``update_ticket`` after the change was applied: a hand-set priority is an override; a changed
    input re-runs the rules while the ticket is untouched (the history row of a new priority is returned)."""
    if 'priority_id' in changed:
        if auth.is_staff(w.actor):
            w.ticket.priority_overridden = True
            w.ticket.priority_reason = f'Set by {w.actor.display_name}'
        return None
    if engine.INPUT_FIELDS.isdisjoint(changed) or not is_untouched(w.ticket):
        return None
    return await _automatic_change(w, await decide(w.session, w.ticket))


async def set_assessment(*, actor: User, ticket_id: int, expected_version: int, impact: str | None = None,
                         urgency: str | None = None) -> Ticket:
    """An agent rates impact and urgency; the rules re-prioritise while the ticket is untouched."""
    auth.require_staff(actor, 'rate impact and urgency of ticket', ticket_id)
    values: dict[str, str] = {}
    if impact is not None:
        values['impact'] = level_value(impact, 'Impact')
    if urgency is not None:
        values['urgency'] = level_value(urgency, 'Urgency')
    if not values:
        raise ValidationError('Nothing to change.')
    async with ticket_write(actor, ticket_id, expected_version=expected_version) as w:
        values = {k: v for k, v in values.items() if getattr(w.ticket, k) != v}
        if not values:
            return w.ticket
        old = {k: getattr(w.ticket, k) for k in values}
        await w.update(values, expected_version=expected_version)
        for field, new in values.items():
            await w.record_change(field, old[field], new)
        w.fields.extend(values)
        if is_untouched(w.ticket) and await _automatic_change(w, await decide(w.session, w.ticket)) is not None:
            w.fields.append('priority_id')
            await sla.on_inputs_changed(w, ['priority_id'])
    return w.ticket


async def use_automatic(*, actor: User, ticket_id: int, expected_version: int) -> Ticket:
    """Drop an agent's override: the rules set the priority again (recorded like any change)."""
    auth.require_staff(actor, 'switch the priority back to automatic of ticket', ticket_id)
    async with ticket_write(actor, ticket_id, expected_version=expected_version) as w:
        await w.update({'priority_overridden': False}, expected_version=expected_version)
        decision = await decide(w.session, w.ticket)
        event = await _automatic_change(w, decision)
        if event is not None:  # the rules changed it, on this agent's word: the history names them
            event.actor_id = actor.id
            event.body = (f'{actor.display_name} switched the priority back to automatic: '
                          f'{event.old_value} → {event.new_value}')
        else:
            w.add(EventKind.FIELD_CHANGE,
                  f'{actor.display_name} switched the priority back to automatic ({decision.priority_name})',
                  field='priority_id', old_value=decision.priority_name, new_value=decision.priority_name,
                  data={'automatic': True, 'reason': decision.reason})
        w.fields.append('priority_id')
        await sla.on_inputs_changed(w, ['priority_id'])
    return w.ticket
