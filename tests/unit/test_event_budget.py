"""A person's socket events are budgeted (components/guard.event_allowed): a burst, then a steady rate, per person
over all their pages, per network address for pages without a sign-in. The e2e test in tests/e2e/test_attacks.py
sends the flood over a real socket."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from components import guard


@pytest.fixture(autouse=True)
def fresh_budgets():
    guard._event_budgets.clear()
    yield
    guard._event_budgets.clear()


def page(client_id: str, user_id: int | None = None, address: str = '203.0.113.1') -> SimpleNamespace:
    return SimpleNamespace(id=client_id, pulse_user_id=user_id, pulse_user=f'user {user_id}',
                           request=SimpleNamespace(client=SimpleNamespace(host=address)))


def allowed(client, now: float, times: int) -> int:
    return sum(guard.event_allowed(client, now) for _ in range(times))


def test_a_burst_is_taken_then_the_rest_is_dropped_and_said_once(caplog) -> None:
    caplog.set_level(logging.WARNING, logger='pulse_live.security')
    assert allowed(page('a', 7), 100.0, 1000) == guard.EVENT_BURST
    assert allowed(page('a', 7), 100.0, 50) == 0
    said = [r for r in caplog.records if 'events a second' in r.getMessage()]
    assert len(said) == 1 and 'user 7' in said[0].getMessage()


def test_the_budget_refills_at_the_rate_and_never_beyond_the_burst() -> None:
    agent = page('a', 7)
    allowed(agent, 100.0, 1000)
    assert allowed(agent, 100.5, 100) == int(guard.EVENTS_PER_SECOND / 2)
    assert allowed(agent, 1000.0, 10_000) == guard.EVENT_BURST  # a long pause refills only the burst


def test_one_person_shares_a_budget_over_their_pages_and_others_keep_theirs() -> None:
    assert allowed(page('a', 7), 100.0, 400) == 400
    assert allowed(page('b', 7), 100.0, 400) == guard.EVENT_BURST - 400  # another tab of the same person
    assert allowed(page('c', 8), 100.0, 10) == 10  # another person
    # pages without a sign-in share their network address's budget (50 login pages had 50 budgets)
    assert allowed(page('login-1'), 100.0, 1000) == guard.EVENT_BURST
    assert allowed(page('login-2'), 100.0, 10) == 0
    assert allowed(page('login-3', address='198.51.100.9'), 100.0, 10) == 10


def test_idle_budgets_are_forgotten_when_there_are_many() -> None:
    for n in range(10_000):
        guard.event_allowed(page(f'p{n}', user_id=n), 100.0)
    guard.event_allowed(page('late'), 200.0)  # all others refilled meanwhile: forgotten
    assert len(guard._event_budgets) == 1
