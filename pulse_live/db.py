"""The async engine and session factory; SQLite gets WAL, foreign keys and a busy timeout.

SQLite has one writer at a time. Left to SQLite, concurrent writers of this process wait in its busy handler (a
thread each, polling with sleeps of up to 100 ms) and give up with "database is locked" after the busy timeout — which
a starved event loop reaches, since a transaction holding the lock waits for the loop between its statements. So
every unit of work of this process takes ``write_lock()`` first: writers queue in FIFO order on the event loop and
get the database the moment the previous one committed; SQLite's busy timeout is left for other processes (the CLI).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None
# SQLite: the write lock's holder and the short reads (``quick``) get synchronous sessions whose statements run on the
# event loop's thread (``sqlite_inline.SyncSessionOnLoop``)
_inline_engine: Engine | None = None
_inline_sessionmaker: sessionmaker[Session] | None = None
_engine_schema = ['']
_write_locks: dict[asyncio.AbstractEventLoop, _WriteLock] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.execute('PRAGMA busy_timeout=10000')
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()


# SQLite connections kept open per process. A new connection parses the whole schema on its first statement and
# prepares every statement afresh (its statement cache starts empty; an aiosqlite connection also starts a thread).
# With SQLAlchemy's defaults (5 kept, 10 more opened and closed again) a busy desk opened ~20 connections a second:
# desk_load.py, 30 agents, counted 660 inline and 80 aiosqlite connections in 35 s, ~3 % of the event loop in parsing
# the schema alone (py-spy --native). Pages opening at once each hold a short-read session, so the inline pool keeps
# as many as a busy process has at once; an idle SQLite connection costs a file handle and its page cache.
SQLITE_INLINE_KEPT = 64
SQLITE_READERS_KEPT, SQLITE_READERS_MORE = 16, 16

_WRITES = ('INSERT', 'UPDATE', 'DELETE', 'REPLACE')
unlocked_writes: list[str] = []  # where a write ran without the write lock (tests look at it)
log = logging.getLogger('pulse_live.db')


def _unlocked_write(_conn, _cursor, statement: str, *_args) -> None:
    """A write of the event loop's code without the write lock: on SQLite it may hold the database while the lock's
    holder, running inline, waits in SQLite's busy handler — the loop frozen until that times out. Logged with the
    caller, once per place."""
    if not statement.lstrip()[:7].upper().startswith(_WRITES) or holds_write_lock():
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # a command or the set-up before the server runs: no inline writer to meet
    import traceback

    import greenlet
    here = greenlet.getcurrent()  # SQLAlchemy runs this hook in a greenlet: the caller's frames are its parent's
    caller = here.parent.gr_frame if here.parent is not None else None
    frames = [f for f in traceback.extract_stack(caller) + traceback.extract_stack()
              if any(part in f.filename for part in ('/pulse_live/', '/pages/', '/components/', '/tests/'))]
    while frames and any(hook in frames[-1].filename for hook in ('/pulse_live/db.py', '/pulse_live/models/',
                                                                   '/pulse_live/search/')):
        frames.pop()  # the hooks every write passes through: who called them is what matters
    if not frames or '/tests/' in frames[-1].filename or any(
            '/pulse_live/migrations/' in f.filename or '/pulse_live/seed/' in f.filename for f in frames):
        return  # a test's own set-up; a migration or the demo / bulk data (commands, or before the server serves)
    where = ' < '.join(f'{f.filename.rsplit("/", 2)[-2]}/{f.filename.rsplit("/", 1)[-1]}:{f.lineno}'
                       for f in reversed(frames[-4:]))
    if where not in unlocked_writes:
        unlocked_writes.append(where)
        log.warning('a write without the write lock (%s): %s', where or 'outside the app', statement[:80])


def _sqlite_inline_pragmas(dbapi_connection, _record) -> None:
    from .sqlite_inline import BUSY_WAIT_MS
    _sqlite_pragmas(dbapi_connection, _record)
    cursor = dbapi_connection.cursor()
    cursor.execute(f'PRAGMA busy_timeout={BUSY_WAIT_MS}')  # no wait that blocks the loop: it waits on the loop
    cursor.close()


def make_engine(url: str, *, schema: str = '') -> AsyncEngine:
    """An engine for the URL; ``schema`` (PostgreSQL) sets the search path, e.g. to keep test runs apart."""
    parsed = make_url(url)
    if parsed.get_backend_name() == 'sqlite':
        if parsed.database and parsed.database != ':memory:':
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={'timeout': 10}, pool_size=SQLITE_READERS_KEPT,
                                     max_overflow=SQLITE_READERS_MORE)
        event.listen(engine.sync_engine, 'connect', _sqlite_pragmas)
        event.listen(engine.sync_engine, 'before_cursor_execute', _unlocked_write)
    else:
        from .config import get_settings
        settings = get_settings()  # the pool per process: processes × (size + overflow) ≤ PostgreSQL's max_connections
        connect_args = {'server_settings': {'search_path': schema}} if schema else {}
        engine = create_async_engine(url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                                     pool_timeout=settings.db_pool_timeout_s, pool_pre_ping=True,
                                     connect_args=connect_args)
    return engine


def init(url: str, *, schema: str | None = None) -> AsyncEngine:
    """Create the process-wide engine (idempotent for the same URL)."""
    global _engine, _sessionmaker, _inline_engine, _inline_sessionmaker  # noqa: PLW0603
    if _engine is not None and str(_engine.url) == str(make_url(url)):
        return _engine
    if schema is None:
        from .config import get_settings
        schema = get_settings().database_schema
    _engine = make_engine(url, schema=schema)
    _engine_schema[0] = schema
    from .search import index
    index.install()  # every session keeps the search index in its own transaction
    from .models import config_version
    config_version.install()  # every write to the configuration bumps its version in its own transaction
    from .queries import lookups
    lookups.install()  # a commit of this process that changes a form's list drops the process's copy of it
    _sessionmaker = async_sessionmaker(_engine, expire_on_commit=False)
    _inline_engine = make_inline_engine(url)
    _inline_sessionmaker = (sessionmaker(_inline_engine, expire_on_commit=False)
                            if _inline_engine is not None else None)
    return _engine


def make_inline_engine(url: str) -> Engine | None:
    """SQLite on a file: a synchronous engine (pysqlite) whose connections are used on the event loop's thread only
    (``sqlite_inline.SyncSessionOnLoop``), for the holder of the write lock and the short reads; None otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() != 'sqlite' or not parsed.database or parsed.database == ':memory:' \
            or parsed.query or not get_settings_inline_writes():
        return None
    from .sqlite_inline import refuse_outside_a_call
    # a synchronous pool's checkout would block the loop when every connection is out: none is refused (max_overflow
    # -1), those above the kept ones are closed on their return
    engine = create_engine(parsed.set(drivername='sqlite+pysqlite'),
                           connect_args={'timeout': 0, 'check_same_thread': False},
                           pool_size=SQLITE_INLINE_KEPT, max_overflow=-1)
    event.listen(engine, 'connect', _sqlite_inline_pragmas)
    event.listen(engine, 'before_cursor_execute', _unlocked_write)  # quick readers must not write
    event.listen(engine, 'before_cursor_execute', refuse_outside_a_call)
    return engine


