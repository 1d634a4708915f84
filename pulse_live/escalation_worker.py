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
- **Clock jobs first** (``services.sla.run_clock_jobs``): after an admin changed a policy, calendar or tier, or
  once after the upgrade, the open tickets' clocks are computed again in batches (``JOB_BATCHES`` of 1,000 tickets a
  round, each batch its own transaction with the job's progress); while one is pending the round does only that and
  comes back at once — breaches and escalations wait for the right due times — then re-schedules everything.
- **Sleeping**: until that moment (at most ``idle_s``), woken early by an ``EscalationRulesChanged`` or a clock job,
  and ``CHANGE_BREATH_S`` after the first ``TicketChanged`` of a burst: the round then re-schedules every ticket
  that changed meanwhile at once (a round per change cost more than the changes themselves under load; rules count
  in minutes, a second is nothing to them).
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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from . import db
from .bus import get_bus
from .events import BusResumed, EscalationRulesChanged, Event, SlaRecomputeRequested, TicketChanged
from .models import utcnow
from .queries import escalation as escalation_queries
from .services import escalation, sla

log = logging.getLogger(__name__)
LOCK_KEY = 0x50756C7345  # "PulsE": one advisory lock per installation (per database and schema: see lock_key)
STANDBY_S = 15.0
JOB_BATCHES = 5  # clock-job batches per round (then the loop breathes: events, cancellation, the lock)
FAILED_ROUND_S = 5.0  # after a round failed (logged), the next one comes this much later
CHANGE_BREATH_S = 1.0  # a burst of ticket changes is re-scheduled in one round this long after its first change
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
        self.busy = False  # a clock job is pending: the next round comes at once
        self.wakeup = asyncio.Event()
        self._lock_conn: AsyncConnection | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._breath: asyncio.TimerHandle | None = None

    # --- one installation, one acting worker ---

    async def acquire(self) -> bool:
        """True when this worker may act (PostgreSQL: it holds the advisory lock; SQLite: always)."""
        if db.engine().dialect.name != 'postgresql':
            return True
        if self._lock_conn is not None:
            try:  # the lock lives as long as its session: a connection cut (idle timeout, failover, a kill) freed it
                await self._lock_conn.execute(text('SELECT 1'))
                await self._lock_conn.commit()
                return True
            except Exception:
                log.warning('the escalation lock connection was lost; taking the lock again')
                await self.release()
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
            if self._breath is None:  # the first change of a burst: one round for all of it, a breath later
                self._breath = asyncio.get_running_loop().call_later(CHANGE_BREATH_S, self._breathe_out)
        elif isinstance(event, (EscalationRulesChanged, BusResumed)):  # BusResumed: changes published elsewhere
            # while the bus was away never reached us — everything is read again from the database
            self.full = True
            self.wakeup.set()
        elif isinstance(event, SlaRecomputeRequested):
            self.wakeup.set()

    def _breathe_out(self) -> None:
        self._breath = None
        self.wakeup.set()

    # --- the round ---

    async def step(self) -> datetime | None:
        """One round at ``clock()``: breaches, pending follow-ups, re-schedule, fire what is due; the next moment
        something is due (None: nothing scheduled)."""
        now = self.clock()
        jobs = await sla.run_clock_jobs(now, max_batches=JOB_BATCHES)
        self.busy = jobs.pending
        if jobs.finished:
            self.full = True  # the due times moved: every ticket's escalation moment too
        if jobs.pending:
            return now
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
                hurry = False  # a short sleep when work came in during the round; never for a standby or a failure
                try:
                    if not await self.acquire():
                        await self._sleep(STANDBY_S, hurry=False)
                        continue
                    due = await self.step()
                    wait = self.idle_s if due is None else (due - self.clock()).total_seconds()
                    if self.busy:  # a clock job has batches left: go on after a breath
                        wait = 0.0
                    elif wait <= 0:  # still due after a round that fired all it could: a ticket keeps failing
                        wait = 5.0  # (logged by run_due); try again soon, without spinning
                    hurry = True
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception('escalation round failed')
                    await self.release()  # a broken lock connection: try again from scratch
                    self.full = True  # the changes the failed round had taken are read again, not dropped
                    wait = FAILED_ROUND_S
                await self._sleep(min(wait, self.idle_s), hurry=hurry)
        finally:
            self.unlisten()
            await self.release()

    async def _sleep(self, seconds: float, *, hurry: bool = True) -> None:
        self.wakeup.clear()
        if not hurry:
            pass
        elif self.full:  # rules changed during the round: a short breath, then again
            seconds = min(seconds, 0.2)
        elif self.dirty:  # changes came in during the round: their breath is already counting
            seconds = min(seconds, CHANGE_BREATH_S)
        try:
            async with asyncio.timeout(seconds + 0.05):
                await self.wakeup.wait()
        except TimeoutError:
            pass


async def _record_breaches(now: datetime) -> list[int]:
    """The SLA clock's breach recording (services/sla.py): the tickets it changed."""
    return list(await sla.record_breaches(now))


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
