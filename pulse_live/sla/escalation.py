"""Escalation rules, pure: a ticket's facts, the time and the rules in; which rules fire now and when the next one is
due out. No database, no services (the worker in ``pulse_live/notify/escalator.py`` reads the facts and applies the
actions through ``pulse_live/services/escalation.py``).

**Criteria** (one per rule), each the moment it becomes true for a ticket in its current clock cycle:

- ``target_share`` (``target``, ``share_percent``): that share of a target's time is used — the moment
  ``share × target + paused`` business time after the target's clock started (the ticket's creation for first
  response and resolution, with the paused time since; the last staff update for "update every N");
- ``breached`` (``target``): the target's due time (``*_due_at``) has passed;
- ``unassigned`` (``minutes``): nobody has taken the ticket for N business minutes since it became unassigned;
- ``no_update`` (``minutes``): no public staff update for N business minutes (a staff reply restarts it at once);
- ``reopened``: the ticket was reopened (clock cycle 2 or later): at once.

A target that is met (``first_response_breached`` False), not set, or a ticket that waits for the customer (the clock
paused) does not fire time criteria; nor does a resolved or closed ticket. **Conditions** narrow a rule to
priorities, customer tiers, services and queues (empty: any).

**Business hours.** Time criteria count business time of the ticket's calendar. A rule fires only in working time
(``next_open``: a breach at Friday 17:00 escalates at Monday 08:00, never a mail at midnight or on a weekend) unless
the rule is ``round_the_clock`` (24/7): then at the very moment.

**Once per cycle.** ``evaluate`` is told which rules already fired in the ticket's cycle and never returns them
again; the caller stores each firing under a unique (rule, ticket, cycle) key.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..errors import ValidationError
from .calendar import ALWAYS_OPEN, Calendar, CalendarError, add_business_time, next_open

__all__ = [
    'ACTION_TYPES', 'CRITERIA', 'CRITERION_LABELS', 'OPEN_STATUSES', 'TARGETS', 'TARGET_LABELS', 'Conditions',
    'EscalationError', 'Facts', 'Rule', 'due_at', 'evaluate', 'matches', 'validate_rule',
]

CRITERIA = ('target_share', 'breached', 'unassigned', 'no_update', 'reopened')
CRITERION_LABELS = {'target_share': 'Share of a target used', 'breached': 'Target breached',
                    'unassigned': 'Unassigned for', 'no_update': 'No staff update for', 'reopened': 'Reopened'}
TARGETS = ('first_response', 'resolution', 'next_update')
TARGET_LABELS = {'first_response': 'first response', 'resolution': 'resolution', 'next_update': 'update every N'}
ACTION_TYPES = ('raise_level', 'move_queue', 'assign', 'assign_lead', 'raise_priority', 'add_team', 'notify',
                'webhook')
OPEN_STATUSES = frozenset({'open', 'in_progress', 'waiting'})
MAX_MINUTES = 366 * 24 * 60


class EscalationError(ValidationError, ValueError):
    """A rule was refused; the message says why and is safe to show."""


@dataclass(frozen=True)
class Conditions:
    priority_ids: frozenset[int] = frozenset()
    tiers: frozenset[str] = frozenset()
    service_ids: frozenset[int] = frozenset()
    queue_ids: frozenset[int] = frozenset()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Conditions:
        data = data or {}
        return cls(priority_ids=frozenset(data.get('priority_ids') or ()), tiers=frozenset(data.get('tiers') or ()),
                   service_ids=frozenset(data.get('service_ids') or ()),
                   queue_ids=frozenset(data.get('queue_ids') or ()))

    def to_dict(self) -> dict[str, list]:
        return {'priority_ids': sorted(self.priority_ids), 'tiers': sorted(self.tiers),
                'service_ids': sorted(self.service_ids), 'queue_ids': sorted(self.queue_ids)}


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    criterion: str
    target: str | None = None
    share_percent: int | None = None
    minutes: int | None = None
    conditions: Conditions = field(default_factory=Conditions)
    round_the_clock: bool = False


@dataclass(frozen=True)
class Facts:
    """What the rules read of one ticket (naive UTC datetimes)."""
    status: str
    cycle: int
    cycle_started_at: datetime  # created, or reopened
    priority_id: int | None = None
    tier: str | None = None
    service_id: int | None = None
    queue_id: int | None = None
    assignee_id: int | None = None
    unassigned_since: datetime | None = None  # None: cycle_started_at
    last_staff_update_at: datetime | None = None  # last public staff reply in this cycle
    due: Mapping[str, datetime | None] = field(default_factory=dict)  # first_response/resolution/next_update
    met: Mapping[str, bool | None] = field(default_factory=dict)  # *_breached: None pending, False met, True breached
    target_minutes: Mapping[str, int | None] = field(default_factory=dict)
    paused_since: datetime | None = None
    paused_seconds: int = 0  # business seconds paused since the clock started (waiting, resolved)
    clock_started_at: datetime | None = None  # when the targets' clock started (created); None: cycle_started_at
    calendar: Calendar = ALWAYS_OPEN


def matches(rule: Rule, facts: Facts) -> bool:
    c = rule.conditions
    return ((not c.priority_ids or facts.priority_id in c.priority_ids)
            and (not c.tiers or facts.tier in c.tiers)
            and (not c.service_ids or facts.service_id in c.service_ids)
            and (not c.queue_ids or facts.queue_id in c.queue_ids))


def _target_pending(facts: Facts, target: str) -> bool:
    if facts.due.get(target) is None:
        return False
    return target == 'next_update' or facts.met.get(target) is not False


def _criterion_at(rule: Rule, facts: Facts) -> datetime | None:
    """The moment the rule's criterion becomes true under these facts (None: not under them, or not within the
    calendar's reach: ``MAX_AHEAD_DAYS``)."""
    try:
        return _criterion_moment(rule, facts)
    except CalendarError:
        return None


