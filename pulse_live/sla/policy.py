"""Service-level policies, pure: a ticket's facts and the ordered policies in, the first match and its due times out.

No database, no services (import-linter contract). ``services/sla.py`` reads the facts and the policies, applies the
answer through the ticket write; ``services/sla_admin.py`` validates what admins store with ``check_conditions`` /
``check_targets``.

**The clock** of a ticket is anchored at its creation: a target of T business minutes is due
``add_business_time(calendar, created_at, T + paused)``, where ``paused`` is the business time the ticket spent
paused so far (waiting for the customer, resolved before a reopen). A pause running now is not in ``paused`` yet:
its due times stand still (``remaining`` is frozen) until it ends and is added. Recomputing after a change of
policy (priority, type, tier, service, queue) therefore keeps the paused time.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..errors import ValidationError
from .calendar import Calendar, add_business_time, business_time_between

__all__ = [
    'AT_RISK_SHARE', 'CONDITION_KEYS', 'Conditions', 'Due', 'Facts', 'PolicyError', 'PolicyRule', 'check_conditions',
    'check_targets', 'due_times', 'first_match', 'matches', 'paused_between', 'risk_moment', 'target_used',
]

AT_RISK_SHARE = 0.75
"""A target is "at risk" (amber) once this share of it is used (less than 25 % left)."""
MAX_TARGET_MINUTES = 366 * 24 * 60
CONDITION_KEYS = ('priority_ids', 'type_ids', 'tiers', 'service_ids', 'queue_ids', 'channels')
CONDITION_LABELS = {'priority_ids': 'priority', 'type_ids': 'type', 'tiers': 'customer tier',
                    'service_ids': 'service', 'queue_ids': 'queue', 'channels': 'channel'}


class PolicyError(ValidationError, ValueError):
    """A policy was refused; the message says why and is safe to show."""


@dataclass(frozen=True)
class Conditions:
    """Each set: the ticket's value must be one of them; an empty set matches anything."""
    priority_ids: frozenset[int] = frozenset()
    type_ids: frozenset[int] = frozenset()
    tiers: frozenset[str] = frozenset()
    service_ids: frozenset[int] = frozenset()
    queue_ids: frozenset[int] = frozenset()
    channels: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, list[Any]]:
        return {key: sorted(getattr(self, key)) for key in CONDITION_KEYS if getattr(self, key)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Conditions:
        data = data or {}
        return cls(**{key: frozenset(data.get(key) or ()) for key in CONDITION_KEYS})

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, key) for key in CONDITION_KEYS)


@dataclass(frozen=True)
class Facts:
    """What policies read of a ticket."""
    priority_id: int | None = None
    type_id: int | None = None
    tier: str | None = None
    service_id: int | None = None
    queue_id: int | None = None
    channel: str | None = None


@dataclass(frozen=True)
class PolicyRule:
    id: int
    name: str
    conditions: Conditions
    calendar_id: int
    first_response_minutes: int
    resolution_minutes: int
    update_minutes: int | None = None


@dataclass(frozen=True)
class Due:
    """The due times of a ticket under a policy (naive UTC), and the moments they become at risk."""
    first_response: datetime
    resolution: datetime
    first_response_risk: datetime
    resolution_risk: datetime


def matches(conditions: Conditions, facts: Facts) -> bool:
    def ok(allowed: frozenset[Any], value: Any) -> bool:
        return not allowed or value in allowed
    return (ok(conditions.priority_ids, facts.priority_id) and ok(conditions.type_ids, facts.type_id)
            and ok(conditions.tiers, facts.tier) and ok(conditions.service_ids, facts.service_id)
            and ok(conditions.queue_ids, facts.queue_id) and ok(conditions.channels, facts.channel))


def first_match(policies: Iterable[PolicyRule], facts: Facts) -> PolicyRule | None:
    """The first policy (in the given order: position, then id) whose conditions all match."""
    for policy in policies:
        if matches(policy.conditions, facts):
            return policy
    return None


