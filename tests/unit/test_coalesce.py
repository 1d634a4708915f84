"""components/coalesce.Coalesced: one run at a time, a burst of calls served by one more run reading the newest
state, every call returning only after a run that began after it; failures and cancellations hand over."""
from __future__ import annotations

import asyncio

import pytest

from components.coalesce import Coalesced


async def test_a_burst_costs_two_runs_and_every_caller_sees_the_newest_state() -> None:
    state = {'value': 0}
    shown: list[int] = []

    async def read() -> None:
        seen = state['value']
        await asyncio.sleep(0.02)
        shown.append(seen)
    reads = Coalesced(read)

    async def change(value: int) -> int:
        state['value'] = value
        await reads()
        return shown[-1]
    answers = await asyncio.gather(*(change(v) for v in range(1, 101)))
    assert reads.runs == 2
    assert shown == [1, 100]
    assert set(answers) == {100}  # nobody returned before a read of their change (the first call ran both)
    await change(101)
    assert shown[-1] == 101 and reads.runs == 3  # quiet again: a call runs at once


async def test_a_failed_run_hands_the_waiting_calls_a_run_of_their_own() -> None:
    calls = {'n': 0}

    async def flaky() -> None:
        calls['n'] += 1
        await asyncio.sleep(0.01)
        if calls['n'] == 1:
            raise RuntimeError('database gone')
    reads = Coalesced(flaky)
    first = asyncio.create_task(reads())
    await asyncio.sleep(0)
    later = [asyncio.create_task(reads()) for _ in range(5)]
    with pytest.raises(RuntimeError):
        await first
    await asyncio.gather(*later)
    assert 2 <= calls['n'] <= 3  # the five waiting calls: one taking over, one more for those that came meanwhile


async def test_a_cancelled_runner_does_not_strand_the_waiting_calls() -> None:
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(0.05)
    reads = Coalesced(slow)
    runner = asyncio.create_task(reads())
    await started.wait()
    waiting = asyncio.create_task(reads())
    await asyncio.sleep(0)
    runner.cancel()
    await asyncio.wait_for(waiting, 1)
    assert reads.runs == 2


async def test_a_burst_of_typed_texts_searches_twice_and_ends_on_the_newest() -> None:
    """The pickers' searches ran once per typed text a socket sent (the browser's throttle is the browser's): 600 of
    the customer picker kept ~1.2 cores busy. Now the first and the newest."""
    from types import SimpleNamespace

    from components.coalesce import TypedSearch
    searched: list[str] = []

    async def search(text: str) -> None:
        searched.append(text)
        await asyncio.sleep(0.01)
    handler = TypedSearch(search, limit=10)
    await asyncio.gather(*(handler(SimpleNamespace(args=f'text {n:04d} and more')) for n in range(300)))
    assert searched == ['text 0000 ', 'text 0299 ']  # cut at the limit
    await handler(SimpleNamespace(args=None))  # no text: searches for everything
    assert searched[-1] == ''
