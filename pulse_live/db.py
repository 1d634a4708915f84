"""The async engine and session factory; SQLite gets WAL, foreign keys and a busy timeout."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_engine_schema = ['']


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
        connect_args = {'server_settings': {'search_path': schema}} if schema else {}
        engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
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
