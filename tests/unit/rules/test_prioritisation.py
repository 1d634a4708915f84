"""The prioritisation engine (rules/prioritisation.py), pure: ticket facts and rules in, a priority and its reason out.
The matrix sets the base level; the other rules, in order, raise it (or set a floor), never past the scale; the
reason names every rule that changed the level."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from pulse_live.errors import ValidationError
from pulse_live.models import RuleKind, Status
from pulse_live.rules.prioritisation import DEFAULT_MATRIX, Facts, decide, is_untouched

PULSE = [(11, 'Critical'), (12, 'Major'), (13, 'Minor')]  # a three-level scale, most urgent first
FIVE = [(1, 'P1'), (2, 'P2'), (3, 'P3'), (4, 'P4'), (5, 'P5')]


@dataclass
class Rule:
    kind: str
    impact: str | None = None
    urgency: str | None = None
    match: str = ''
    level: int | None = None
    raise_by: int = 0


MATRIX = [Rule(RuleKind.MATRIX, impact=i, urgency=u, level=level) for (i, u), level in DEFAULT_MATRIX.items()]


def facts(impact: str = 'medium', urgency: str = 'medium', **values) -> Facts:
    base = {'type_id': 7, 'type_name': 'Incident', 'tier': None, 'criticality': None,
            'text': 'Printer on floor 3 is down'}
    return Facts(impact=impact, urgency=urgency, **{**base, **values})


@pytest.mark.parametrize('impact, urgency, name', [
    ('high', 'high', 'P1'), ('high', 'low', 'P3'), ('medium', 'medium', 'P3'), ('low', 'low', 'P5')])
def test_the_matrix_gives_the_base_level_and_says_so(impact, urgency, name):
    decision = decide(facts(impact, urgency), MATRIX, FIVE)
    assert decision.priority_name == name
    assert decision.reason.startswith(f'{name}: impact ') and '× urgency' in decision.reason


def test_levels_beyond_a_short_scale_fall_on_its_last_priority():
    assert decide(facts('low', 'low'), MATRIX, PULSE).priority_name == 'Minor'   # level 5 on three levels
    assert decide(facts('high', 'high'), MATRIX, PULSE).priority_name == 'Critical'


def test_without_matching_rules_the_default_level_is_named_as_such():
    decision = decide(facts('high', 'high'), [], FIVE)
    assert (decision.level, decision.reason) == (3, 'P3: default level')


def test_adjustments_raise_in_order_never_past_the_top_and_each_is_named():
    rules = MATRIX + [Rule(RuleKind.TIER, match='Gold', raise_by=1), Rule(RuleKind.KEYWORD, match='down', raise_by=1),
                      Rule(RuleKind.KEYWORD, match='vpn', raise_by=2),  # not in the text: no effect, not named
                      Rule(RuleKind.CRITICALITY, match='critical', raise_by=3)]
    decision = decide(facts(tier='gold', criticality='Critical'), rules, FIVE)
    assert decision.level == 1  # 3, gold ↑1 → 2, "down" ↑1 → 1, critical ↑ … stays 1
    assert decision.reason == 'P1: impact Medium × urgency Medium; customer tier Gold ↑1; keyword “down” ↑1'


def test_a_rule_with_a_level_sets_a_floor_and_a_type_rule_names_the_type():
    rules = MATRIX + [Rule(RuleKind.TYPE, match='7', level=2), Rule(RuleKind.TYPE, match='8', level=1)]
    decision = decide(facts('low', 'low'), rules, FIVE)
    assert (decision.level, decision.priority_name) == (2, 'P2')
    assert decision.reason.endswith('; type Incident ↑3')
    assert decide(facts('high', 'high'), rules, FIVE).level == 1  # already above the floor: unchanged


def test_a_rule_reading_a_fact_the_ticket_lacks_does_not_match():
    rules = [Rule(RuleKind.TIER, match='gold', raise_by=1), Rule(RuleKind.CRITICALITY, match='high', raise_by=1)]
    assert decide(facts(), rules, FIVE).level == 3
    assert decide(facts(tier='gold'), rules, FIVE).level == 2


def test_no_scale_is_a_clear_error():
    with pytest.raises(ValidationError, match='No priority scale is configured'):
        decide(facts(), MATRIX, [])


@pytest.mark.parametrize('status, assignee, overridden, untouched', [
    (Status.OPEN, None, False, True),
    (Status.OPEN, 5, False, False),          # somebody works on it
    (Status.OPEN, None, True, False),        # an agent chose the priority
    (Status.IN_PROGRESS, None, False, False),
])
def test_the_rules_may_reset_only_an_untouched_ticket(status, assignee, overridden, untouched):
    assert is_untouched(status, assignee, overridden) is untouched
