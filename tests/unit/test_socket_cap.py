"""Open sockets per network address are bounded (components/guard.admit_socket, PULSE_MAX_SOCKETS_PER_ADDRESS): one
address held 3,000 sockets without a page. The e2e test in tests/e2e/test_attacks.py opens them over the network."""
from __future__ import annotations

import logging

import pytest

from components import guard
from pulse_live.config import reset_settings


@pytest.fixture(autouse=True)
def three_per_address(monkeypatch):
    monkeypatch.setenv('PULSE_MAX_SOCKETS_PER_ADDRESS', '3')
    reset_settings()
    yield
    guard._sockets_of_address.clear()
    guard._address_of_socket.clear()
    guard._said_full.clear()
    reset_settings()


def test_an_address_opens_its_limit_then_is_refused_until_one_closes(caplog) -> None:
    caplog.set_level(logging.WARNING, logger='pulse_live.security')
    assert [guard.admit_socket(f's{n}', '203.0.113.7', 100.0) for n in range(5)] == [True] * 3 + [False] * 2
    assert guard.admit_socket('other', '198.51.100.1', 100.0)  # another address has its own
    assert len([r for r in caplog.records if 'sockets open' in r.getMessage()]) == 1  # said once a minute
    guard.release_socket('s1')
    assert guard.admit_socket('s5', '203.0.113.7', 101.0)
    for sid in ('s0', 's2', 's5', 'other', 'never-admitted'):
        guard.release_socket(sid)
    assert guard._sockets_of_address == {} and guard._address_of_socket == {}  # nothing kept for gone sockets


def test_zero_means_no_bound(monkeypatch) -> None:
    monkeypatch.setenv('PULSE_MAX_SOCKETS_PER_ADDRESS', '0')
    reset_settings()
    assert all(guard.admit_socket(f's{n}', '127.0.0.1', 1.0) for n in range(1000))
