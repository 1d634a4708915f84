"""Admins' service levels: business calendars and the ordered SLA policies (validated, audited), the shipped
defaults, and recomputing the clocks of open tickets after a change.

Every refusal says what is wrong and stores nothing: a calendar without working hours, overlapping hours, an
unknown time zone or holiday region (``sla.calendar``), a target of zero or less, an unknown calendar, a condition
that names a priority / type / service / queue / tier / channel that does not exist (``sla.policy``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db
from ..errors import NotFound, ValidationError
from ..events import SlaRecomputeRequested
from ..models import (
    BusinessCalendar,
    Channel,
    Organisation,
    Priority,
    PriorityScale,
    Queue,
    Service,
    SlaPolicy,
    TicketType,
    User,
    utcnow,
)
from ..sla import policy as engine
from ..sla.calendar import MAX_AHEAD_DAYS, Calendar, CalendarError, add_business_time, make_calendar
from . import audit, sla
from ._uow import UnitOfWork, unit_of_work
from .customers import TIER_SUGGESTIONS

NAME_LIMIT = 200
DEFAULT_CALENDAR = 'Business hours'
ALWAYS_CALENDAR = '24/7'
BUSINESS_HOURS: dict[int | str, Iterable[str]] = {day: ['08:00-17:00'] for day in ('mon', 'tue', 'wed', 'thu', 'fri')}
# (scale key, priority name) → (calendar, first response, resolution, update every) in minutes; 9 h business days
DEFAULT_TARGETS: dict[tuple[str, str], tuple[str, int, int, int | None]] = {
    ('pulse', 'Critical'): (ALWAYS_CALENDAR, 30, 4 * 60, 60),
    ('pulse', 'Major'): (DEFAULT_CALENDAR, 2 * 60, 2 * 9 * 60, None),
    ('pulse', 'Minor'): (DEFAULT_CALENDAR, 8 * 60, 5 * 9 * 60, None),
    ('helpdesk-1-5', '1 Critical'): (ALWAYS_CALENDAR, 15, 4 * 60, 30),
    ('helpdesk-1-5', '2 Critical'): (DEFAULT_CALENDAR, 60, 9 * 60, 2 * 60),
    ('helpdesk-1-5', '3 Not critical'): (DEFAULT_CALENDAR, 4 * 60, 3 * 9 * 60, None),
    ('helpdesk-1-5', '4 Not critical'): (DEFAULT_CALENDAR, 9 * 60, 5 * 9 * 60, None),
    ('helpdesk-1-5', '5 Little problem'): (DEFAULT_CALENDAR, 2 * 9 * 60, 10 * 9 * 60, None),
}
SCALE_LABELS = {'pulse': 'Pulse', 'helpdesk-1-5': 'Help desk'}


def _require_admin(actor: User, what: str, target: object = '') -> None:
    if not auth.can_configure_work(actor):
        raise auth.deny(actor, f'change {what}', target, f'Only admins can change {what}.')


def _name(value: Any, what: str) -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationError(f'The {what} name must be text.')
    value = (value or '').strip()
    if not value:
        raise ValidationError(f'Give the {what} a name.')
    if len(value) > NAME_LIMIT:
        raise ValidationError(f'The {what} name is too long (at most {NAME_LIMIT} characters).')
    return value


async def _unique(session: AsyncSession, model: Any, name: str, own_id: int | None, what: str) -> None:
    other = (await session.execute(select(model.id).where(func.lower(model.name) == name.lower()))).scalar_one_or_none()
    if other is not None and other != own_id:
        raise ValidationError(f'There is already a {what} called “{name}”.')


# --- calendars --------------------------------------------------------------------------------------------------

async def save_calendar(*, actor: User, name: str, timezone: str = 'UTC',
                        hours: Mapping[int | str, Iterable[str]] | None = None, country: str | None = None,
                        subdivision: str | None = None, closed_dates: Iterable[Any] = (), always_open: bool = False,
                        calendar_id: int | None = None) -> BusinessCalendar:
    """Create (``calendar_id`` None) or change a business calendar; the clocks under it are recomputed."""
    _require_admin(actor, 'business calendars', calendar_id or name)
    name = _name(name, 'calendar')
    calendar = make_calendar(timezone=timezone, hours=hours or {}, country=country or None,
                             subdivision=subdivision or None, closed_dates=closed_dates, always_open=always_open)
    async with unit_of_work() as uow:
        s = uow.session
        await _unique(s, BusinessCalendar, name, calendar_id, 'calendar')
        if calendar_id is None:
            row = BusinessCalendar(name=name, definition=calendar.to_dict())
            s.add(row)
            await s.flush()
            audit.record(s, actor, entity='business_calendar', entity_id=row.id, action='create',
                         summary=f'Created calendar “{name}”: {calendar.describe()}', data=calendar.to_dict())
        else:
            found = await s.get(BusinessCalendar, calendar_id)
            if found is None:
                raise NotFound('No such calendar.')
            row = found
            for policy, *targets in (await s.execute(
                    select(SlaPolicy.name, SlaPolicy.first_response_minutes, SlaPolicy.resolution_minutes,
                           SlaPolicy.update_minutes).where(SlaPolicy.calendar_id == calendar_id))).all():
                _within_reach(calendar, name, policy, max(t or 0 for t in targets))
            before = {'name': row.name, **row.definition}
            row.name, row.definition = name, calendar.to_dict()
            audit.record(s, actor, entity='business_calendar', entity_id=row.id, action='update',
                         summary=f'Changed calendar “{name}”: {calendar.describe()}',
                         data={'before': before, 'after': {'name': name, **calendar.to_dict()}})
            await _recompute_later(uow, f'Calendar “{name}” changed')
    return row


def _within_reach(calendar: Calendar, calendar_name: str, policy: str, minutes: int) -> None:
    """A policy's longest target fits in its calendar: due times no more than ``MAX_AHEAD_DAYS`` ahead (a calendar of
    one working minute a week and a target of a year froze the server 30–80 s per ticket, then refused every
    ticket the policy matched)."""
    try:
        add_business_time(calendar, utcnow(), timedelta(minutes=minutes))
    except CalendarError:
        raise ValidationError(f'With the calendar “{calendar_name}”, the target of {minutes:,} minutes of “{policy}” '
                              f'would be due more than {MAX_AHEAD_DAYS // 366} years from now: give the calendar '
                              'more working time or the policy shorter targets.') from None


async def delete_calendar(*, actor: User, calendar_id: int) -> None:
    _require_admin(actor, 'business calendars', calendar_id)
    async with unit_of_work() as uow:
        s = uow.session
        row = await s.get(BusinessCalendar, calendar_id)
        if row is None:
            raise NotFound('No such calendar.')
        users = list((await s.execute(select(SlaPolicy.name).where(SlaPolicy.calendar_id == calendar_id))).scalars())
        if users:
            raise ValidationError(f'The calendar “{row.name}” is used by {", ".join(users)}; '
                                  'give those policies another calendar first.')
        audit.record(s, actor, entity='business_calendar', entity_id=row.id, action='delete',
                     summary=f'Deleted calendar “{row.name}”', data=dict(row.definition))
        await s.delete(row)


# --- policies ---------------------------------------------------------------------------------------------------

async def known_values(session: AsyncSession) -> dict[str, set[Any]]:
    """What a policy's conditions may name (``sla.policy.check_conditions``)."""
    return {
        'priority_ids': set((await session.execute(select(Priority.id))).scalars()),
        'type_ids': set((await session.execute(select(TicketType.id))).scalars()),
        'tiers': set((await session.execute(select(Organisation.tier).distinct())).scalars()) | set(TIER_SUGGESTIONS),
        'service_ids': set((await session.execute(select(Service.id))).scalars()),
        'queue_ids': set((await session.execute(select(Queue.id))).scalars()),
        'channels': {c.value for c in Channel},
    }


