"""The pure escalation rules: when each criterion fires, conditions, business hours, once per cycle, bad input."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pulse_live.sla.calendar import make_calendar
from pulse_live.sla.escalation import Conditions, EscalationError, Facts, Rule, due_at, evaluate, validate_rule

OFFICE = make_calendar(timezone='UTC', hours={d: ['08:00-17:00'] for d in ('mon', 'tue', 'wed', 'thu', 'fri')})
MON_9 = datetime(2026, 11, 30, 9, 0)  # a Monday


def facts(**values) -> Facts:
    base: dict = {'status': 'open', 'cycle': 1, 'cycle_started_at': MON_9, 'priority_id': 1, 'queue_id': 1,
                      'due': {'first_response': MON_9 + timedelta(hours=4), 'resolution': MON_9 + timedelta(hours=8)},
                      'met': {'first_response': None, 'resolution': None},
                      'target_minutes': {'first_response': 240, 'resolution': 480}}
    base.update(values)
    return Facts(**base)


def test_share_of_a_target_fires_at_that_share_of_business_time():
    rule = Rule(1, '75 % of first response', 'target_share', target='first_response', share_percent=75)
    assert due_at(rule, facts()) == MON_9 + timedelta(hours=3)
    # a late Friday start: 3 business hours after Friday 16:00 are Monday 10:00
    fri_16 = datetime(2026, 12, 4, 16, 0)
    f = facts(cycle_started_at=fri_16, calendar=OFFICE, due={'first_response': datetime(2026, 12, 7, 11, 0)})
    assert due_at(rule, f) == datetime(2026, 12, 7, 10, 0)


def test_paused_time_moves_the_share_point():
    rule = Rule(1, 'half', 'target_share', target='resolution', share_percent=50)
    assert due_at(rule, facts(paused_seconds=3600)) == MON_9 + timedelta(hours=5)


def test_breach_fires_at_the_due_time_and_not_once_met():
    rule = Rule(2, 'breach', 'breached', target='first_response')
    assert due_at(rule, facts()) == MON_9 + timedelta(hours=4)
    assert due_at(rule, facts(met={'first_response': False})) is None
    assert due_at(rule, facts(met={'first_response': True})) == MON_9 + timedelta(hours=4)  # breached: still due
    assert due_at(rule, facts(due={'first_response': None})) is None  # no policy target


def test_business_hours_rule_waits_for_the_next_working_moment_unless_24_7():
    fri_17 = datetime(2026, 12, 4, 17, 0)  # the breach happens at closing time
    f = facts(calendar=OFFICE, due={'first_response': fri_17})
    assert due_at(Rule(2, 'breach', 'breached', target='first_response'), f) == datetime(2026, 12, 7, 8, 0)
    assert due_at(Rule(3, 'pager', 'breached', target='first_response', round_the_clock=True), f) == fri_17


def test_waiting_for_the_customer_is_never_late_but_reopened_still_counts():
    late = facts(status='waiting', paused_since=MON_9 + timedelta(hours=1))
    for rule in (Rule(1, 'b', 'breached', target='resolution'), Rule(2, 'n', 'no_update', minutes=30),
                 Rule(3, 'u', 'unassigned', minutes=30),
                 Rule(4, 's', 'target_share', target='resolution', share_percent=50)):
        assert due_at(rule, late) is None
        assert due_at(rule, facts()) is not None
    reopened = Rule(5, 'reopened', 'reopened')
    assert due_at(reopened, facts(cycle=2)) == MON_9
    assert due_at(reopened, facts(cycle=1)) is None


def test_a_staff_update_restarts_no_update_at_once():
    rule = Rule(1, 'silence', 'no_update', minutes=120)
    assert due_at(rule, facts()) == MON_9 + timedelta(hours=2)
    assert due_at(rule, facts(last_staff_update_at=MON_9 + timedelta(hours=1, minutes=50))) == \
        MON_9 + timedelta(hours=3, minutes=50)


def test_unassigned_only_while_nobody_has_it():
    rule = Rule(1, 'nobody', 'unassigned', minutes=15)
    assert due_at(rule, facts()) == MON_9 + timedelta(minutes=15)
    assert due_at(rule, facts(assignee_id=7)) is None
    assert due_at(rule, facts(unassigned_since=MON_9 + timedelta(hours=1))) == MON_9 + timedelta(minutes=75)


def test_conditions_narrow_a_rule_and_closed_tickets_never_fire():
    rule = Rule(1, 'p1 only', 'breached', target='resolution', conditions=Conditions(priority_ids=frozenset({9})))
    assert due_at(rule, facts()) is None
    assert due_at(rule, facts(priority_id=9)) is not None
    by_tier = Rule(2, 'gold', 'breached', target='resolution', conditions=Conditions(tiers=frozenset({'gold'})))
    assert due_at(by_tier, facts(tier='silver')) is None
    assert due_at(by_tier, facts(tier='gold')) is not None
    assert due_at(Rule(3, 'any', 'breached', target='resolution'), facts(status='resolved')) is None


def test_evaluate_leaves_out_what_fired_and_names_the_next_moment():
    rules = [Rule(1, 'share', 'target_share', target='first_response', share_percent=50),
             Rule(2, 'breach', 'breached', target='first_response'),
             Rule(3, 'res', 'breached', target='resolution')]
    f = facts()
    now = MON_9 + timedelta(hours=5)
    due, upcoming = evaluate(rules, f, now)
    assert [(r.id, at) for r, at in due] == [(1, MON_9 + timedelta(hours=2)), (2, MON_9 + timedelta(hours=4))]
    assert upcoming == MON_9 + timedelta(hours=8)
    due, upcoming = evaluate(rules, f, now, fired={1, 2})
    assert due == [] and upcoming == MON_9 + timedelta(hours=8)
    assert evaluate(rules, f, MON_9 + timedelta(hours=9), fired={1, 2, 3}) == ([], None)


@pytest.mark.parametrize(('values', 'message'), [
    ({'name': '', 'criterion': 'breached', 'target': 'resolution'}, 'name'),
    ({'name': 'x', 'criterion': 'soon'}, 'Unknown criterion'),
    ({'name': 'x', 'criterion': 'breached'}, 'target'),
    ({'name': 'x', 'criterion': 'target_share', 'target': 'resolution', 'share_percent': 0}, '0 %'),
    ({'name': 'x', 'criterion': 'target_share', 'target': 'resolution', 'share_percent': -5}, '0 %'),
    ({'name': 'x', 'criterion': 'target_share', 'target': 'resolution', 'share_percent': 100}, 'breach'),
    ({'name': 'x', 'criterion': 'target_share', 'target': 'resolution', 'share_percent': '75'}, 'percentage'),
    ({'name': 'x', 'criterion': 'unassigned', 'minutes': 0}, 'more than zero'),
    ({'name': 'x', 'criterion': 'no_update', 'minutes': None}, 'minutes'),
    ({'name': 'x', 'criterion': 'reopened', 'conditions': {'colour': [1]}}, 'Unknown condition'),
    ({'name': 'x', 'criterion': 'reopened', 'actions': []}, 'does nothing'),
    ({'name': 'x', 'criterion': 'reopened', 'actions': [{'type': 'explode'}]}, 'Unknown action'),
])
def test_bad_rules_are_refused_with_a_clear_message(values, message):
    values.setdefault('actions', [{'type': 'raise_level'}])
    with pytest.raises(EscalationError, match=message):
        validate_rule(**values)


def test_a_good_rule_is_cleaned():
    clean = validate_rule(name='  Late P1 ', criterion='target_share', target='first_response', share_percent=75,
                          minutes=30, conditions={'priority_ids': [3, 1]}, actions=[{'type': 'raise_level'}])
    assert clean['name'] == 'Late P1' and clean['minutes'] is None
    assert clean['conditions']['priority_ids'] == [1, 3]
