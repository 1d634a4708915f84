"""The escalation worker: one per installation, sleeping until the next due moment.

- **One acts.** On PostgreSQL every process may start the worker; the one that holds the advisory lock
  ``LOCK_KEY`` (``pg_try_advisory_lock`` on a connection it keeps open) acts, the others try again every
  ``STANDBY_S`` and take over when that connection goes (a crash ends its session and frees the lock). SQLite is
  one process by design: the worker simply acts.
- **What it does each round** (``step``): records SLA breaches (``services.sla.record_breaches``, the clock), carries
  out what a crash left half done (``resume_pending``), re-schedules the tickets that changed (``TicketChanged`` from
  the bus marks them), fires the rules due now (``services.escalation.run_due``: a range scan of
  ``escalation_schedule.due_at``) and returns the next moment something is due — the earliest escalation moment or
  SLA due time.
- **Sleeping**: until that moment (at most ``idle_s``), woken early by a ``TicketChanged`` or an
  ``EscalationRulesChanged``.
- **At start** every open ticket is re-scheduled: moments that passed while the app was down fire now, once (the
  firings table's unique key keeps a rule that fired from firing again).
- **The clock is injectable** (``Worker(clock=…)``): the tests step it without sleeping.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from . import db
from .bus import get_bus
from .events import EscalationRulesChanged, Event, TicketChanged
from .models import utcnow
from .queries import escalation as escalation_queries
from .services import escalation

log = logging.getLogger(__name__)
LOCK_KEY = 0x50756C7345  # "PulsE": one advisory lock per installation (per database and schema: see lock_key)
STANDBY_S = 15.0
_worker: Worker | None = None
_task: asyncio.Task | None = None


def lock_key() -> int:
    """The advisory lock of this installation: advisory locks are per database, so installations (or test runs)
    that share one database in different schemas each get their own."""
    schema = db._engine_schema[0]  # noqa: SLF001 - the schema the engine was made for
    return LOCK_KEY ^ zlib.crc32(schema.encode()) if schema else LOCK_KEY


class Worker:
    def __init__(self, *, clock: Callable[[], datetime] = utcnow, idle_s: float = 300.0) -> None:
        self.clock = clock
        self.idle_s = idle_s
        self.dirty: set[int] = set()
        self.full = True  # re-schedule everything at the next step (start, rules or calendars changed)
        self.wakeup = asyncio.Event()
        self._lock_conn: AsyncConnection | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # --- one installation, one acting worker ---

    async def acquire(self) -> bool:
        """True when this worker may act (PostgreSQL: it holds the advisory lock; SQLite: always)."""
        if db.engine().dialect.name != 'postgresql':
            return True
        if self._lock_conn is not None:
            return True
        conn = await db.engine().connect()
        try:
            got = (await conn.execute(text('SELECT pg_try_advisory_lock(:k)'), {'k': lock_key()})).scalar_one()
            await conn.commit()
        except Exception:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._lock_conn = conn
        self.full = True  # a new leader starts from the database, not from events it may have missed
        return True

    async def release(self) -> None:
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.execute(text('SELECT pg_advisory_unlock(:k)'), {'k': lock_key()})
                await self._lock_conn.commit()
            with contextlib.suppress(Exception):
                await self._lock_conn.close()
            self._lock_conn = None

    # --- events ---

    def listen(self) -> None:
        self._unsubscribe = get_bus().subscribe(self.on_event)

    def unlisten(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def on_event(self, event: Event) -> None:
        if isinstance(event, TicketChanged):
            self.dirty.add(event.ticket_id)
            self.wakeup.set()
        elif isinstance(event, EscalationRulesChanged):
            self.full = True
            self.wakeup.set()

    # --- the round ---

    async def step(self) -> datetime | None:
        """One round at ``clock()``: breaches, pending follow-ups, re-schedule, fire what is due; the next moment
        something is due (None: nothing scheduled)."""
        now = self.clock()
        breaches = await _record_breaches(now)
        if self.full:
            self.full = False
            self.dirty.clear()
            await escalation.resume_pending()
            await escalation.reschedule(now=now)
        elif self.dirty or breaches:
            changed, self.dirty = self.dirty | set(breaches), set()
            await escalation.reschedule(changed, now=now)
        while await escalation.run_due(now):
            pass
        moments = [m for m in (await escalation.next_due_at(), await _next_sla_due(now)) if m is not None]
        return min(moments, default=None)

    async def run_forever(self) -> None:
        self.listen()
        try:
            while True:
                try:
                    if not await self.acquire():
                        await self._sleep(STANDBY_S)
                        continue
                    due = await self.step()
                    wait = self.idle_s if due is None else (due - self.clock()).total_seconds()
                    if wait <= 0:  # still due after a round that fired all it could: a ticket keeps failing
                        wait = 5.0  # (logged by run_due); try again soon, without spinning
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception('escalation round failed')
                    await self.release()  # a broken lock connection: try again from scratch
                    wait = 5.0
                if self.dirty or self.full:
                    wait = min(wait, 0.2)  # changes came in during the round: a short breath, then again
                await self._sleep(min(wait, self.idle_s))
        finally:
            self.unlisten()
            await self.release()

    async def _sleep(self, seconds: float) -> None:
        self.wakeup.clear()
        if self.dirty or self.full:
            seconds = min(seconds, 0.2)
        try:
            async with asyncio.timeout(seconds + 0.05):
                await self.wakeup.wait()
        except TimeoutError:
            pass


async def _record_breaches(now: datetime) -> list[int]:
    """The SLA clock's breach recording (services/sla.py, by the clock's own helper): the tickets it changed."""
    try:
        from .services import sla
    except ImportError:  # the clock is not installed: nothing to record
        return []
    record: Any = getattr(sla, 'record_breaches', None)
    if record is None:
        return []
    return list(await record(now) or [])


async def _next_sla_due(now: datetime) -> datetime | None:
    """When the SLA clock's breach recorder has work next (a few index seeks: ``queries.escalation``)."""
    async with db.session() as s:
        return await escalation_queries.next_breach_due(s)


def wake() -> None:
    if _worker is not None:
        _worker.full = True
        _worker.wakeup.set()


def start() -> None:
    global _worker, _task  # noqa: PLW0603
    if _task is None or _task.done():
        _worker = Worker()
        _task = asyncio.get_running_loop().create_task(_worker.run_forever())


async def stop() -> None:
    global _worker, _task  # noqa: PLW0603
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await _task
    _worker, _task = None, None
