"""SQLite statements that run on the event loop's own thread, for the holder of the write lock and the short reads.

aiosqlite runs every statement on a thread of its own and hands the result back through the event loop: each
statement waits for the loop's next turn. For a reader of long lists that is right (a long query never freezes the
loop); for the one writer it is not: the process's SQLite write lock (``db.write_lock``) is held across every one of
those waits, so on a busy loop (many browsers being re-rendered) a transaction of twenty short statements held the lock
for hundreds of milliseconds, and every other writer queued behind it. The writer's statements are short (a row by
key, an index entry, a notification row), and so are a ticket page's reads (``db.quick``), so they run here, inline,
in a plain synchronous SQLAlchemy session: a write transaction holds the lock for its own CPU time only.

A long write (a batch of mails, a reschedule of every open ticket) must not freeze the loop either: once a session
has run for ``SLICE_S`` without the loop getting a turn, its next statement gives the loop one turn first.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

SLICE_S = 0.02  # the longest the loop waits for a writer's statements before it gets a turn
BUSY_WAIT_MS = 0  # SQLite's own busy wait would block the loop: none; the wait is made on the loop …
BUSY_S = 10.0  # … for this long in all, with sleeps from 1 ms up to 50 ms (the other writer finishes meanwhile)
SQLITE_BUSY = 5  # plain "database is locked"; BUSY_SNAPSHOT (517) and LOCKED (6) never clear by waiting

_BUFFERED = {'prebuffer_rows': True}


class SyncSessionOnLoop:
    """The surface of an ``AsyncSession`` that this code uses, over a plain synchronous ``Session`` on the event
    loop's thread (SQLAlchemy's pysqlite dialect): the short reads' sessions (``db.quick``) and, with ``writer``, the
    write lock holder's (``db.session``). Until 2026-12-07 these ran through SQLAlchemy's async facade over an
    aiosqlite-like shim on the loop: a greenlet per call and a switch per awaited DBAPI call cost more than SQLite's
    work. Measured on this code's statements (a select of four columns by key, 3,000 times): ~430–500 µs per
    session of one statement and ~190 µs per statement through the facade, ~190 µs and ~100 µs synchronously
    (SQLite itself: 6 µs); a posted message, in process, 10.4 → 8.1 ms.

    Every call completes without suspending, but for two waits made on the loop:

    * a turn for the loop before a statement once the session has kept it waiting ``SLICE_S``;
    * another connection's hold on the database (plain SQLITE_BUSY), waited out with sleeps up to ``BUSY_S``: a
      statement that failed busy did nothing, so it is run again. A reader in WAL mode meets it rarely (a
      checkpoint, a recovery). A writer's transaction starts with ``BEGIN IMMEDIATE``, waited for that way, before its
      first statement: holding SQLite's write lock from there on, none of its statements (a flush, a commit's hooks,
      which cannot wait on the loop midway) can fail busy."""
    __slots__ = ('sync_session', '_since', '_writer', '_began')

    def __init__(self, sync_session: Any, *, writer: bool = False) -> None:
        self.sync_session = sync_session
        self._since: float | None = None
        self._writer = writer
        self._began: Any = None  # the transaction begun IMMEDIATE (a writer's)

    async def __aenter__(self) -> SyncSessionOnLoop:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sync_session.close()

    def __getattr__(self, name: str) -> Any:  # add, add_all, expunge, no_autoflush, bind, new, dirty, …
        return getattr(self.sync_session, name)

    async def _turn(self) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif now - self._since >= SLICE_S:
            await asyncio.sleep(0)
            self._since = time.monotonic()

    async def _run(self, call: Callable[[], Any]) -> Any:
        if self._writer:
            transaction = self.sync_session.get_transaction()
            if transaction is None or transaction is not self._began:
                await self.begin_immediate()
        await self._turn()
        return await _until_not_busy_orm(call)

    async def begin_immediate(self) -> None:
        """A writer's transaction takes SQLite's write lock before its first statement (see the class)."""
        connection = self.sync_session.connection()  # begins the session's transaction if none is
        if not connection.connection.dbapi_connection.in_transaction:
            await self._turn()
            await _until_not_busy_orm(lambda: connection.exec_driver_sql('BEGIN IMMEDIATE'))
        self._began = self.sync_session.get_transaction()

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

    async def flush(self, objects: Any = None) -> None:
        if self.sync_session.new or self.sync_session.dirty or self.sync_session.deleted:
            await self._run(lambda: self.sync_session.flush(objects))

    async def refresh(self, instance: Any, attribute_names: Any = None, with_for_update: Any = None) -> None:
        await self._run(lambda: self.sync_session.refresh(instance, attribute_names, with_for_update))

    async def delete(self, instance: Any) -> None:
        await self._run(lambda: self.sync_session.delete(instance))

    async def merge(self, instance: Any, **kwargs: Any) -> Any:
        return await self._run(lambda: self.sync_session.merge(instance, **kwargs))

    async def commit(self) -> None:
        await self.flush()  # what is pending is written under the write lock taken above, then the commit's hooks
        self.sync_session.commit()

    async def rollback(self) -> None:
        self.sync_session.rollback()

    async def close(self) -> None:
        self.sync_session.close()

    async def run_sync(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self._run(lambda: function(self.sync_session, *args, **kwargs))

    async def connection(self, **kwargs: Any) -> Any:
        raise NotImplementedError('a synchronous session on the loop has no async connection: use run_sync')

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        with self.sync_session.begin():
            yield
            await self.flush()  # (the commit on leaving the block runs the commit's hooks)

    @contextlib.asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        if self._writer:
            await self.begin_immediate()  # a SAVEPOINT outside a transaction would be a transaction of its own
        with self.sync_session.begin_nested():
            yield
            await self.flush()

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync_session.get_bind(*args, **kwargs)

    @property
    def info(self) -> dict[Any, Any]:
        return self.sync_session.info


async def _until_not_busy_orm(run: Callable[[], Any]) -> Any:
    """``_until_not_busy`` for a call through SQLAlchemy (its OperationalError wraps sqlite3's), with its result."""
    deadline, pause = None, 0.001
    while True:
        try:
            return run()
        except Exception as error:  # noqa: BLE001 (anything but plain busy is raised again)
            if getattr(getattr(error, 'orig', None), 'sqlite_errorcode', None) != SQLITE_BUSY:
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + BUSY_S
            elif now >= deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)
