"""Error events into grouped tickets: one ticket per fingerprint, a counter, first and last seen, regressions.

The ingest (``intake/error_reports.py``) parses a report into ``ErrorEvent``s and hands each to ``grouper.record``:

- The first event of a fingerprint inserts the ``ErrorGroup`` row (unique on source + fingerprint: of two events
  arriving at once — in one process or in several — exactly one insert wins) and the winner opens the ticket through
  ``tickets.create_ticket`` (channel Error report, the source's service, queue and contact; the source's own account
  acts). A group whose ticket was never made (a crash between the two) is taken over by the next event after
  ``CLAIM_TIMEOUT``.
- Later events are counted in memory and written in one batch every ``PULSE_ERROR_FLUSH_S``: one UPDATE per group
  (count + n, last seen, the latest context) and one ``TicketChanged`` of kind ``error_count`` per ticket (no
  history row: a flood of events is not a flood of entries), so open ticket pages show the new count live while
  the work lists and the dashboard, which follow field changes, are not woken by it. A repeat costs no database
  work on its way in, and its description (title, context) is built only for the latest event of a group when the
  batch is written (``record_lazily``): the events in between are counted, not described.
- An event later than its ticket's resolution reopens the ticket through ``tickets.change_status`` with the reason
  "Regression: …" (the status row in the history says it).
- A flood over a source's rate limit is refused by the ingest (429) and only counted on the source.

The counts held in memory between two flushes are written at shutdown; a crash loses at most one flush interval of
*repeat counts*, never a group or a ticket. (Answering each report only after its count was committed — a group
commit per burst — was built and measured on 2026-12-02: with 8 connections a write counted ~4 events and the
server's CPU per event doubled, 0.32 → 0.62-0.86 ms; not taken.)
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError

from .. import db
from ..config import get_settings
from ..errors import ServiceError, StaleWrite
from ..events import TicketChanged
from ..models import Channel, ErrorGroup, ErrorSource, Status, Ticket, User, utcnow
from ._uow import unit_of_work

log = logging.getLogger(__name__)
CLAIM_TIMEOUT = timedelta(seconds=60)
# the kind of TicketChanged a repeat count is published as: the ticket page re-reads its Error details; the work
# lists, the dashboard and the planner ignore it (no entry, no field of the ticket changed)
COUNT_CHANGE = 'error_count'
TITLE_LIMIT = 300


@dataclass(frozen=True)
class ErrorEvent:
    """One error event as the ingest understood it (``intake/error_reports.py``)."""
    fingerprint: str            # sha256 hex of the grouping components
    title: str                  # "ValueError: bad input" or the message
    culprit: str = ''           # the innermost in-app frame, "module in function"
    grouping: str = ''          # the components, readable (for the details section)
    context: dict[str, Any] = field(default_factory=dict)  # bounded: release, environment, user, tags, exception…
    received_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class SourceInfo:
    """What the ingest needs of a reporting source (cached briefly by key)."""
    id: int
    name: str
    public_key: str
    is_active: bool
    user_id: int
    service_id: int | None
    queue_id: int | None
    contact_id: int | None
    rate_limit_per_minute: int


def _info(source: ErrorSource) -> SourceInfo:
    return SourceInfo(id=source.id, name=source.name, public_key=source.public_key, is_active=source.is_active,
                      user_id=source.user_id, service_id=source.service_id, queue_id=source.queue_id,
                      contact_id=source.contact_id, rate_limit_per_minute=source.rate_limit_per_minute)


class SourceKeys:
    """Sources by public key, each read at most every ``PULSE_ERROR_KEY_CACHE_S`` (unknown keys too)."""
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, SourceInfo | None]] = {}

    async def get(self, key: str) -> SourceInfo | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        async with db.session() as s:
            row = (await s.execute(select(ErrorSource).where(ErrorSource.public_key == key))).scalar_one_or_none()
        info = _info(row) if row is not None else None
        if len(self._cache) >= self.MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = (now + get_settings().error_key_cache_s, info)
        return info

    def forget(self, key: str | None = None) -> None:
        if key is None:
            self._cache.clear()
        else:
            self._cache.pop(key, None)


class RateLimiter:
    """Events per minute per source: a token bucket (the source's rate a minute, a burst of as many) shared by every
    process through Redis when the installation has it, else in this process (``pulse_live/rate_limit.py``)."""

    async def take(self, source: SourceInfo, events: int) -> tuple[int, int]:
        """How many of a report's ``events`` may be stored, and the seconds to wait before more may come."""
        from ..rate_limit import get_limiter
        taken, wait = await get_limiter().take_up_to(f'errors:{source.id}', source.rate_limit_per_minute, events)
        return taken, max(1, math.ceil(wait))

    def reset(self) -> None:
        from ..rate_limit import get_limiter
        get_limiter().clear()


@dataclass
class _Pending:
    count: int = 0
    last_seen: datetime | None = None
    context: dict[str, Any] | None = None
    title: str = ''
    make: Callable[[], ErrorEvent] | None = None  # builds the latest event's title and context when it is written

    def described(self) -> None:
        if self.make is not None:
            make, self.make = self.make, None
            try:
                event = make()
            except Exception:  # an event the ingest could count but not describe: its count stands, its context not
                log.exception('an error event could not be described; the group keeps its previous context')
                return
            self.context, self.title = event.context, event.title


@dataclass
class _Known:
    group_id: int
    source_id: int
    user_id: int


MAX_KNOWN = 20_000
"""Groups the process remembers by fingerprint (a cache of what the database holds: each new fingerprint added one
entry for good, so a source sending new ones without end grew the process without end)."""


class NewGroupsLimited(Exception):
    """The source opened ``error_new_groups_per_minute`` groups (tickets) this minute: the event is counted as
    rate-limited, not stored. Anyone holding a DSN key (shipped in web pages) could otherwise open a ticket per
    event with text of their choosing — 100 from one request."""


class Grouper:
    """Process-wide: which groups exist (by source and fingerprint), the repeat counts not yet written, the
    rate-limited counts not yet written, and the flusher."""

    def __init__(self) -> None:
        self.known: dict[tuple[int, str], _Known] = {}
        self.pending: dict[int, _Pending] = {}
        self.rate_limited: dict[int, int] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._task: asyncio.Task | None = None
        self._flush_lock: asyncio.Lock | None = None
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    # --- recording ---
    async def record(self, source: SourceInfo, event: ErrorEvent) -> int:
        """Count one event; the first of its fingerprint opens the group's ticket. Returns the group id."""
        return await self.record_lazily(source, event.fingerprint, event.received_at, lambda: event)

    async def record_lazily(self, source: SourceInfo, fingerprint: str, received_at: datetime,
                            make: Callable[[], ErrorEvent]) -> int:
        """Count one event of ``fingerprint``; returns the group id. ``make`` builds the whole event (title,
        context): called at once for the first of a group, else only if this is the latest event of its group when
        the counts are written."""
        self._ensure_flusher()
        key = (source.id, fingerprint)
        known = self.known.get(key)
        if known is None:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                known = self.known.get(key)
                if known is None:
                    try:
                        group_id, counted = await self._first_sight(source, make())
                    finally:  # a refused first sight (NewGroupsLimited) leaves no lock behind either
                        self._locks.pop(key, None)
                    self.known[key] = _Known(group_id, source.id, source.user_id)
                    if len(self.known) > MAX_KNOWN:  # the oldest half goes: a fingerprint seen again is read again
                        for old in list(itertools.islice(self.known, len(self.known) - MAX_KNOWN // 2)):
                            del self.known[old]
                    if counted:
                        return group_id
                    known = self.known[key]
        self._add_pending(known.group_id, received_at, make)
        return known.group_id

    def count_rate_limited(self, source: SourceInfo, n: int = 1) -> None:
        self._ensure_flusher()
        self.rate_limited[source.id] = self.rate_limited.get(source.id, 0) + n

    def _add_pending(self, group_id: int, received_at: datetime, make: Callable[[], ErrorEvent]) -> None:
        p = self.pending.get(group_id)
        if p is None:
            p = self.pending[group_id] = _Pending()
        p.count += 1
        if p.last_seen is None or received_at >= p.last_seen:
            p.last_seen, p.make = received_at, make

    async def _first_sight(self, source: SourceInfo, event: ErrorEvent) -> tuple[int, bool]:
        """(group id, whether this event is counted already): find the group or make it with its ticket."""
        async with db.session() as s:
            group = (await s.execute(select(ErrorGroup).where(ErrorGroup.source_id == source.id,
                                                              ErrorGroup.fingerprint == event.fingerprint))
                     ).scalar_one_or_none()
        if group is not None:
            await self._recover_ticket(source, group, event)
            return group.id, False
        from ..rate_limit import get_limiter
        limit = get_settings().error_new_groups_per_minute
        taken, _ = await get_limiter().take_up_to(f'error-groups:{source.id}', limit, 1)
        if not taken:  # every new fingerprint opens a ticket: a flood of them is a flood of tickets
            raise NewGroupsLimited(f'"{source.name}" made more than {limit} new error groups this minute')
        now = utcnow()
        try:
            async with db.write_lock(), db.session() as s, s.begin():
                group = ErrorGroup(source_id=source.id, fingerprint=event.fingerprint, title=event.title[:TITLE_LIMIT],
                                   culprit=event.culprit[:300], grouping=event.grouping, count=1,
                                   first_seen=event.received_at, last_seen=event.received_at,
                                   last_event=event.context, claimed_at=now, regressions=0)
                s.add(group)
                await s.flush()
                group_id = group.id
        except IntegrityError:  # another request (or process) made it first: count this event on it
            async with db.session() as s:
                group_id = (await s.execute(select(ErrorGroup.id).where(
                    ErrorGroup.source_id == source.id, ErrorGroup.fingerprint == event.fingerprint))).scalar_one()
            return group_id, False
        await self._open_ticket(source, group_id, event)
        return group_id, True

    async def _recover_ticket(self, source: SourceInfo, group: ErrorGroup, event: ErrorEvent) -> None:
        """A group without a ticket whose claim is old (the process making it died): claim it and make it."""
        if group.ticket_id is not None or not source.is_active:
            return
        now = utcnow()
        if group.claimed_at is not None and now - group.claimed_at < CLAIM_TIMEOUT:
            return
        async with db.write_lock(), db.session() as s, s.begin():
            claimed = await s.execute(update(ErrorGroup).where(
                ErrorGroup.id == group.id, ErrorGroup.ticket_id.is_(None),
                ErrorGroup.claimed_at.is_(None) if group.claimed_at is None else
                ErrorGroup.claimed_at == group.claimed_at).values(claimed_at=now))
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            await self._open_ticket(source, group.id, event)

    async def _open_ticket(self, source: SourceInfo, group_id: int, event: ErrorEvent) -> int | None:
        from . import tickets
        from .labels import not_offered
        async with db.session() as s:
            actor = await s.get(User, source.user_id)
            retired = source.service_id is not None and await not_offered(s, 'service_id', source.service_id)
        if actor is None:
            log.error('error source %s has no account (user %s): group %s gets no ticket', source.id,
                      source.user_id, group_id)
            return None
        if retired:  # a new ticket takes no retired service: this one goes without it, keeping contact and queue
            log.warning('error source %s: its service %s is retired (%s); group %s gets a ticket without it',
                        source.id, source.service_id, retired, group_id)
        values: dict[str, Any] = {'customer_id': source.contact_id,
                                  'service_id': None if retired else source.service_id, 'queue_id': source.queue_id}
        ticket = None
        for attempt in range(2):
            try:
                ticket = await tickets.create_ticket(
                    actor=actor, title=event.title[:TITLE_LIMIT] or 'Error report', channel=Channel.ERROR_REPORT.value,
                    description=customer_description(source.name, event), **values)
                break
            except ServiceError as e:  # the contact, service or queue went away: a ticket without them
                log.warning('error group %s: ticket refused (%s); %s', group_id, e,
                            'retrying without contact, service and queue' if attempt == 0 else 'giving up')
                values = {}
        if ticket is None:
            return None
        async with db.write_lock(), db.session() as s, s.begin():
            await s.execute(update(ErrorGroup).where(ErrorGroup.id == group_id)
                            .values(ticket_id=ticket.id, claimed_at=None))
        return ticket.id

    # --- writing the counts ---
    def _ensure_flusher(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._flush_loop is not loop:
            self._flush_loop = loop
            self._flush_lock = asyncio.Lock()
            self._task = loop.create_task(self._run(), name='error-report-flusher')

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(get_settings().error_flush_s)
            try:
                await self.flush()
            except Exception:  # the counts stay pending: the next round tries again
                log.exception('writing error report counts failed; retrying')

    async def flush(self) -> None:
        """Write the pending counts (one UPDATE per group, one per rate-limited source), publish the changes,
        and reopen the tickets of resolved groups that happened again."""
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        async with self._flush_lock:
            pending, self.pending = self.pending, {}
            limited, self.rate_limited = self.rate_limited, {}
            if not pending and not limited:
                return
            try:
                regressions = await self._write(pending, limited)
            except BaseException:
                self._merge_back(pending, limited)
                raise
        for group_id, ticket_id, user_id, title in regressions:
            try:
                await reopen_regression(group_id, ticket_id, user_id, title)
            except Exception:
                log.exception('reopening the ticket of error group %s failed', group_id)

    def _merge_back(self, pending: dict[int, _Pending], limited: dict[int, int]) -> None:
        for group_id, p in pending.items():
            now = self.pending.get(group_id)
            if now is None:
                self.pending[group_id] = p
            else:
                now.count += p.count
                if p.last_seen is not None and (now.last_seen is None or p.last_seen > now.last_seen):
                    now.last_seen, now.context, now.title, now.make = p.last_seen, p.context, p.title, p.make
        for source_id, n in limited.items():
            self.rate_limited[source_id] = self.rate_limited.get(source_id, 0) + n

    async def _write(self, pending: dict[int, _Pending],
                     limited: dict[int, int]) -> list[tuple[int, int, int, str]]:
        regressions: list[tuple[int, int, int, str]] = []
        async with unit_of_work() as uow:
            s = uow.session
            # rows are locked in one order (by id) in every process: two batches over the same groups written in
            # different orders deadlocked on PostgreSQL (each held one row the other wanted)
            for group_id, p in sorted(pending.items()):
                assert p.last_seen is not None
                p.described()
                context = {} if p.context is None else {'last_event': p.context}
                await s.execute(update(ErrorGroup).where(ErrorGroup.id == group_id).values(
                    count=ErrorGroup.count + p.count,
                    last_seen=case((ErrorGroup.last_seen < p.last_seen, p.last_seen), else_=ErrorGroup.last_seen),
                    **context).execution_options(synchronize_session=False))
            for source_id, n in sorted(limited.items()):
                await s.execute(update(ErrorSource).where(ErrorSource.id == source_id)
                                .values(rate_limited=ErrorSource.rate_limited + n)
                                .execution_options(synchronize_session=False))
            if pending:
                rows = (await s.execute(
                    select(ErrorGroup.id, ErrorGroup.ticket_id, ErrorSource.user_id, Ticket.status,
                           Ticket.resolved_at, Ticket.closed_at)
                    .join(ErrorSource, ErrorSource.id == ErrorGroup.source_id)
                    .join(Ticket, Ticket.id == ErrorGroup.ticket_id)
                    .where(ErrorGroup.id.in_(list(pending))))).all()
                for group_id, ticket_id, user_id, status, resolved_at, closed_at in rows:
                    if ticket_id is None:
                        continue
                    uow.publish_after_commit(TicketChanged(ticket_id=ticket_id, kind=COUNT_CHANGE,
                                                           actor_id=user_id, fields=('error_count',)))
                    done_at = resolved_at or closed_at
                    last_seen = pending[group_id].last_seen
                    if (status in (Status.RESOLVED, Status.CLOSED) and done_at is not None
                            and last_seen is not None and last_seen > done_at):
                        regressions.append((group_id, ticket_id, user_id, pending[group_id].title))
        return regressions

    async def stop(self) -> None:
        """Write what is pending (at shutdown)."""
        task, self._task = self._task, None
        if task is not None:
            # never cancel a flush under way: cancelled after its commit, it would merge its counts back and they
            # would be written twice below. Holding the lock, the task is asleep or waiting for it: cancelled there.
            lock = self._flush_lock or asyncio.Lock()
            async with lock:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.flush()

    def reset(self) -> None:
        """Forget everything held in memory (tests: a fresh database)."""
        self.known.clear()
        self.pending.clear()
        self.rate_limited.clear()
        self._locks.clear()
        if self._task is not None:
            self._task.cancel()
        self._task = None
        self._flush_lock = None


def customer_description(source_name: str, event: ErrorEvent) -> str:
    """The ticket's description: what a customer of the organisation may read (no stack trace, no context)."""
    return (f'Reported automatically by the application "{source_name}" when an error occurred. '
            'The technical details are with the support team.')


async def reopen_regression(group_id: int, ticket_id: int, user_id: int, title: str) -> bool:
    """Reopen the group's resolved or closed ticket ("Regression: …" in its history). False: nothing to do."""
    from . import tickets
    async with db.session() as s:
        actor = await s.get(User, user_id)
    if actor is None:
        return False
    for _attempt in range(3):
        async with db.session() as s:
            ticket = await s.get(Ticket, ticket_id)
        if ticket is None or ticket.status not in (Status.RESOLVED, Status.CLOSED):
            return False
        was = Status(ticket.status).label.lower()
        try:
            await tickets.change_status(actor=actor, ticket_id=ticket_id, expected_version=ticket.version,
                                        status=Status.OPEN.value,
                                        reason=f'Regression: "{title[:200]}" happened again after the ticket was '
                                               f'{was}.')
        except StaleWrite:
            continue
        async with db.write_lock(), db.session() as s, s.begin():
            await s.execute(update(ErrorGroup).where(ErrorGroup.id == group_id).values(
                regressions=ErrorGroup.regressions + 1, last_regression_at=utcnow()))
        return True
    return False


source_keys = SourceKeys()
rate_limiter = RateLimiter()
grouper = Grouper()


def reset() -> None:
    """Forget the process's caches (tests)."""
    source_keys.forget()
    rate_limiter.reset()
    grouper.reset()
