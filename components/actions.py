"""Run a service call for a page and show its refusal: the one place a page turns a ``ServiceError`` into a message.

    done = await attempt(tickets.create_ticket(actor=user, ...), success='Ticket created')
    if not done:
        return            # the refusal was shown
    ticket = done.value

Only ``ServiceError`` (the services' refusals: not found, not allowed, invalid, stale) is caught; anything else is a
bug and goes to the error log as before.
"""
from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, cast

from nicegui import ui

from pulse_live.errors import ServiceError

T = TypeVar('T')


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What a call gave: true when it went through (``value`` is its result, which may be None; a refused call's
    ``value`` is None: read it only after checking the outcome)."""
    ok: bool
    value: T
    error: ServiceError | None = None

    def __bool__(self) -> bool:
        return self.ok


async def attempt(call: Awaitable[T], *, success: str = '', level: Literal['negative', 'warning'] = 'negative',
                  handled: tuple[type[ServiceError], ...] = ()) -> Outcome[T]:
    """Await ``call``; on a ``ServiceError`` show its message (``level``) and return a false Outcome, otherwise show
    ``success`` (if any) and return the result. Errors of the ``handled`` kinds are not shown: the caller handles them
    (``outcome.error``), e.g. a ``StaleWrite`` answered with the fresh state."""
    try:
        value = await call
    except ServiceError as e:
        if not isinstance(e, handled):
            ui.notify(str(e), type=level, multi_line=True)
        return Outcome(False, cast(T, None), error=e)
    if success:
        ui.notify(success, type='positive')
    return Outcome(True, value)