async def _in_order(session: AsyncSession) -> None:
    """Policies are created (last: the highest position + 1), renamed and moved one transaction at a time. The
    first policy that matches a ticket applies: on PostgreSQL two policies created at once both got the same position,
    and which of them applied was left to the database."""
    await db.serialise(session, 'positions:sla_policies')


async def save_policy(*, actor: User, name: str, calendar_id: Any, first_response_minutes: Any,
                      resolution_minutes: Any, update_minutes: Any = None, conditions: Mapping[str, Any] | None = None,
                      active: bool = True, policy_id: int | None = None) -> SlaPolicy:
    """Create (last in the order) or change a policy; open tickets' clocks are recomputed afterwards."""
    _require_admin(actor, 'SLA policies', policy_id or name)
    name = _name(name, 'policy')
    first, resolution, every = engine.check_targets(first_response_minutes, resolution_minutes, update_minutes)
    async with unit_of_work() as uow:
        s = uow.session
        await _in_order(s)
        await _unique(s, SlaPolicy, name, policy_id, 'policy')
        checked = engine.check_conditions(conditions, await known_values(s))
        try:
            cal_id = int(calendar_id)
        except (TypeError, ValueError):
            raise ValidationError('Choose the calendar the targets count in.') from None
        cal_row = await s.get(BusinessCalendar, cal_id)
        if cal_row is None:
            raise ValidationError(f'Unknown calendar (#{cal_id}); choose one of the calendars.')
        _within_reach(Calendar.from_dict(cal_row.definition), cal_row.name, name, max(first, resolution, every or 0))
        values = {'name': name, 'calendar_id': cal_id, 'first_response_minutes': first,
                  'resolution_minutes': resolution, 'update_minutes': every, 'conditions': checked.to_dict(),
                  'active': bool(active)}
        if policy_id is None:
            top = (await s.execute(select(func.max(SlaPolicy.position)))).scalar_one_or_none() or 0
            row = SlaPolicy(position=top + 1, **values)
            s.add(row)
            await s.flush()
            audit.record(s, actor, entity='sla_policy', entity_id=row.id, action='create',
                         summary=f'Created SLA policy “{name}”', data=dict(values))
        else:
            found = await s.get(SlaPolicy, policy_id)
            if found is None:
                raise NotFound('No such SLA policy.')
            row = found
            before = {k: getattr(row, k) for k in values}
            for key, value in values.items():
                setattr(row, key, value)
            audit.record(s, actor, entity='sla_policy', entity_id=row.id, action='update',
                         summary=f'Changed SLA policy “{name}”', data={'before': before, 'after': dict(values)})
        await _recompute_later(uow, f'SLA policy “{name}” {"created" if policy_id is None else "changed"}')
    return row


