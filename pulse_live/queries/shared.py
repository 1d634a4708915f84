"""Reads shared by every open view woken by the same change: the first caller asks the database, the others
await the same answer (compute once, push to all). Only reads in flight are shared, and callers put the change
that woke them into the key, so nobody gets an answer older than that change."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from .. import auth
from ..models import User
from .tickets import EventView, ticket_events

T = TypeVar('T')
_inflight: dict[tuple, asyncio.Future] = {}
ANSWER_KEPT_S = 5.0
_answers: dict[tuple, list[EventView]] = {}  # a change's new entries, by what was asked (``new_events``)


async def shared_read(key: tuple, load: Callable[[], Awaitable[T]]) -> T:
    """The first caller with ``key`` reads; callers arriving while that read is in flight await its answer."""
    future = _inflight.get(key)
    if future is not None:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and task is not None and not task.cancelling():
                return await shared_read(key, load)  # the first reader was cancelled (its page closed): read here
            raise
    future = asyncio.get_running_loop().create_future()
    _inflight[key] = future
    try:
        result = await load()
    except Exception as e:
        future.set_exception(e)
        future.exception()  # retrieved: waiting viewers re-raise it, nobody logs "never retrieved"
        raise
    else:
        future.set_result(result)
        return result
    finally:
        if _inflight.get(key) is future:
            del _inflight[key]
        if not future.done():  # cancelled: the others waiting on it read for themselves
            future.cancel()


_per_change: dict[tuple, tuple[object, Any]] = {}


async def read_per_change(change: object, what: tuple, load: Callable[[], Awaitable[T]]) -> T:
    """One read of ``what`` per live change for every page it woke: the first page reads, pages reading meanwhile
    share that read (``shared_read``), and pages that come to it later (their handler was busy, or the read ran
    inline on SQLite and was done before the next page asked) take its answer for a few seconds. The answer was read
    after the change committed, so nobody sees a state older than it; the next change is another event and reads
    again. The event object is the one every page got: kept with the answer, its id names the change."""
    key = (id(change), *what)
    hit = _per_change.get(key)
    if hit is not None and hit[0] is change:
        return cast(T, hit[1])
    result = await shared_read(('per-change', *key), load)
    if key not in _per_change:
        _per_change[key] = (change, result)
        asyncio.get_running_loop().call_later(ANSWER_KEPT_S, _per_change.pop, key, None)
    return result


RECENT_KEPT = 512  # answers kept by ``recent`` (one per ticket open in the last seconds: few)
_recent: dict[tuple, tuple[float, Any]] = {}


async def recent(key: tuple, load: Callable[[], Awaitable[T]], *, keep_s: float) -> T:
    """``load()``'s answer, or the same answer if one for ``key`` was read less than ``keep_s`` seconds ago: for
    what may be a few seconds old (similar tickets) and is asked for by every page opened on the same thing. The
    answer is shared, not copied: callers only read it."""
    now = time.monotonic()
    hit = _recent.get(key)
    if hit is not None and now - hit[0] < keep_s:
        return hit[1]
    value = await shared_read(('recent', *key), load)
    if len(_recent) >= RECENT_KEPT:
        for old in [k for k, (at, _) in _recent.items() if now - at >= keep_s] or list(_recent):
            del _recent[old]
    _recent[key] = (now, value)  # its age counts from before the read: never kept longer than asked
    return value


def forget_all() -> None:
    """Drop the kept answers (another database: a restore, tests)."""
    _answers.clear()
    _recent.clear()
    _per_change.clear()


async def new_events(viewer: User, ticket_id: int, *, after: int, upto: int = 0) -> list[EventView]:
    """Chatter entries after ``after`` that the viewer may see; ``upto`` is the newest entry id of the change
    being shown (concurrent reads for the same change by staff share one query)."""
    async def load() -> list[EventView]:
        events, _ = await ticket_events(viewer, ticket_id, after=after)
        return events
    # staff read every ticket alike; anybody else has their own access to it (checked by ticket_events)
    reader = 'staff' if auth.is_staff(viewer) else viewer.id
    key = ('chatter', ticket_id, after, upto, reader)
    if upto and key in _answers:
        return _answers[key]
    events = await shared_read(key, load)
    if upto and key not in _answers:
        # kept a moment for the pages whose handlers come to this change after the read: the read runs inline on
        # SQLite (db.quick) and is over before the next page's handler starts, so sharing only reads in flight made
        # a hundred viewers read a hundred times. The answer was read after the change committed: it holds every
        # entry up to ``upto``; a later entry comes with its own change (another ``upto``).
        _answers[key] = events
        asyncio.get_running_loop().call_later(ANSWER_KEPT_S, _answers.pop, key, None)
    return events