def get_settings_inline_writes() -> bool:
    from .config import get_settings
    return get_settings().sqlite_inline_writes


async def restart() -> None:
    """Drop every pooled connection and open a new engine on the same database (as a restarted process would)."""
    url, schema = engine().url.render_as_string(hide_password=False), _engine_schema[0]
    await dispose()
    init(url, schema=schema)


async def dispose() -> None:
    global _engine, _sessionmaker, _inline_engine, _inline_sessionmaker  # noqa: PLW0603
    if _engine is not None:
        await _engine.dispose()
    if _inline_engine is not None:
        _inline_engine.dispose()
    _engine = _inline_engine = None
    _sessionmaker = _inline_sessionmaker = None
    from .queries import lookups, shared
    lookups.forget_all()  # the lists kept were another database's
    shared.forget_all()


def engine() -> AsyncEngine:
    if _engine is None:
        raise RuntimeError('database not initialised: call pulse_live.db.init(url) first')
    return _engine


def sync_engines() -> list[Engine]:
    """Every engine of this process, as SQLAlchemy's synchronous engines (where events are listened for): the main
    one and, on SQLite, the inline one (the writer and the short reads)."""
    return [e for e in (engine().sync_engine, _inline_engine) if e is not None]


def is_sqlite() -> bool:
    return engine().dialect.name == 'sqlite'


async def serialise(session: AsyncSession, key: str) -> None:
    """Until this transaction ends, no other transaction serialising on ``key`` gets past this call: for the checks
    a row lock cannot guard ("at most 20 tokens", "no second organisation of that name", "not on the team yet") —
    counted, then inserted. PostgreSQL: a transaction-level advisory lock on the key's hash; SQLite: the transaction
    takes SQLite's write lock now (``begin_immediate``), so the check that follows and the write are one transaction
    no other process's writer gets into (the process's write lock keeps this process's writers out). Without it, 25
    token creations at once on PostgreSQL made 26 active tokens of a bound of 20; and on SQLite, whose reads before
    the first write ran outside a transaction, a second process (the CLI) creating the twentieth token at the same
    moment as the app left 21."""
    if session.get_bind().dialect.name == 'sqlite':
        await begin_immediate(session)
        return
    from sqlalchemy import text
    await session.execute(text('SELECT pg_advisory_xact_lock(hashtext(:key))'), {'key': key})


