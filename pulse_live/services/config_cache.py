"""The configuration every ticket write reads, kept per process and checked with one read per unit of work.

What a new ticket needs besides its own rows — the default type and priority, the active priorities and priority
rules, the routing rules and the default queue, the SLA policies and their calendars, the provider organisation,
which types, priorities and queues exist — changes only when an admin changes it. ``current(session)`` reads the
version row (``models/config_version.py``) and hands out the copy this process read under that version; a different
version reads everything again (in the caller's session) and keeps it under the version read *before* it (a change
committed in between only makes the next call read again).

Invalidation cannot be forgotten by a service: ``models/config_version.py`` hooks every session (from ``db.init``)
and bumps the version in the transaction of every ORM write to the configuration, so the very next ticket in any
process — another process reads the same row — sees the change. A session that changed configuration never stores
what it read in the process's copy (it may roll back).

The copy holds plain rows (``sqlalchemy.Row``: attribute access, immutable), never ORM objects, so nothing shared
between sessions can be changed or lazy-loaded by accident.
"""
from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import (
    BusinessCalendar,
    ConfigVersion,
    Organisation,
    Priority,
    PriorityRule,
    PriorityScale,
    Queue,
    RoutingRule,
    SlaPolicy,
    TicketType,
)
from ..models.config_version import CHANGED, CONFIG_MODELS, IN_SESSION, bump
from ..sla import policy as sla_engine
from ..sla.calendar import Calendar, CalendarError


@dataclass(frozen=True)
class Config:
    version: int | None
    default_type_id: int | None
    default_priority_id: int | None
    type_ids: frozenset[int]                   # the active types: what a new ticket may take
    priority_ids: frozenset[int]               # the active scale's priorities: what a new value may be
    queue_ids: frozenset[int]
    default_queue_id: int | None
    provider_organisation_id: int | None
    priority_rules: tuple[Any, ...]            # active, in order (rows with PriorityRule's attributes)
    priorities: tuple[tuple[int, str], ...]    # the active scale's (id, name), by rank
    routing_rules: tuple[Any, ...]             # active, in order (rows with RoutingRule's attributes)
    sla_rules: tuple[sla_engine.PolicyRule, ...]
    calendars: dict[int, Calendar]


_cached: weakref.WeakKeyDictionary[Any, Config] = weakref.WeakKeyDictionary()  # by the session's engine
loads = [0]  # how often the configuration was read from the database (tests look at it)


def _columns(model: type) -> list[Any]:
    from sqlalchemy import inspect
    mapper: Any = inspect(model)
    return [getattr(model, attr.key) for attr in mapper.column_attrs]


_parsed_calendars: dict[str, Calendar] = {}


def parse_calendar(definition: Any) -> Calendar:
    """``Calendar.from_dict`` remembered by the definition's text (a frozen value; reading one checks its holiday
    region, which costs more than the rest of a ticket's clock)."""
    key = json.dumps(definition, sort_keys=True, default=str)
    cal = _parsed_calendars.get(key)
    if cal is None:
        cal = Calendar.from_dict(definition)
        if len(_parsed_calendars) > 256:
            _parsed_calendars.clear()
        _parsed_calendars[key] = cal
    return cal


async def _version(session: AsyncSession) -> int | None:
    return (await session.execute(select(func.max(ConfigVersion.version)))).scalar()


async def _load(session: AsyncSession, version: int | None) -> Config:
    loads[0] += 1
    with session.no_autoflush:
        default_type = (await session.execute(select(TicketType.id).where(TicketType.is_active.is_(True))
                                              .order_by(TicketType.position, TicketType.id).limit(1))).scalar()
        type_ids = frozenset((await session.execute(select(TicketType.id)
                                                    .where(TicketType.is_active.is_(True)))).scalars())
        priority_rows = (await session.execute(
            select(Priority.id, Priority.name, Priority.rank, Priority.is_default, PriorityScale.is_active)
            .join(PriorityScale, Priority.scale_id == PriorityScale.id))).all()
        active = sorted((r for r in priority_rows if r.is_active), key=lambda r: r.rank)
        default = sorted(active, key=lambda r: (not r.is_default, -r.rank))
        queues = (await session.execute(select(Queue.id, Queue.is_default))).all()
        default_queue = min(queues, key=lambda q: (not q.is_default, q.id)).id if queues else None
        provider = (await session.execute(select(Organisation.id).where(Organisation.is_provider.is_(True))
                                          .order_by(Organisation.id).limit(1))).scalar()
        priority_rules = tuple((await session.execute(
            select(*_columns(PriorityRule)).where(PriorityRule.is_active.is_(True))
            .order_by(PriorityRule.position, PriorityRule.id))).all())
        routing_rules = tuple((await session.execute(
            select(*_columns(RoutingRule)).where(RoutingRule.is_active.is_(True))
            .order_by(RoutingRule.position, RoutingRule.id))).all())
        calendars: dict[int, Calendar] = {}
        for cal_id, definition in (await session.execute(select(BusinessCalendar.id, BusinessCalendar.definition))):
            try:
                calendars[cal_id] = parse_calendar(definition)
            except CalendarError:
                continue  # a calendar that no longer reads: its policies never apply (as sla.load_rules)
        sla_rules = tuple(
            sla_engine.PolicyRule(id=p.id, name=p.name, conditions=sla_engine.Conditions.from_dict(p.conditions),
                                  calendar_id=p.calendar_id, first_response_minutes=p.first_response_minutes,
                                  resolution_minutes=p.resolution_minutes, update_minutes=p.update_minutes)
            for p in (await session.execute(
                select(SlaPolicy.id, SlaPolicy.name, SlaPolicy.conditions, SlaPolicy.calendar_id,
                       SlaPolicy.first_response_minutes, SlaPolicy.resolution_minutes, SlaPolicy.update_minutes)
                .where(SlaPolicy.active.is_(True)).order_by(SlaPolicy.position, SlaPolicy.id)))
            if p.calendar_id in calendars)
    return Config(version=version, default_type_id=default_type, default_priority_id=default[0].id if default else None,
                  type_ids=type_ids, priority_ids=frozenset(r.id for r in active),
                  queue_ids=frozenset(q.id for q in queues), default_queue_id=default_queue,
                  provider_organisation_id=provider, priority_rules=priority_rules,
                  priorities=tuple((r.id, r.name) for r in active), routing_rules=routing_rules,
                  sla_rules=sla_rules, calendars=calendars)


async def current(session: AsyncSession) -> Config:
    """The stored configuration as this session sees it: one read of the version row per unit of work."""
    sync = session.sync_session
    if sync.info.get(CHANGED):  # this transaction changed configuration: read it as it is now, keep nothing
        sync.info.pop(IN_SESSION, None)
        return await _load(session, None)
    held: Config | None = sync.info.get(IN_SESSION)
    if held is not None:
        return held
    engine = session.bind
    version = await _version(session)
    cached = _cached.get(engine)
    if cached is None or version is None or cached.version != version:
        cached = await _load(session, version)
        if version is not None and not sync.info.get(CHANGED):
            _cached[engine] = cached
    sync.info[IN_SESSION] = cached
    return cached


def forget() -> None:
    """Drop every process copy (tests)."""
    _cached.clear()


__all__ = ['CONFIG_MODELS', 'Config', 'bump', 'current', 'forget', 'parse_calendar']