def _criterion_moment(rule: Rule, facts: Facts) -> datetime | None:
    cal = facts.calendar
    if rule.criterion == 'reopened':
        return facts.cycle_started_at if facts.cycle > 1 else None
    if facts.paused_since is not None or facts.status == 'waiting':
        return None  # waiting for the customer: nobody is late
    if rule.criterion == 'unassigned':
        if facts.assignee_id is not None or rule.minutes is None:
            return None
        return add_business_time(cal, facts.unassigned_since or facts.cycle_started_at,
                                 timedelta(minutes=rule.minutes))
    if rule.criterion == 'no_update':
        if rule.minutes is None:
            return None
        return add_business_time(cal, facts.last_staff_update_at or facts.cycle_started_at,
                                 timedelta(minutes=rule.minutes))
    target = rule.target
    if target is None or not _target_pending(facts, target):
        return None
    due = facts.due[target]
    if rule.criterion == 'breached':
        return due
    if rule.criterion == 'target_share':
        minutes = facts.target_minutes.get(target)
        if not minutes or rule.share_percent is None:
            return None
        start = facts.last_staff_update_at or facts.cycle_started_at if target == 'next_update' \
            else facts.clock_started_at or facts.cycle_started_at
        paused = 0 if target == 'next_update' else facts.paused_seconds
        at = add_business_time(cal, start, timedelta(seconds=minutes * 60 * rule.share_percent / 100 + paused))
        return min(at, due) if due is not None else at
    return None


def due_at(rule: Rule, facts: Facts) -> datetime | None:
    """When the rule fires for this ticket: its criterion's moment, held to the next working moment unless the rule
    is 24/7. None when the ticket is not open, does not match the conditions, or the criterion cannot become true."""
    if facts.status not in OPEN_STATUSES or not matches(rule, facts):
        return None
    at = _criterion_at(rule, facts)
    if at is None:
        return None
    return at if rule.round_the_clock else next_open(facts.calendar, at)


def evaluate(rules: Sequence[Rule], facts: Facts, now: datetime,
             fired: Iterable[int] = ()) -> tuple[list[tuple[Rule, datetime]], datetime | None]:
    """The rules due now (with the moment each became due), in the given order, leaving out those that already fired
    in this cycle; and the next moment a rule not yet due will be (None: none under these facts)."""
    done = set(fired)
    now_due: list[tuple[Rule, datetime]] = []
    upcoming: datetime | None = None
    for rule in rules:
        if rule.id in done:
            continue
        at = due_at(rule, facts)
        if at is None:
            continue
        if at <= now:
            now_due.append((rule, at))
        elif upcoming is None or at < upcoming:
            upcoming = at
    return now_due, upcoming


def validate_rule(*, name: Any, criterion: Any, target: Any = None, share_percent: Any = None, minutes: Any = None,
                  conditions: Mapping[str, Any] | None = None, actions: Sequence[Mapping[str, Any]] = ()
                  ) -> dict[str, Any]:
    """The rule's clean values, or an ``EscalationError`` naming what is wrong (the service checks the ids)."""
    if not isinstance(name, str) or not name.strip():
        raise EscalationError('Give the rule a name.')
    if len(name.strip()) > 200:
        raise EscalationError('The name is too long (200 characters at most).')
    if criterion not in CRITERIA:
        raise EscalationError(f'Unknown criterion {criterion!r}; choose one of: {", ".join(CRITERIA)}.')
    clean: dict[str, Any] = {'name': name.strip(), 'criterion': criterion, 'target': None, 'share_percent': None,
                             'minutes': None}
    if criterion in ('target_share', 'breached'):
        if target not in TARGETS:
            raise EscalationError('Choose the target the rule watches: first response, resolution or update every N.')
        clean['target'] = target
    if criterion == 'target_share':
        if isinstance(share_percent, bool) or not isinstance(share_percent, int):
            raise EscalationError('Give the share of the target as a whole percentage (e.g. 75).')
        if share_percent <= 0:
            raise EscalationError('A share of 0 % or less is used the moment the target starts: give 1-99 %.')
        if share_percent >= 100:
            raise EscalationError('A share of 100 % or more is the breach: use the criterion "Target breached".')
        clean['share_percent'] = share_percent
    if criterion in ('unassigned', 'no_update'):
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise EscalationError('Give the time in whole minutes.')
        if minutes <= 0:
            raise EscalationError('The time must be more than zero minutes.')
        if minutes > MAX_MINUTES:
            raise EscalationError('The time can be one year at most.')
        clean['minutes'] = minutes
    cond = dict(conditions or {})
    unknown = set(cond) - {'priority_ids', 'tiers', 'service_ids', 'queue_ids'}
    if unknown:
        raise EscalationError(f'Unknown condition {sorted(unknown)[0]!r}.')
    clean['conditions'] = Conditions.from_dict(cond).to_dict()
    if not actions:
        raise EscalationError('The rule does nothing: add at least one action.')
    for action in actions:
        if not isinstance(action, Mapping) or action.get('type') not in ACTION_TYPES:
            raise EscalationError(f'Unknown action {action!r}.')
    return clean