class _WriteLock:
    """A FIFO lock on one event loop that knows the task holding it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.holder: asyncio.Task | None = None


@asynccontextmanager
async def write_lock() -> AsyncIterator[None]:
    """Held around each write transaction on SQLite (one writer at a time, queued here); nothing on PostgreSQL, whose
    row locks let writers of different rows run side by side. A unit of work started by the task already holding it
    (nested) does not wait for itself."""
    if _engine is None or _engine.dialect.name != 'sqlite':
        yield
        return
    loop = asyncio.get_running_loop()
    lock = _write_locks.get(loop)
    if lock is None:
        for old in [k for k in _write_locks if k.is_closed()]:
            del _write_locks[old]
        lock = _write_locks[loop] = _WriteLock()
    task = asyncio.current_task()
    if task is not None and lock.holder is task:
        yield
        return
    async with lock.lock:
        lock.holder = task
        try:
            yield
        finally:
            lock.holder = None


@asynccontextmanager
async def session() -> AsyncIterator[AsyncSession]:
    """A session for reading (queries) or for one unit of work (services)."""
    if _sessionmaker is None:
        raise RuntimeError('database not initialised: call pulse_live.db.init(url) first')
    if _inline_sessionmaker is not None and holds_write_lock():
        # the writer's statements run inline, synchronously: the lock is held for their CPU time only
        from .sqlite_inline import SyncSessionOnLoop
        async with SyncSessionOnLoop(_inline_sessionmaker(), writer=True) as writer_session:
            yield cast(AsyncSession, writer_session)
        return
    async with _sessionmaker() as s:
        yield s


@asynccontextmanager
async def quick() -> AsyncIterator[AsyncSession]:
    """A session for short reads (rows by key, a ticket's entries, small lists): on SQLite its statements run on the
    event loop's thread, synchronously (``sqlite_inline.SyncSessionOnLoop``: without SQLAlchemy's async facade, which
    cost more than the reads). Through a reader's thread a statement cost ~0.7 ms of CPU (the hand-over to the thread
    and back, a wake-up of the loop) and waited for the loop's next turn, which on a busy server was most of a page's
    time; inline it costs ~0.1–0.2 ms and nothing waits. Long reads (lists over
    every ticket, search, reports) stay on ``session``/``reader``: a statement here holds the loop for its time
    (a transaction longer than ``sqlite_inline.SLICE_S`` lets the loop take turns between its statements). Reads
    only: a write from here without the write lock is reported like any other (``_unlocked_write``)."""
    if _sessionmaker is None:
        raise RuntimeError('database not initialised: call pulse_live.db.init(url) first')
    if _inline_sessionmaker is not None:
        from .sqlite_inline import SyncSessionOnLoop
        async with SyncSessionOnLoop(_inline_sessionmaker()) as quick_session:
            yield cast(AsyncSession, quick_session)  # the surface short reads use (execute, scalar(s), get, info)
        return
    async with _sessionmaker() as s:
        yield s


@asynccontextmanager
async def reader() -> AsyncIterator[AsyncSession]:
    """A session for a long read, on a reader's thread even for the write lock's holder (whose own statements run
    inline, on the loop: a long scan there would freeze the loop for its whole time). It sees what is committed."""
    if _sessionmaker is None:
        raise RuntimeError('database not initialised: call pulse_live.db.init(url) first')
    async with _sessionmaker() as s:
        yield s


async def begin_immediate(session: AsyncSession) -> None:
    """SQLite: begin the session's transaction with SQLite's write lock taken (pysqlite begins one only before a
    write, and a SAVEPOINT outside a transaction is a transaction of its own whose RELEASE commits)."""
    from .sqlite_inline import SyncSessionOnLoop
    writer: object = session
    if isinstance(writer, SyncSessionOnLoop):
        await writer.begin_immediate()  # the writer's own (it waits for another process's lock on the loop)
        return
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection  # aiosqlite's
    if driver is None or not driver.in_transaction:  # (begun already: by a write, or here before)
        await connection.exec_driver_sql('BEGIN IMMEDIATE')


def holds_write_lock() -> bool:
    """Whether the current task holds this process's SQLite write lock."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    lock = _write_locks.get(loop)
    return lock is not None and lock.holder is not None and lock.holder is asyncio.current_task()


async def create_all() -> None:
    from .models import Base
    async with engine().begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
