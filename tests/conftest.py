"""Shared fixtures: a fresh database per test (SQLite, and PostgreSQL where it answers) with the tests' own data set
(``people``: tests/factories.py)."""
from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from pulse_live import db
from pulse_live.bus import MemoryBus, set_bus
from pulse_live.config import reset_settings
from pulse_live.models import Base
from tests.factories import PASSWORD_HASH, People, people_for_test

PG_URL = os.environ.get('PULSE_TEST_PG_URL', 'postgresql+asyncpg://postgres@127.0.0.1:5432/test')
# tests open requests as one customer far faster than a person does (the servers they start inherit it); the limit
# itself is tested with its own value (tests/unit/services/test_tickets.py)
os.environ.setdefault('PULSE_CUSTOMER_REQUESTS_PER_MINUTE', '100000')
PG_SCHEMA = f'pulse_test_{os.getpid()}'  # each test run has its own schema: parallel runs never collide
_HASH = PASSWORD_HASH  # the password 'demo', hashed once per run
_pg_schema_ready = False


def pg_available() -> bool:
    try:
        with socket.create_connection(('127.0.0.1', 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    monkeypatch.setenv('PULSE_DATA_DIR', str(tmp_path / 'data'))
    monkeypatch.setenv('PULSE_DATABASE_URL', f'sqlite+aiosqlite:///{tmp_path / "data" / "pulse.db"}')
    monkeypatch.setenv('PULSE_STORAGE_SECRET', 'test-secret')
    monkeypatch.delenv('PULSE_BUS_URL', raising=False)
    reset_settings()
    from pulse_live.rate_limit import get_limiter
    get_limiter().clear()  # every test starts with full buckets: a fresh database reuses the same user ids
    yield
    reset_settings()


async def _prepare_postgres() -> None:
    global _pg_schema_ready  # noqa: PLW0603
    if not _pg_schema_ready:
        import asyncpg
        conn = await asyncpg.connect(PG_URL.replace('postgresql+asyncpg', 'postgresql'))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE; CREATE SCHEMA {PG_SCHEMA}')
        finally:
            await conn.close()
    db.init(PG_URL, schema=PG_SCHEMA)
    async with db.engine().begin() as conn:
        if not _pg_schema_ready:
            await conn.run_sync(Base.metadata.create_all)
            _pg_schema_ready = True
        else:
            names = ', '.join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f'TRUNCATE {names} RESTART IDENTITY CASCADE'))


def pytest_sessionfinish(session, exitstatus):
    if not _pg_schema_ready:
        return
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_URL.replace('postgresql+asyncpg', 'postgresql'))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE')
        finally:
            await conn.close()
    asyncio.run(drop())


@pytest.fixture(params=['sqlite', 'postgresql'])
async def database(request, monkeypatch) -> AsyncIterator[str]:
    """A fresh, empty schema; the unit tests run once on SQLite and once on PostgreSQL."""
    set_bus(MemoryBus())
    if request.param == 'postgresql':
        if not pg_available():
            pytest.skip('PostgreSQL is not answering on 127.0.0.1:5432')
        monkeypatch.setenv('PULSE_DATABASE_URL', PG_URL)
        reset_settings()
        await _prepare_postgres()
    else:
        db.init(os.environ['PULSE_DATABASE_URL'])
        await db.create_all()
    yield request.param
    await db.dispose()
    await let_database_threads_finish()


@pytest.fixture
async def people(database) -> People:
    """The tests' data set (tests/factories.py), not the demo's: the demo may change without breaking a test."""
    return await people_for_test()


async def let_database_threads_finish(deadline_s: float = 3.0) -> None:
    """A read cancelled at app shutdown still runs in its aiosqlite thread; let it answer before pytest closes
    the event loop (otherwise the thread reports "Event loop is closed" into the next test)."""
    end = time.monotonic() + deadline_s
    for thread in [t for t in threading.enumerate() if '_connection_worker_thread' in t.name]:
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.to_thread(thread.join, remaining)


