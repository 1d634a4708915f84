"""Reads shared by every open view woken by the same change: the first caller asks the database, the others
await the same answer (compute once, push to all). Only reads in flight are shared, and callers put the change
that woke them into the key, so nobody gets an answer older than that change."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .. import auth
from ..models import User
from .tickets import EventView, ticket_events

T = TypeVar('T')
_inflight: dict[tuple, asyncio.Future] = {}


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


async def new_events(viewer: User, ticket_id: int, *, after: int, upto: int = 0) -> list[EventView]:
    """Chatter entries after ``after`` that the viewer may see; ``upto`` is the newest entry id of the change
    being shown (concurrent reads for the same change by staff share one query)."""
    async def load() -> list[EventView]:
        events, _ = await ticket_events(viewer, ticket_id, after=after)
        return events
    # staff read every ticket alike; anybody else has their own access to it (checked by ticket_events)
    reader = 'staff' if auth.is_staff(viewer) else viewer.id
    return await shared_read(('chatter', ticket_id, after, upto, reader), load)
