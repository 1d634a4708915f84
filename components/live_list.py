"""What every live list does (the ticket list and the queue lines in components/work_list.py, the portal's request lists
in pages/portal.py): re-read after a ticket change that may concern it, debounced, so a burst of changes costs one
read. The subscription is made inside the page and dies with what it shows (components/page_scope.py); a read that
would land on a closed page is skipped. Each list decides which changes concern it and how it reads (work lists share
one read among the pages woken by the same change: ``queries/shared.py``, keyed by the change kept in
``last_event``).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nicegui import background_tasks, ui

from pulse_live.events import TicketChanged

from . import housekeeping, live, page_scope


class LiveRefresh:
    def __init__(self, refresh: Callable[[TicketChanged], Awaitable[None]], *,
                 concerns: Callable[[TicketChanged], bool], alive: Callable[[], bool], delay: float,
                 name: str = 'live-list-refresh') -> None:
        """``refresh(event)`` re-reads (``event``: the last change of the burst); ``concerns(event)`` decides from the
        event alone whether it may change what the list shows; ``alive()`` is false once the list left the page."""
        self._refresh, self._concerns, self._alive, self._delay, self._name = refresh, concerns, alive, delay, name
        self.client = ui.context.client
        self._pending: asyncio.Task | None = None
        self._waiting = False  # a re-read waits for the socket to come back
        self.last_event: TicketChanged | None = None  # kept alive, so its id() names this change while shared
        self.scope = page_scope.current(self.client)  # ends with the tab, or when it moves on to a ticket in place
        housekeeping.watch()
        self.scope.subscribe(live.ticket_changed, self._on_ticket)
        self.scope.on_connect(self._reconnected)

    def _on_ticket(self, event: TicketChanged) -> None:
        if not self._concerns(event):
            return  # not ours (the re-read is filtered anyway; this only spares the database)
        self.last_event = event
        if self._pending is None:
            self._pending = background_tasks.create(self._later(), name=self._name)

    async def _later(self) -> None:
        await asyncio.sleep(self._delay)  # a burst of changes costs one re-read
        self._pending = None
        if self.client.is_deleted or self.scope.ended or not self._alive() or self.last_event is None:
            return
        if not self.client.has_socket_connection:
            # nobody sees this page now (its tab went elsewhere, the connection dropped, or it has not connected yet:
            # what changes before then waits in its outbox anyway): re-read once its socket is there, not for every
            # change while NiceGUI keeps it (a page that never connects: a minute)
            self._waiting = True
            return
        await self._refresh(self.last_event)

    async def _reconnected(self) -> None:
        if self._waiting and self._pending is None:
            self._waiting = False
            self._pending = background_tasks.create(self._later(), name=self._name)
