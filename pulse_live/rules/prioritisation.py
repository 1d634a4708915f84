"""Automatic prioritisation: rules (data, see models/work.py) turn a ticket's impact, urgency, customer tier, service
criticality, type and keywords into a priority with a readable reason.

The rules run when a ticket is created and again when one of its inputs changes while nobody works on the ticket yet
(status open, unassigned) and no agent has overridden the priority (``is_untouched``). This module decides; the
ticket services apply the decision (``services/prioritisation.py``).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ValidationError
from ..models import Level, RuleKind, Status

LEVELS = range(1, 6)  # 1 = most urgent … 5 = least
DEFAULT_LEVEL = 3
# the usual ITIL matrix: impact × urgency → level
DEFAULT_MATRIX: dict[tuple[str, str], int] = {
    ('high', 'high'): 1, ('high', 'medium'): 2, ('high', 'low'): 3,
    ('medium', 'high'): 2, ('medium', 'medium'): 3, ('medium', 'low'): 4,
    ('low', 'high'): 3, ('low', 'medium'): 4, ('low', 'low'): 5,
}
# the ticket fields the rules read: a change of one of them re-runs the rules while the ticket is untouched
INPUT_FIELDS = frozenset({'type_id', 'service_id', 'customer_id', 'title', 'description', 'impact', 'urgency'})
REASON_LIMIT = 300


class Rule(Protocol):
    """A prioritisation rule as the engine reads it (``models.PriorityRule``)."""
    kind: str
    impact: str | None
    urgency: str | None
    match: str
    level: int | None
    raise_by: int


@dataclass(frozen=True)
class Facts:
    """What the rules read of a ticket. ``tier`` and ``criticality`` are those of the customer's organisation and of
    the ticket's service (None: none, or no rule asks for them); ``type_name`` names the type in the reason."""
    impact: str
    urgency: str
    type_id: int | None
    type_name: str | None
    tier: str | None
    criticality: str | None
    text: str  # title and description


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


def needs(rules: Sequence[Rule], kind: RuleKind) -> bool:
    """Whether any rule reads this kind of fact (the caller looks it up only then)."""
    return any(r.kind == kind for r in rules)


def decide(facts: Facts, rules: Sequence[Rule], priorities: Sequence[tuple[int, str]]) -> Decision:
    """The priority the active ``rules`` (in order) give a ticket with these ``facts``, and why. ``priorities`` are
    the active scale's (id, name), most urgent first: level n is the n-th (the last one for levels beyond it)."""
    level, parts = DEFAULT_LEVEL, []
    impact, urgency = facts.impact or 'medium', facts.urgency or 'medium'
    matrix = {(r.impact, r.urgency): r.level for r in rules if r.kind == RuleKind.MATRIX and r.level}
    if (impact, urgency) in matrix:
        level = matrix[(impact, urgency)]
        parts.append(f'impact {Level(impact).label} × urgency {Level(urgency).label}')
    for rule in (r for r in rules if r.kind != RuleKind.MATRIX):
        hit, what = _matches(rule, facts)
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
    if not priorities:
        raise ValidationError('No priority scale is configured; run `pulse-live migrate` / seed the catalog.')
    priority_id, name = priorities[min(level, len(priorities)) - 1]
    reason = f'{name}: {"; ".join(parts) if parts else "default level"}'
    if len(reason) > REASON_LIMIT:
        reason = reason[:REASON_LIMIT - 1] + '…'
    return Decision(priority_id=priority_id, priority_name=name, level=level, reason=reason)


def _matches(rule: Rule, facts: Facts) -> tuple[bool, str]:
    match = (rule.match or '').strip()
    if rule.kind == RuleKind.TIER:
        return bool(facts.tier) and match.lower() == (facts.tier or '').lower(), f'customer tier {match}'
    if rule.kind == RuleKind.CRITICALITY:
        return (bool(facts.criticality) and match.lower() == (facts.criticality or '').lower(),
                f'service criticality {match}')
    if rule.kind == RuleKind.TYPE:
        return match == str(facts.type_id), f'type {facts.type_name or match}'
    if rule.kind == RuleKind.KEYWORD:
        return contains_keyword(match, facts.text), f'keyword “{match}”'
    return False, ''


def is_untouched(status: str, assignee_id: int | None, overridden: bool) -> bool:
    """Nobody works on it yet and nobody set the priority by hand: the rules may (re)set the priority."""
    return status == Status.OPEN and assignee_id is None and not overridden


def describe_rule(rule: Rule, type_names: dict[int, str] | None = None) -> str:
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
