"""The dashboard's figures for the whole process: computed once per burst of changes, pushed to every watcher.

One background task per process listens to the bus. After a ticket change it waits a moment (a burst of changes
costs one computation), computes the figures once (queries/dashboard.py) and emits them on ``updated``; every open
dashboard page subscribed to that event inside its page function and just redraws. So the database work per change
is the same for one watching manager or a hundred. Nobody watching: nothing is computed (the next page load does).
The figures are also refreshed every ``PERIODIC_S`` while somebody watches, because ages move without changes.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nicegui import Client, Event, background_tasks

from pulse_live.bus import get_bus
from pulse_live.events import Bus, TicketChanged
from pulse_live.events import Event as BusEvent
from pulse_live.models import utcnow
from pulse_live.queries.dashboard import Dashboard, compute_dashboard

log = logging.getLogger(__name__)
DEBOUNCE_S = 0.25
PERIODIC_S = 60.0

updated: Event[[Dashboard]] = Event()


class DashboardFeed:
    def __init__(self) -> None:
        self.snapshot: Dashboard | None = None
        self.computations = 0
        self._generation = 0  # bumped by every relevant change; a snapshot is fresh while its generation is current
        self._snapshot_generation = -1
        self._watchers: set[str] = set()
        self._bus: Bus | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._lock: asyncio.Lock | None = None
        self._stopping = False

    def _ensure_running(self) -> None:
        """Start (or restart after the app or the bus was replaced) the one listener and worker of this process."""
        bus = get_bus()
        if self._bus is bus and self._task is not None and not self._task.done():
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.snapshot, self._bus = None, bus
        self._watchers.clear()
        self._wake, self._lock = asyncio.Event(), asyncio.Lock()
        self._stopping = False
        self._unsubscribe = bus.subscribe(self._on_event)
        self._task = background_tasks.create(self._run(), name='dashboard-feed')

    async def _on_event(self, event: BusEvent) -> None:
        if isinstance(event, TicketChanged) and event.kind in ('created', 'field_change'):
            self._generation += 1  # stale: the worker (or the next reader) computes afresh
            if self._watchers and self._wake is not None:
                self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=PERIODIC_S)
                periodic = False
            except TimeoutError:
                periodic = True
            if self._stopping:
                return
            if not self._watchers:
                self._wake.clear()
                continue
            await asyncio.sleep(DEBOUNCE_S)  # let the burst finish: one computation for all of it
            if self._stopping:
                return
            self._wake.clear()
            try:
                snapshot = await self._compute(force=periodic)
            except Exception:
                log.exception('dashboard computation failed')
                continue
            updated.emit(snapshot)

    async def _compute(self, *, force: bool = False) -> Dashboard:
        assert self._lock is not None
        async with self._lock:
            if not force and self.snapshot is not None and self._fresh():
                return self.snapshot  # somebody computed it while we waited for the lock
            generation = self._generation
            snapshot = await compute_dashboard()
            self.computations += 1
            self.snapshot, self._snapshot_generation = snapshot, generation
        return snapshot

    async def stop(self, timeout: float = 5.0) -> None:
        """Let the worker finish a computation under way and end (at app shutdown, before the database goes):
        cancelling it mid-query would leave the query's thread answering a closed event loop."""
        task = self._task
        if task is None or task.done() or self._wake is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()

    async def current(self) -> Dashboard:
        """The latest figures (computed now if there are none or they are stale)."""
        self._ensure_running()
        if self.snapshot is not None and self._fresh():
            return self.snapshot
        return await self._compute()

    def _fresh(self) -> bool:
        """No change since, and young enough for the ages on it (changes outside the bus, e.g. bulk loads, too)."""
        return (self.snapshot is not None and self._snapshot_generation == self._generation
                and (utcnow() - self.snapshot.computed_at).total_seconds() < PERIODIC_S)

    def watch(self, client: Client) -> None:
        """Count a page as watching until its client goes (the worker only computes while somebody watches)."""
        self._ensure_running()
        self._watchers.add(client.id)
        client.on_delete(lambda: self._watchers.discard(client.id))

    @property
    def watchers(self) -> int:
        return len(self._watchers)


feed = DashboardFeed()
