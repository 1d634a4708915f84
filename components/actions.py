"""Run a service call for a page and show its refusal: the one place a page turns a ``ServiceError`` into a message.

    done = await attempt(tickets.create_ticket(actor=user, ...), success='Ticket created')
    if not done:
        return            # the refusal was shown
    ticket = done.value

Only ``ServiceError`` (the services' refusals: not found, not allowed, invalid, stale) and a database that is not
answering (``errors.is_unavailable``: shown as such, nothing was saved) are caught; anything else is a bug and goes
to the error log as before.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

from nicegui import Client, context, ui

from pulse_live.errors import (
    CONFLICT_MESSAGE,
    UNAVAILABLE_MESSAGE,
    ServiceError,
    Unavailable,
    ValidationError,
    is_conflict,
    is_unavailable,
)

log = logging.getLogger('pulse_live.actions')
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
    client = _client_here()
    try:
        value = await call
    except ServiceError as e:
        if not isinstance(e, handled):
            notify(client, str(e), type=level, multi_line=True)
        return Outcome(False, cast(T, None), error=e)
    except Exception as e:
        if is_conflict(e):  # a duplicate saved at the same moment elsewhere: said, not a silent traceback
            log.info('a write was refused as a duplicate made at the same moment: %s', type(e).__name__)
            notify(client, CONFLICT_MESSAGE, type=level, multi_line=True)
            return Outcome(False, cast(T, None), error=ValidationError(CONFLICT_MESSAGE))
        if not is_unavailable(e):
            raise
        notify(client, UNAVAILABLE_MESSAGE, type='negative', multi_line=True)  # passing: the page stays as it was
        return Outcome(False, cast(T, None), error=Unavailable(UNAVAILABLE_MESSAGE))
    if success:
        notify(client, success, type='positive')
    return Outcome(True, value)


def _client_here() -> Client | None:
    try:
        return context.client
    except RuntimeError:
        return None


def notify(client: Client | None, message: str, **kwargs: Any) -> None:
    """``ui.notify`` on the page that asked, even when the control that asked is gone meanwhile (a second click on
    Take arrives after the first one's refresh removed that row: NiceGUI raised "the parent element this slot
    belongs to has been deleted"); nothing when the page itself is gone."""
    try:
        context.client  # noqa: B018 (raises when the current slot's element was deleted)
    except RuntimeError:
        if client is not None and not client.is_deleted:
            with client.layout:
                ui.notify(message, **kwargs)
            return
        if client is None:  # called outside any page's slot (a test's direct call): as ui.notify always did
            with contextlib.suppress(RuntimeError):
                ui.notify(message, **kwargs)
        return
    ui.notify(message, **kwargs)


class AdminState:
    """The state of an admin page that shows what the services hold: every change goes through a service, then the
    page shows the new state (``reload``, defined by the page)."""

    async def call(self, action: Callable[[], Awaitable], done: str = '') -> bool:
        """Run ``action``; when it went through, show ``done`` (if any) and reload the page's state."""
        if not await attempt(action(), success=done):
            return False
        await self.reload()
        return True

    async def reload(self) -> None:
        raise NotImplementedError


class OneAtATime:
    """A submit button's guard: a second click while the first call still runs does nothing (a double click must not
    create two tickets), and the button shows it is busy meanwhile. Set ``button`` once it exists."""

    def __init__(self) -> None:
        self.busy = False
        self.button: ui.button | None = None

    async def attempt(self, call: Callable[[], Awaitable[T]], **kwargs: Any) -> Outcome[T] | None:
        """``attempt(call(), **kwargs)``, or None without calling when a call is already running."""
        if self.busy:
            return None
        self.busy = True
        if self.button is not None:
            self.button.props('loading')
        try:
            return await attempt(call(), **kwargs)
        finally:
            self.busy = False
            if self.button is not None:
                self.button.props(remove='loading')
