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
from collections.abc import AsyncIterator, Callable, Iterator
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
      checkpoint, a recovery). A writer's transaction takes SQLite's write lock with ``BEGIN IMMEDIATE``, waited for
      that way, before its first write (``_writes``, a flush, a read with changes pending): holding it from there
      on, none of its statements (a flush, a commit's hooks, which cannot wait on the loop midway) can fail busy.

    And as the async facade did: rows are read at once (``prebuffer_rows``), and a statement outside an awaited call
    (an expired attribute or a lazy relationship loaded on access) is refused (``refuse_outside_a_call``)."""
    __slots__ = ('sync_session', '_since', '_writer', '_began')

    def __init__(self, sync_session: Any, *, writer: bool = False) -> None:
        self.sync_session = sync_session
        self._since: float | None = None
        self._writer = writer
        self._began: Any = None  # the transaction begun IMMEDIATE (a writer's)

    async def __aenter__(self) -> SyncSessionOnLoop:
        return self

    def __getattr__(self, name: str) -> Any:  # add, add_all, expunge, no_autoflush, bind, new, dirty, …
        return getattr(self.sync_session, name)

    async def _turn(self) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif now - self._since >= SLICE_S:
            await asyncio.sleep(0)
            self._since = time.monotonic()

    async def _run(self, call: Callable[[], Any], *, writes: bool = False) -> Any:
        if self._writer and (writes or not self.sync_session._is_clean()):  # (pending changes: an autoflush writes)
            transaction = self.sync_session.get_transaction()
            if transaction is None or transaction is not self._began:
                await self.begin_immediate()
        await self._turn()
        return await _until_not_busy_orm(call)

    async def begin_immediate(self) -> None:
        """A writer's transaction takes SQLite's write lock before its first write (see the class). Its reads before
        that run as pysqlite runs them (outside a transaction): a second session of the lock's holder can still read
        while the first one writes."""
        with _statements():
            connection = self.sync_session.connection()  # begins the session's transaction if none is
        if not connection.connection.dbapi_connection.in_transaction:
            await self._turn()
            await _until_not_busy_orm(lambda: connection.exec_driver_sql('BEGIN IMMEDIATE'))
        self._began = self.sync_session.get_transaction()

    async def execute(self, statement: Any, params: Any = None, *, execution_options: Any = None,
                      **kwargs: Any) -> Any:
        options = {**(execution_options or {}), **_BUFFERED}  # the rows read at once, as AsyncSession does
        return await self._run(lambda: self.sync_session.execute(statement, params, execution_options=options,
                                                                 **kwargs), writes=_writes(statement))

    async def scalar(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return await self._run(lambda: self.sync_session.scalar(statement, params, **kwargs),
                               writes=_writes(statement))

    async def scalars(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return (await self.execute(statement, params, **kwargs)).scalars()

    async def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        return await self._run(lambda: self.sync_session.get(entity, ident, **kwargs))

    async def flush(self, objects: Any = None) -> None:
        if not self.sync_session._is_clean():
            await self._run(lambda: self.sync_session.flush(objects), writes=True)

    async def refresh(self, instance: Any, attribute_names: Any = None, with_for_update: Any = None) -> None:
        await self._run(lambda: self.sync_session.refresh(instance, attribute_names, with_for_update))

    async def delete(self, instance: Any) -> None:
        await self._run(lambda: self.sync_session.delete(instance))  # (what it cascades to is read now, written later)

    async def merge(self, instance: Any, **kwargs: Any) -> Any:
        return await self._run(lambda: self.sync_session.merge(instance, **kwargs))

    async def commit(self) -> None:
        await self.flush()  # what is pending is written under the write lock taken above, then the commit's hooks
        with _statements():
            self.sync_session.commit()
        self._since = None  # the caller awaits other things next: the loop has its turns then

    async def rollback(self) -> None:
        with _statements():
            self.sync_session.rollback()
        self._since = None

    async def close(self) -> None:
        with _statements():
            self.sync_session.close()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run_sync(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self._run(lambda: function(self.sync_session, *args, **kwargs), writes=True)

    async def connection(self, **kwargs: Any) -> Any:
        raise NotImplementedError('a synchronous session on the loop has no async connection: use run_sync')

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        with _statements():
            transaction = self.sync_session.begin()
        async with self._block(transaction):
            yield

    @contextlib.asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        if self._writer:
            await self.begin_immediate()  # a SAVEPOINT outside a transaction would be a transaction of its own
        with _statements():
            transaction = self.sync_session.begin_nested()  # (it flushes what is pending first)
        async with self._block(transaction):
            yield

    @contextlib.asynccontextmanager
    async def _block(self, transaction: Any) -> AsyncIterator[None]:
        """``with transaction:`` around an async block: what is pending is flushed (through ``_run``) before the
        commit or release on leaving it; a raised exception rolls back."""
        transaction.__enter__()
        try:
            yield
            await self.flush()
        except BaseException as error:
            with _statements():
                if not transaction.__exit__(type(error), error, error.__traceback__):
                    raise
        else:
            with _statements():
                transaction.__exit__(None, None, None)  # (the commit runs the commit's hooks)
            self._since = None

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        return self.sync_session.get_bind(*args, **kwargs)

    @property
    def info(self) -> dict[Any, Any]:
        return self.sync_session.info


def _writes(statement: Any) -> bool:
    """Whether a statement may write: not a SELECT (ORM or Core), nor a text that reads."""
    if getattr(statement, 'is_select', False):
        return False
    if getattr(statement, 'is_text', False):
        return not str(statement).lstrip()[:6].upper().startswith(('SELECT', 'WITH', 'PRAGMA'))
    return True


_inside = [0]  # > 0 while one of SyncSessionOnLoop's calls runs (the loop's thread only)


@contextlib.contextmanager
def _statements() -> Iterator[None]:
    _inside[0] += 1
    try:
        yield
    finally:
        _inside[0] -= 1


class OutsideAnAwaitedCall(RuntimeError):
    pass


def refuse_outside_a_call(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    """The inline engine's statements run inside an awaited call of ``SyncSessionOnLoop`` only. One that does not — an
    expired attribute or a lazy relationship loaded on access — is refused, as the async facade refused it
    (``MissingGreenlet``), so the SQLite tests catch what would fail on PostgreSQL; it would also run without the
    loop's turns and the busy wait."""
    if not _inside[0]:
        raise OutsideAnAwaitedCall(f'a statement outside an awaited session call (a lazy load or an expired '
                                   f'attribute?): {statement[:80]}')


async def _until_not_busy_orm(run: Callable[[], Any]) -> Any:
    """Run a call through SQLAlchemy and return its result; while another connection holds the database (plain
    SQLITE_BUSY, which SQLAlchemy's OperationalError wraps), wait for it on the loop — not in SQLite's busy handler,
    which would freeze the loop — and run it again, for ``BUSY_S`` in all. A stale snapshot (BUSY_SNAPSHOT) or a
    table lock cannot clear by waiting and is raised at once."""
    deadline, pause = None, 0.001
    while True:
        try:
            with _statements():
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
