"""Reads of the escalation worker and its admin page: what is due now (index-backed), a ticket's facts for the rules,
the rules, webhook endpoints and deliveries."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import db
from ..models import (
    CLOCK_RUNNING,
    STAFF_ROLES,
    BusinessCalendar,
    EscalationFiring,
    EscalationRule,
    EscalationSchedule,
    EventKind,
    Organisation,
    Priority,
    Queue,
    Service,
    SlaPolicy,
    Ticket,
    TicketEvent,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from ..sla import escalation as pure
from ..sla.calendar import ALWAYS_OPEN, Calendar
from .sla import pending_targets

OPEN = tuple(pure.OPEN_STATUSES)


# --- the worker ---------------------------------------------------------------------------------------------------

async def due_ticket_ids(session: AsyncSession, now: datetime, *, limit: int = 200) -> list[int]:
    """Tickets whose next escalation moment has come (``ix_escalation_schedule_due_at``: a range scan)."""
    return list((await session.execute(
        select(EscalationSchedule.ticket_id).where(EscalationSchedule.due_at <= now)
        .order_by(EscalationSchedule.due_at).limit(limit))).scalars())


async def next_due_at(session: AsyncSession) -> datetime | None:
    """The earliest scheduled escalation moment (the index's first entry)."""
    return (await session.execute(select(func.min(EscalationSchedule.due_at)))).scalar_one_or_none()


async def next_breach_due(session: AsyncSession) -> datetime | None:
    """The earliest pending due time of a running clock (first response, resolution, "update every N"): when the
    SLA clock's breach recorder has work next. One read per pending target, each the first entry of its
    ``ix_tickets_*_pending`` index (flag IS NULL / IS false, in due order): an index seek, whatever the number of
    tickets."""
    found: list[datetime] = []
    for flag, due in pending_targets():
        first = (await session.execute(select(due).where(flag, due.is_not(None),
                                                         Ticket.status.in_(CLOCK_RUNNING),
                                                         Ticket.sla_paused_since.is_(None))
                                       # the flag too: PostgreSQL reads the index in order only by all its columns
                                       .order_by(flag.left, due).limit(1))).scalar_one_or_none()
        if first is not None:
            found.append(first)
    return min(found, default=None)


async def open_ticket_ids(session: AsyncSession, *, after: int = 0, limit: int = 1000) -> list[int]:
    """Open tickets by id, a page at a time (for a full re-schedule)."""
    return list((await session.execute(select(Ticket.id).where(Ticket.status.in_(OPEN), Ticket.id > after)
                                       .order_by(Ticket.id).limit(limit))).scalars())


async def active_rules(session: AsyncSession) -> list[EscalationRule]:
    return list((await session.execute(select(EscalationRule).where(EscalationRule.is_active.is_(True))
                                       .order_by(EscalationRule.position, EscalationRule.id))).scalars())


def to_rule(row: EscalationRule) -> pure.Rule:
    return pure.Rule(id=row.id, name=row.name, criterion=row.criterion, target=row.target,
                     share_percent=row.share_percent, minutes=row.minutes,
                     conditions=pure.Conditions.from_dict(row.conditions), round_the_clock=row.round_the_clock)


async def fired_rule_ids(session: AsyncSession, ticket_ids: Iterable[int]) -> dict[tuple[int, int], set[int]]:
    """(ticket, cycle) → the rules that fired in that cycle."""
    ids = list(ticket_ids)
    found: dict[tuple[int, int], set[int]] = {}
    if not ids:
        return found
    for ticket_id, cycle, rule_id in (await session.execute(
            select(EscalationFiring.ticket_id, EscalationFiring.cycle, EscalationFiring.rule_id)
            .where(EscalationFiring.ticket_id.in_(ids)))).all():
        found.setdefault((ticket_id, cycle), set()).add(rule_id)
    return found


_calendars: dict[tuple[int, str], Calendar] = {}


def _calendar(calendar_id: int | None, definition: dict[str, Any] | None) -> Calendar:
    if calendar_id is None or not definition:
        return ALWAYS_OPEN
    key = (calendar_id, repr(sorted(definition.items())))
    cal = _calendars.get(key)
    if cal is None:
        try:
            cal = Calendar.from_dict(definition)
        except ValueError:
            cal = ALWAYS_OPEN
        if len(_calendars) > 256:
            _calendars.clear()
        _calendars[key] = cal
    return cal


async def facts(session: AsyncSession, ticket_ids: Iterable[int], *, need_events: bool = True
                ) -> dict[int, pure.Facts]:
    """The rules' facts of these tickets (open or not), in a few set-based reads. ``need_events`` False leaves out
    the history reads (last staff update, unassigned since, reopened at) when no rule needs them."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    rows = (await session.execute(
        select(Ticket.id, Ticket.status, Ticket.sla_cycle, Ticket.created_at, Ticket.priority_id, Ticket.service_id,
               Ticket.queue_id, Ticket.assignee_id, Ticket.first_response_due_at, Ticket.resolution_due_at,
               Ticket.next_update_due_at, Ticket.first_response_breached, Ticket.resolution_breached,
               Ticket.sla_paused_since, Ticket.sla_paused_seconds, Organisation.tier,
               SlaPolicy.first_response_minutes, SlaPolicy.resolution_minutes, SlaPolicy.update_minutes,
               SlaPolicy.calendar_id, BusinessCalendar.definition)
        .join(Organisation, Organisation.id == Ticket.organisation_id)
        .outerjoin(SlaPolicy, SlaPolicy.id == Ticket.sla_policy_id)
        .outerjoin(BusinessCalendar, BusinessCalendar.id == SlaPolicy.calendar_id)
        .where(Ticket.id.in_(ids)))).all()
    reopened: dict[int, datetime] = {}
    staff_update: dict[int, datetime] = {}
    assignee_change: dict[int, datetime] = {}
    if need_events:
        later = [r.id for r in rows if (r.sla_cycle or 1) > 1]
        if later:
            reopened = dict((await session.execute(
                select(TicketEvent.ticket_id, func.max(TicketEvent.created_at))
                .where(TicketEvent.ticket_id.in_(later), TicketEvent.kind == EventKind.FIELD_CHANGE.value,
                       TicketEvent.field == 'status', TicketEvent.old_value.in_(('Resolved', 'Closed')))
                .group_by(TicketEvent.ticket_id))).all())
        staff_update = dict((await session.execute(
            select(TicketEvent.ticket_id, func.max(TicketEvent.created_at))
            .join(User, User.id == TicketEvent.actor_id)
            .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind == EventKind.MESSAGE.value,
                   TicketEvent.is_internal.is_(False), User.role.in_([r.value for r in STAFF_ROLES]))
            .group_by(TicketEvent.ticket_id))).all())
        unassigned = [r.id for r in rows if r.assignee_id is None]
        if unassigned:
            assignee_change = dict((await session.execute(
                select(TicketEvent.ticket_id, func.max(TicketEvent.created_at))
                .where(TicketEvent.ticket_id.in_(unassigned), TicketEvent.kind == EventKind.FIELD_CHANGE.value,
                       TicketEvent.field == 'assignee_id')
                .group_by(TicketEvent.ticket_id))).all())
    result: dict[int, pure.Facts] = {}
    for r in rows:
        cycle_start = max(r.created_at, reopened.get(r.id, r.created_at))
        update = staff_update.get(r.id)
        unassigned_since = max(cycle_start, assignee_change.get(r.id, cycle_start))
        result[r.id] = pure.Facts(
            status=r.status, cycle=r.sla_cycle or 1, cycle_started_at=cycle_start, priority_id=r.priority_id,
            tier=r.tier, service_id=r.service_id, queue_id=r.queue_id, assignee_id=r.assignee_id,
            unassigned_since=unassigned_since,
            last_staff_update_at=update if update is not None and update >= cycle_start else None,
            due={'first_response': r.first_response_due_at, 'resolution': r.resolution_due_at,
                 'next_update': r.next_update_due_at},
            met={'first_response': r.first_response_breached, 'resolution': r.resolution_breached},
            target_minutes={'first_response': r.first_response_minutes, 'resolution': r.resolution_minutes,
                            'next_update': r.update_minutes},
            paused_since=r.sla_paused_since, paused_seconds=r.sla_paused_seconds or 0, clock_started_at=r.created_at,
            calendar=_calendar(r.calendar_id, r.definition))
    return result


# --- the admin page -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleRow:
    id: int
    name: str
    position: int
    is_active: bool
    criterion: str
    target: str | None
    share_percent: int | None
    minutes: int | None
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    round_the_clock: bool
    when: str  # readable criterion
    where: str  # readable conditions
    does: str  # readable actions
    fired: int  # how often it fired


@dataclass(frozen=True)
class EndpointRow:
    id: int
    name: str
    url: str
    secret: str
    is_active: bool
    pending: int
    dead: int


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    endpoint: str
    ticket_reference: str | None
    event: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str
    created_at: datetime
    next_attempt_at: datetime


@dataclass(frozen=True)
class Choices:
    priorities: dict[int, str]
    queues: dict[int, str]
    services: dict[int, str]
    tiers: list[str]
    staff: dict[int, str]
    endpoints: dict[int, str]


def _duration(minutes: int | None) -> str:
    if minutes is None:
        return '?'
    if minutes % 60 == 0:
        hours = minutes // 60
        return f'{hours} h' if hours % 24 or hours == 0 else f'{hours // 24} d'
    return f'{minutes} min'


def describe_when(row: EscalationRule | RuleRow) -> str:
    target = pure.TARGET_LABELS.get(row.target or '', row.target or '')
    text = {'target_share': f'{row.share_percent} % of {target} used', 'breached': f'{target} breached',
            'unassigned': f'unassigned for {_duration(row.minutes)}',
            'no_update': f'no staff update for {_duration(row.minutes)}',
            'reopened': 'reopened'}.get(row.criterion, row.criterion)
    return text + (' (24/7)' if row.round_the_clock else ' (business hours)')


def describe_where(conditions: dict[str, Any], c: Choices) -> str:
    parts = []
    for key, label, names in (('priority_ids', 'priority', c.priorities), ('tiers', 'tier', None),
                              ('queue_ids', 'queue', c.queues), ('service_ids', 'service', c.services)):
        values = conditions.get(key) or []
        if values:
            shown = [str(names.get(v, f'#{v}')) if names is not None else str(v) for v in values]
            parts.append(f'{label} {" or ".join(shown)}')
    return ', '.join(parts) or 'every ticket'


def describe_actions(actions: list[dict[str, Any]], c: Choices) -> str:
    parts = []
    for a in actions:
        kind = a.get('type')
        if kind == 'raise_level':
            parts.append('raise the escalation level')
        elif kind == 'move_queue':
            parts.append(f'move to {c.queues.get(a.get("queue_id") or 0, "?")}')
        elif kind == 'assign':
            parts.append(f'assign to {c.staff.get(a.get("user_id") or 0, "?")}')
        elif kind == 'assign_lead':
            queue = c.queues.get(a.get('queue_id') or 0, "the ticket's queue") if a.get('queue_id') \
                else "the ticket's queue"
            parts.append(f'assign to the lead of {queue}')
        elif kind == 'raise_priority':
            parts.append('raise the priority')
        elif kind == 'add_team':
            parts.append('add ' + ', '.join(c.staff.get(u, f'#{u}') for u in a.get('user_ids') or []) + ' to the team')
        elif kind == 'notify':
            who = [c.staff.get(u, f'#{u}') for u in a.get('user_ids') or []]
            who += [f'all {r}s' for r in a.get('roles') or []]
            if a.get('queue_members'):
                who.append("the queue's members")
            if a.get('managers'):
                who.append('the managers')
            how = ' and '.join({'in_app': 'in-app', 'mail': 'mail'}.get(ch, ch) for ch in a.get('channels') or [])
            parts.append(f'notify {", ".join(who) or "nobody"} ({how or "in-app"})')
        elif kind == 'webhook':
            parts.append(f'webhook {c.endpoints.get(a.get("endpoint_id") or 0, "?")}')
    return '; '.join(parts)


async def choices(session: AsyncSession | None = None) -> Choices:
    async def read(s: AsyncSession) -> Choices:
        priorities = dict((await s.execute(select(Priority.id, Priority.name).order_by(Priority.rank))).all())
        queues = dict((await s.execute(select(Queue.id, Queue.name).order_by(Queue.name))).all())
        services = dict((await s.execute(select(Service.id, Service.name).order_by(Service.name))).all())
        tiers = sorted(set((await s.execute(select(Organisation.tier).where(Organisation.is_provider.is_(False))))
                           .scalars()) | {'gold', 'silver', 'standard'})
        staff = dict((await s.execute(select(User.id, User.display_name)
                                      .where(User.role.in_([r.value for r in STAFF_ROLES]),
                                             User.is_active.is_(True)).order_by(User.display_name))).all())
        endpoints = dict((await s.execute(select(WebhookEndpoint.id, WebhookEndpoint.name)
                                          .order_by(WebhookEndpoint.name))).all())
        return Choices(priorities, queues, services, tiers, staff, endpoints)
    if session is not None:
        return await read(session)
    async with db.session() as s:
        return await read(s)


async def rule_rows() -> tuple[list[RuleRow], Choices]:
    async with db.session() as s:
        c = await choices(s)
        fired = dict((await s.execute(select(EscalationFiring.rule_id, func.count(EscalationFiring.id))
                                      .group_by(EscalationFiring.rule_id))).all())
        rules = list((await s.execute(select(EscalationRule).order_by(EscalationRule.position, EscalationRule.id)))
                     .scalars())
    return [RuleRow(r.id, r.name, r.position, r.is_active, r.criterion, r.target, r.share_percent, r.minutes,
                    dict(r.conditions or {}), list(r.actions or []), r.round_the_clock, describe_when(r),
                    describe_where(r.conditions or {}, c), describe_actions(r.actions or [], c), fired.get(r.id, 0))
            for r in rules], c


async def endpoint_rows() -> list[EndpointRow]:
    async with db.session() as s:
        counts = {(e, st): n for e, st, n in (await s.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count(WebhookDelivery.id))
            .where(WebhookDelivery.status.in_(('pending', 'dead')))
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status))).all()}
        rows = list((await s.execute(select(WebhookEndpoint).order_by(WebhookEndpoint.name))).scalars())
    return [EndpointRow(e.id, e.name, e.url, e.secret, e.is_active, counts.get((e.id, 'pending'), 0),
                        counts.get((e.id, 'dead'), 0)) for e in rows]


async def delivery_rows(*, limit: int = 50) -> list[DeliveryRow]:
    async with db.session() as s:
        rows = (await s.execute(
            select(WebhookDelivery, WebhookEndpoint.name, Ticket.reference)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .outerjoin(Ticket, and_(Ticket.id == WebhookDelivery.ticket_id))
            .order_by(WebhookDelivery.id.desc()).limit(limit))).all()
    return [DeliveryRow(d.id, name, ref, d.event, d.status, d.attempts, d.last_status, d.last_error, d.created_at,
                        d.next_attempt_at) for d, name, ref in rows]