def check_conditions(raw: Mapping[str, Any] | None, known: Mapping[str, Iterable[Any]]) -> Conditions:
    """Validate conditions as admins give them (lists of ids / names per key) against the values that exist
    (``known``: key → the ids or names there are). A value that names nothing could never match: refused."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise PolicyError('Conditions must be a mapping like {"priority_ids": [1, 2]}.')
    unknown_keys = set(raw) - set(CONDITION_KEYS)
    if unknown_keys:
        raise PolicyError(f'Unknown condition(s): {", ".join(sorted(map(str, unknown_keys)))}; '
                          f'known: {", ".join(CONDITION_KEYS)}.')
    values: dict[str, frozenset[Any]] = {}
    for key in CONDITION_KEYS:
        given = raw.get(key) or ()
        if isinstance(given, str | int):
            given = [given]
        if not isinstance(given, Iterable):
            raise PolicyError(f'The {CONDITION_LABELS[key]} condition must be a list.')
        label = CONDITION_LABELS[key]
        cleaned: set[Any] = set()
        for item in given:
            if key.endswith('_ids'):
                if isinstance(item, bool):
                    raise PolicyError(f'The {label} condition names {item!r}, which is not an id.')
                try:
                    item = int(item)
                except (TypeError, ValueError):
                    raise PolicyError(f'The {label} condition names {item!r}, which is not an id.') from None
            elif not isinstance(item, str) or not item.strip():
                raise PolicyError(f'The {label} condition names {item!r}, which is not a name.')
            else:
                item = item.strip()
            cleaned.add(item)
        allowed = set(known.get(key, ()))
        missing = sorted(cleaned - allowed, key=str)
        if missing:
            raise PolicyError(f'The {label} condition names {", ".join(map(str, missing))}, which '
                              f'{"does" if len(missing) == 1 else "do"} not exist: the policy could never match.')
        values[key] = frozenset(cleaned)
    return Conditions(**values)


def _minutes(value: Any, label: str, *, optional: bool = False) -> int | None:
    if value in (None, '') and optional:
        return None
    if isinstance(value, bool):
        raise PolicyError(f'{label}: give a number of minutes.')
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PolicyError(f'{label}: "{value}" is not a number of minutes.') from None
    if number != number or number <= 0:  # NaN, zero, negative
        raise PolicyError(f'{label} must be more than zero minutes.')
    if number != int(number):
        raise PolicyError(f'{label}: give whole minutes.')
    if number > MAX_TARGET_MINUTES:
        raise PolicyError(f'{label}: at most {MAX_TARGET_MINUTES} minutes (a year).')
    return int(number)


def check_targets(first_response: Any, resolution: Any, update: Any = None) -> tuple[int, int, int | None]:
    """The targets in minutes, each more than zero; the resolution is not sooner than the first response."""
    fr = _minutes(first_response, 'First response target')
    res = _minutes(resolution, 'Resolution target')
    upd = _minutes(update, '"Update every" target', optional=True)
    assert fr is not None and res is not None
    if res < fr:
        raise PolicyError('The resolution target cannot be sooner than the first response target.')
    return fr, res, upd


def due_times(cal: Calendar, created_at: datetime, paused_seconds: int, policy: PolicyRule) -> Due:
    """The due times of a ticket created at ``created_at`` that has been paused ``paused_seconds`` of business
    time so far (see the module docstring)."""
    paused = timedelta(seconds=max(0, paused_seconds))

    def at(minutes: float) -> datetime:
        return add_business_time(cal, created_at, timedelta(minutes=minutes) + paused)
    return Due(first_response=at(policy.first_response_minutes), resolution=at(policy.resolution_minutes),
               first_response_risk=at(policy.first_response_minutes * AT_RISK_SHARE),
               resolution_risk=at(policy.resolution_minutes * AT_RISK_SHARE))


def risk_moment(cal: Calendar, created_at: datetime, paused_seconds: int, target_minutes: int,
                share: float = AT_RISK_SHARE) -> datetime:
    """When ``share`` of a target is used (the countdown turns amber then)."""
    return add_business_time(cal, created_at, timedelta(minutes=target_minutes * share,
                                                        seconds=max(0, paused_seconds)))


def paused_between(cal: Calendar, since: datetime, until: datetime) -> int:
    """Whole business seconds of a pause from ``since`` to ``until`` (to add to ``sla_paused_seconds``)."""
    return max(0, int(business_time_between(cal, since, until).total_seconds()))


def target_used(cal: Calendar, created_at: datetime, paused_seconds: int, paused_since: datetime | None,
                now: datetime, target_minutes: int) -> float:
    """The share of a target used at ``now`` (1.0 = due; above 1 = breached); a running pause does not count."""
    until = paused_since if paused_since is not None and paused_since < now else now
    worked = business_time_between(cal, created_at, until).total_seconds() - max(0, paused_seconds)
    return max(0.0, worked) / (target_minutes * 60)