@pytest.fixture
def fresh_presence():
    """No viewers, online tabs or remote shares from an earlier test (presence is process state)."""
    from pulse_live import presence
    stores = (presence._viewers, presence._online, presence._remote)
    for store in stores:
        store.clear()
    yield presence
    for store in stores:
        store.clear()


def _app_events() -> list:
    """The app's module-level NiceGUI events (components.live, components.dashboard_feed, …)."""
    import sys

    from nicegui import Event
    found = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(('components.', 'pages.')):
            continue
        for value in vars(module).values():
            if isinstance(value, Event):
                found[id(value)] = value
    return list(found.values())


@pytest.fixture(autouse=True)
def _no_page_subscribers_from_other_tests():
    """NiceGUI's test reset forgets module-level events after the first test (``Event.instances.clear()``), so
    the subscriptions of a finished test's pages would live on into the next test, whose tickets have the same
    ids, and act there (even navigate its simulated user). In the app a page's subscriptions end with its client."""
    for event in _app_events():
        event.callbacks.clear()
    yield
    for event in _app_events():
        event.callbacks.clear()


# --- NiceGUI's simulated users: navigation and toasts go to the user whose page acted -------------------------------
#
# nicegui.testing.User swaps the module globals ui.navigate / ui.notify / ui.download to *its own* helpers whenever any
# attribute of that User object is read — including from inside its page's outbox (every live update a page
# receives). With two simulated users, a live update reaching user A while user B's login handler awaits the
# password check points ui.navigate at A: B's "go to the home page" is then carried out for A, and B stays on the
# login page (seen in CI as a login that never finished). Here the globals are proxies that pick the User whose
# page is the current NiceGUI context, so a handler's navigation and toasts always reach the user who caused them.

def _install_context_aware_user_helpers() -> None:
    import weakref

    from nicegui import context, ui
    from nicegui.testing import user as user_module

    users: weakref.WeakSet = weakref.WeakSet()
    last: dict[str, object] = {}

    class _Nobody:
        """A page no simulated user shows any more (an earlier page of theirs, still alive until its client is
        deleted): what the server sends it reaches nobody, as in a browser tab that was navigated away."""

        def __call__(self, *args, **kwargs):
            return None

        def __getattr__(self, attr: str):
            return self

    nobody = _Nobody()

    def owner():
        try:
            client = context.client
        except Exception:  # no page context (test code itself): the user the test touched last
            client = None
        if client is not None:
            for candidate in list(users):
                if object.__getattribute__(candidate, 'client') is client:
                    return candidate
            if getattr(client, 'pulse_user_id', None) is not None and client.has_socket_connection:
                return nobody  # a page shown before, now of nobody's: never another user's browser
            # (a page still being built has no socket yet: it belongs to the user who is opening it)
        return last.get('user')

    class _Proxy:
        def __init__(self, name: str) -> None:
            self._name = name

        def _target(self):
            user = owner()
            if user is None:
                raise RuntimeError(f'ui.{self._name} used outside any simulated user')
            if user is nobody:
                return nobody
            return object.__getattribute__(user, self._name)

        def __call__(self, *args, **kwargs):
            return self._target()(*args, **kwargs)

        def __getattr__(self, attr: str):
            return getattr(self._target(), attr)

    proxies = {name: _Proxy(name) for name in ('navigate', 'notify', 'download')}

    def __getattribute__(self, name: str):
        if name not in proxies:
            users.add(self)
            last['user'] = self
            ui.navigate, ui.notify, ui.download = proxies['navigate'], proxies['notify'], proxies['download']
        return object.__getattribute__(self, name)

    user_module.User.__getattribute__ = __getattribute__


_install_context_aware_user_helpers()


@pytest.fixture(autouse=True)
def _no_unlocked_app_writes():
    """Every write of the app's own code on SQLite runs under the write lock (``db.write_lock``; see
    ``db._unlocked_write``): a test fails if one did not. The tests' own factories may write without it."""
    from pulse_live import db as _db
    _db.unlocked_writes.clear()
    yield
    found = list(_db.unlocked_writes)
    _db.unlocked_writes.clear()
    assert not found, f'writes without the write lock: {found}'