async def delete_policy(*, actor: User, policy_id: int) -> None:
    _require_admin(actor, 'SLA policies', policy_id)
    async with unit_of_work() as uow:
        s = uow.session
        row = await s.get(SlaPolicy, policy_id)
        if row is None:
            raise NotFound('No such SLA policy.')
        audit.record(s, actor, entity='sla_policy', entity_id=row.id, action='delete',
                     summary=f'Deleted SLA policy “{row.name}”', data={'name': row.name, 'conditions': row.conditions})
        await s.delete(row)
        await _recompute_later(uow, f'SLA policy “{row.name}” deleted')


async def move_policy(*, actor: User, policy_id: int, delta: int) -> None:
    """Move a policy up (delta < 0) or down in the order; positions are renumbered 1…n."""
    _require_admin(actor, 'SLA policies', policy_id)
    async with unit_of_work() as uow:
        s = uow.session
        await _in_order(s)
        rows = list((await s.execute(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id))).scalars())
        index = next((i for i, r in enumerate(rows) if r.id == policy_id), None)
        if index is None:
            raise NotFound('No such SLA policy.')
        target = max(0, min(len(rows) - 1, index + (1 if delta > 0 else -1)))
        if target == index:
            return
        before = [r.id for r in rows]
        rows.insert(target, rows.pop(index))
        for position, row in enumerate(rows, start=1):
            row.position = position
        audit.record(s, actor, entity='sla_policy', entity_id=policy_id, action='move',
                     summary=f'Moved SLA policy “{rows[target].name}” to position {target + 1}',
                     data={'before': before, 'after': [r.id for r in rows]})
        await _recompute_later(uow, f'SLA policy “{rows[target].name}” moved to position {target + 1}')


async def _recompute_later(uow: UnitOfWork, reason: str) -> None:
    """The open tickets' clocks follow the change: marked in the admin's transaction, done by the escalation worker
    in batches (``sla.run_clock_jobs``) — the save returns at once; /admin/sla shows the progress."""
    await sla.request_recompute(uow.session, reason=reason)
    uow.publish_after_commit(SlaRecomputeRequested())


async def recompute_open() -> int:
    """Every open ticket's clock under the policies as they are now, at once (the command line, benchmarks): a
    recompute job run to its end here rather than by the worker. Returns how many clocks changed."""
    async with unit_of_work() as uow:
        await sla.request_recompute(uow.session, reason='Recompute requested')
    return len((await sla.run_clock_jobs()).changed)


# --- the shipped defaults ---------------------------------------------------------------------------------------

async def ensure_default_sla(session: AsyncSession) -> None:
    """A business-hours calendar (Mon–Fri 08:00–17:00, Europe/Zurich, Swiss holidays), a 24/7 one, and a policy per
    priority of both shipped scales — only into an installation without any calendar yet (idempotent)."""
    if (await session.execute(select(BusinessCalendar.id).limit(1))).first():
        return
    business = BusinessCalendar(name=DEFAULT_CALENDAR, definition=make_calendar(
        timezone='Europe/Zurich', hours=BUSINESS_HOURS, country='CH').to_dict())
    always = BusinessCalendar(name=ALWAYS_CALENDAR, definition=make_calendar(always_open=True).to_dict())
    session.add_all([business, always])
    await session.flush()
    calendars = {DEFAULT_CALENDAR: business.id, ALWAYS_CALENDAR: always.id}
    rows = (await session.execute(select(PriorityScale.key, Priority.id, Priority.name, Priority.rank)
                                  .join(Priority, Priority.scale_id == PriorityScale.id)
                                  .order_by(PriorityScale.is_active.desc(), PriorityScale.id, Priority.rank))).all()
    position = 0
    for key, priority_id, priority_name, _rank in rows:
        target = DEFAULT_TARGETS.get((key, priority_name))
        if target is None:
            continue
        calendar, first, resolution, every = target
        position += 1
        session.add(SlaPolicy(name=f'{SCALE_LABELS.get(key, key)} · {priority_name}', position=position, active=True,
                              conditions={'priority_ids': [priority_id]}, calendar_id=calendars[calendar],
                              first_response_minutes=first, resolution_minutes=resolution, update_minutes=every))
