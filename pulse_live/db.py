"""The async engine and session factory; SQLite gets WAL, foreign keys and a busy timeout.

SQLite has one writer at a time. Left to SQLite, concurrent writers of this process wait in its busy handler (a
thread each, polling with sleeps of up to 100 ms) and give up with "database is locked" after the busy timeout — which
a starved event loop reaches, since a transaction holding the lock waits for the loop between its statements. So
every unit of work of this process takes ``write_lock()`` first: writers queue in FIFO order on the event loop and
get the database the moment the previous one committed; SQLite's busy timeout is left for other processes (the CLI).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_engine_schema = ['']
_write_locks: dict[asyncio.AbstractEventLoop, _WriteLock] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA journal_mode=WAL')
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.execute('PRAGMA busy_timeout=10000')
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()


def make_engine(url: str, *, schema: str = '') -> AsyncEngine:
    """An engine for the URL; ``schema`` (PostgreSQL) sets the search path, e.g. to keep test runs apart."""
    parsed = make_url(url)
    if parsed.get_backend_name() == 'sqlite':
        if parsed.database and parsed.database != ':memory:':
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={'timeout': 10})
        event.listen(engine.sync_engine, 'connect', _sqlite_pragmas)
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
    global _engine, _sessionmaker  # noqa: PLW0603
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
    _sessionmaker = async_sessionmaker(_engine, expire_on_commit=False)
    return _engine


async def restart() -> None:
    """Drop every pooled connection and open a new engine on the same database (as a restarted process would)."""
    url, schema = engine().url.render_as_string(hide_password=False), _engine_schema[0]
    await dispose()
    init(url, schema=schema)


async def dispose() -> None:
    global _engine, _sessionmaker  # noqa: PLW0603
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None


def engine() -> AsyncEngine:
    if _engine is None:
        raise RuntimeError('database not initialised: call pulse_live.db.init(url) first')
    return _engine


def is_sqlite() -> bool:
    return engine().dialect.name == 'sqlite'


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
    async with _sessionmaker() as s:
        yield s


async def create_all() -> None:
    from .models import Base
    async with engine().begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
