"""SQLite connections that run on the event loop's own thread, for the holder of the write lock.

aiosqlite runs every statement on a thread of its own and hands the result back through the event loop: each
statement waits for the loop's next turn. For a reader that is right (a long query never freezes the loop); for the
one writer it is not: the process's SQLite write lock (``db.write_lock``) is held across every one of those waits, so
on a busy loop (many browsers being re-rendered) a transaction of twenty short statements held the lock for hundreds
of milliseconds, and every other writer queued behind it. The writer's statements are short (a row by key, an index
entry, a notification row), so they run here, inline: a write transaction holds the lock for its own CPU time only.

A long write (a batch of mails, a reschedule of every open ticket) must not freeze the loop either: once a transaction
has run for ``SLICE_S`` without the loop getting a turn, its next statement gives the loop one turn first.

This is a shim with the surface of ``aiosqlite.Connection`` that SQLAlchemy's aiosqlite dialect uses (connect through
``create_async_engine(..., async_creator=...)``): every coroutine completes without suspending.
"""
from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

SLICE_S = 0.02  # the longest the loop waits for a writer's statements before it gets a turn
BUSY_WAIT_MS = 0  # SQLite's own busy wait would block the loop: none; the wait is made on the loop …
BUSY_S = 10.0  # … for this long in all, with sleeps from 1 ms up to 50 ms (the other writer finishes meanwhile)
SQLITE_BUSY = 5  # plain "database is locked"; BUSY_SNAPSHOT (517) and LOCKED (6) never clear by waiting


class _Cursor:
    __slots__ = ('_connection', '_cursor')

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> _Cursor:
        await self._connection.turn()
        if parameters is None:
            await _until_not_busy(lambda: self._cursor.execute(sql))
        else:
            await _until_not_busy(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, seq_of_parameters: Any) -> _Cursor:
        await self._connection.turn()
        await _until_not_busy(lambda: self._cursor.executemany(sql, seq_of_parameters))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany() if size is None else self._cursor.fetchmany(size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


async def _until_not_busy(run: Callable[[], Any]) -> None:
    """Run a statement; while another writer holds the database (a process of its own, or code of this one that
    wrote without the write lock), wait for it on the loop — not in SQLite's busy handler, which would freeze the loop
    and with it a writer of this process that needs the loop to reach its commit. Only plain SQLITE_BUSY is waited
    for: a stale snapshot (BUSY_SNAPSHOT) or a table lock of this connection cannot clear by waiting."""
    deadline, pause = None, 0.001
    while True:
        try:
            run()
            return
        except sqlite3.OperationalError as error:
            if getattr(error, 'sqlite_errorcode', None) != SQLITE_BUSY:
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + BUSY_S
            elif now >= deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


class _RunNow:
    """Stands in for aiosqlite's queue to its thread (the dialect sets the isolation level through it)."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # noqa: BLE001 (handed to the awaiting caller)
            future.set_exception(error)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # the dialect checks it before commit/rollback
        self._tx = _RunNow()
        self._since = 0.0  # when the loop last had a turn, as far as this connection knows
        self._fresh = True  # no statement since the last commit or rollback (the caller has awaited other things)

    async def turn(self) -> None:
        """Before a statement: give the loop a turn if this connection's work has kept it waiting for ``SLICE_S``."""
        now = time.monotonic()
        if self._fresh:
            self._fresh = False
            self._since = now
        elif now - self._since >= SLICE_S:
            await asyncio.sleep(0)
            self._since = time.monotonic()

    def cursor(self) -> _Cursor:
        return _Cursor(self, self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()
        self._fresh = True

    async def rollback(self) -> None:
        self._conn.rollback()
        self._fresh = True

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level


def creator(database: str) -> Callable[[], Any]:
    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(database, timeout=BUSY_WAIT_MS / 1000, check_same_thread=False))
    return connect


_BUFFERED = {'prebuffer_rows': True}


class SyncSessionOnLoop:
    """The surface of an ``AsyncSession`` the short reads use (``db.quick``), over a plain synchronous ``Session`` on
    the event loop's thread (SQLAlchemy's pysqlite dialect on a connection of its own). The inline engine above runs
    SQLite on the loop too, but through SQLAlchemy's async facade: a greenlet per call and a switch per awaited DBAPI
    call cost more than SQLite's work. Measured on this code's statements (a select of four columns by key, 3,000
    times): ~430–500 µs per session of one statement and ~190 µs per statement through the facade, ~190 µs and ~100 µs
    synchronously (SQLite itself: 6 µs).

    Every call completes without suspending, but for two waits made on the loop, as the inline connections do: a
    turn for the loop before a statement once the session has kept it waiting ``SLICE_S``, and another writer's hold
    on the database (plain SQLITE_BUSY, which a reader in WAL mode meets rarely: a checkpoint, a recovery) waited out
    with sleeps up to ``BUSY_S``. A statement that failed busy did nothing, so it is simply run again."""
    __slots__ = ('sync_session', '_since')

    def __init__(self, sync_session: Any) -> None:
        self.sync_session = sync_session
        self._since: float | None = None

    async def __aenter__(self) -> SyncSessionOnLoop:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sync_session.close()

    async def _turn(self) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif now - self._since >= SLICE_S:
            await asyncio.sleep(0)
            self._since = time.monotonic()

    async def _run(self, call: Callable[[], Any]) -> Any:
        await self._turn()
        deadline, pause = None, 0.001
        while True:
            try:
                return call()
            except Exception as error:  # SQLAlchemy's OperationalError, wrapping sqlite3's
                if getattr(getattr(error, 'orig', None), 'sqlite_errorcode', None) != SQLITE_BUSY:
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + BUSY_S
                elif now >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def execute(self, statement: Any, params: Any = None, *, execution_options: Any = None,
                      **kwargs: Any) -> Any:
        options = {**(execution_options or {}), **_BUFFERED}  # the rows read at once, as AsyncSession does
        return await self._run(lambda: self.sync_session.execute(statement, params, execution_options=options,
                                                                 **kwargs))

    async def scalar(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return await self._run(lambda: self.sync_session.scalar(statement, params, **kwargs))

    async def scalars(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return (await self.execute(statement, params, **kwargs)).scalars()

    async def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        return await self._run(lambda: self.sync_session.get(entity, ident, **kwargs))

    async def close(self) -> None:
        self.sync_session.close()

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync_session.get_bind(*args, **kwargs)

    @property
    def info(self) -> dict[Any, Any]:
        return self.sync_session.info
