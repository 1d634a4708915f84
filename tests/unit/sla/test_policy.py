"""Pure SLA policies (pulse_live/sla/policy.py): the first matching policy in order, due times from the creation
instant plus the paused time in a business calendar, the at-risk moment, and the refusals of bad policies."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse_live.sla.calendar import ALWAYS_OPEN, make_calendar
from pulse_live.sla.policy import (
    Conditions,
    Facts,
    PolicyError,
    PolicyRule,
    check_conditions,
    check_targets,
    due_times,
    first_match,
    paused_between,
    risk_moment,
    target_used,
)

OFFICE = make_calendar(timezone='Europe/Zurich',
                       hours={d: ['08:00-17:00'] for d in ('mon', 'tue', 'wed', 'thu', 'fri')})
KNOWN = {'priority_ids': {1, 2, 3}, 'type_ids': {1, 2}, 'tiers': {'gold', 'standard'}, 'service_ids': {7},
         'queue_ids': {4, 5}, 'channels': {'email', 'phone', 'portal'}}


def rule(id_: int, conditions: Conditions, fr: int = 60, res: int = 480, upd: int | None = None) -> PolicyRule:
    return PolicyRule(id=id_, name=f'P{id_}', conditions=conditions, calendar_id=1, first_response_minutes=fr,
                      resolution_minutes=res, update_minutes=upd)


def test_the_first_policy_whose_conditions_all_match_applies():
    gold_critical = rule(1, Conditions(priority_ids=frozenset({1}), tiers=frozenset({'gold'})))
    critical = rule(2, Conditions(priority_ids=frozenset({1})))
    email = rule(3, Conditions(channels=frozenset({'email'})))
    fallback = rule(4, Conditions())
    policies = [gold_critical, critical, email, fallback]
    assert first_match(policies, Facts(priority_id=1, tier='gold', channel='email')) is gold_critical
    assert first_match(policies, Facts(priority_id=1, tier='standard', channel='email')) is critical
    assert first_match(policies, Facts(priority_id=2, channel='email')) is email
    assert first_match(policies, Facts(priority_id=2, channel='phone')) is fallback
    assert first_match(policies[:3], Facts(priority_id=2, channel='phone')) is None


def test_due_times_count_business_time_from_creation_plus_the_paused_time():
    policy = rule(1, Conditions(), fr=120, res=18 * 60)
    friday_evening = datetime(2026, 12, 4, 16, 30)  # 17:30 in Zurich: closed
    due = due_times(OFFICE, friday_evening, 0, policy)
    assert due.first_response == datetime(2026, 12, 7, 9, 0)  # Monday 08:00 CET + 2 h
    assert due.resolution == datetime(2026, 12, 8, 16, 0)
    assert due.first_response_risk == datetime(2026, 12, 7, 8, 30)  # 75 % of the target used
    paused = due_times(OFFICE, friday_evening, 3600, policy)
    assert paused.first_response == datetime(2026, 12, 7, 10, 0)


def test_paused_time_is_business_time_only():
    friday_1600 = datetime(2026, 12, 4, 15, 0)  # 16:00 in Zurich
    monday_0900 = datetime(2026, 12, 7, 8, 0)   # 09:00 in Zurich
    assert paused_between(OFFICE, friday_1600, monday_0900) == 2 * 3600
    assert paused_between(ALWAYS_OPEN, friday_1600, monday_0900) == 65 * 3600


def test_share_of_a_target_used_leaves_out_pauses():
    start = datetime(2026, 12, 2, 10, 0)
    now = start + timedelta(minutes=90)
    assert target_used(ALWAYS_OPEN, start, 0, None, now, 60) == 1.5
    assert target_used(ALWAYS_OPEN, start, 1800, None, now, 60) == 1.0
    # a pause running since 10:30: the clock stands at 30 minutes
    assert target_used(ALWAYS_OPEN, start, 0, start + timedelta(minutes=30), now, 60) == 0.5
    assert risk_moment(ALWAYS_OPEN, start, 600, 60) == start + timedelta(minutes=45 + 10)


@given(paused=st.integers(min_value=0, max_value=10 * 24 * 3600), fr=st.integers(min_value=1, max_value=5000),
       extra=st.integers(min_value=0, max_value=5000))
def test_due_times_are_ordered_and_move_with_the_pause(paused, fr, extra):
    policy = rule(1, Conditions(), fr=fr, res=fr + extra)
    start = datetime(2026, 3, 27, 15, 45)  # the Friday before Europe/Zurich springs forward
    due = due_times(OFFICE, start, paused, policy)
    assert due.first_response_risk <= due.first_response <= due.resolution
    later = due_times(OFFICE, start, paused + 60, policy)
    assert later.first_response > due.first_response


def test_targets_must_be_more_than_zero_and_in_order():
    assert check_targets(30, '240', '') == (30, 240, None)
    assert check_targets('15', 60, 30) == (15, 60, 30)
    for fr, res, upd, message in [(0, 60, None, 'more than zero'), (-5, 60, None, 'more than zero'),
                                  (30, 0, None, 'more than zero'), (30, 60, 0, 'more than zero'),
                                  ('soon', 60, None, 'not a number'), (1.5, 60, None, 'whole minutes'),
                                  (120, 60, None, 'cannot be sooner'), (True, 60, None, 'number of minutes')]:
        with pytest.raises(PolicyError, match=message):
            check_targets(fr, res, upd)


def test_conditions_that_could_never_match_are_refused():
    checked = check_conditions({'priority_ids': ['1', 2], 'tiers': ['gold'], 'channels': 'email'}, KNOWN)
    assert checked == Conditions(priority_ids=frozenset({1, 2}), tiers=frozenset({'gold'}),
                                 channels=frozenset({'email'}))
    assert Conditions.from_dict(checked.to_dict()) == checked
    assert check_conditions({}, KNOWN).is_empty
    for raw, message in [({'priority_ids': [99]}, 'priority condition names 99, which does not exist'),
                         ({'queue_ids': [4, 8, 9]}, 'queue condition names 8, 9, which do not exist'),
                         ({'tiers': ['platinum']}, 'could never match'),
                         ({'channels': ['pigeon']}, 'could never match'),
                         ({'priority_ids': ['high']}, 'not an id'),
                         ({'colour': ['red']}, 'Unknown condition'),
                         ({'tiers': [' ']}, 'not a name')]:
        with pytest.raises(PolicyError, match=message):
            check_conditions(raw, KNOWN)
