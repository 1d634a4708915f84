"""Readiness: can this process serve? The database, the bus and the attachment store must answer; the mail server's
reachability is reported but does not fail readiness (mail waits in the outbox and is retried)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select, text

from .. import db, presence
from ..bus import get_bus
from ..config import get_settings
from ..models import MailOutbox, utcnow
from . import metrics

log = logging.getLogger(__name__)
REQUIRED = ('database', 'bus', 'attachments')


async def _database() -> str:
    async with db.session() as s:
        await s.execute(text('SELECT 1'))
    return db.engine().dialect.name


async def _bus() -> str:
    bus = get_bus()
    ping = getattr(bus, 'ping', None)  # the Redis bus pings its server and checks its listener; memory is in-process
    if ping is not None:
        await ping()
    return type(bus).__name__


async def _attachments() -> str:
    from .. import storage
    backend = storage.backend()
    await backend.check()  # local: the folder can be made; object storage: the bucket answers
    return backend.name


async def _smtp() -> str:
    s = get_settings()
    _, writer = await asyncio.open_connection(s.smtp_host, s.smtp_port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return f'{s.smtp_host}:{s.smtp_port}'


CHECKS: dict[str, Callable[[], Awaitable[str]]] = {'database': _database, 'bus': _bus, 'attachments': _attachments,
                                                    'smtp': _smtp}


async def _run(name: str, check: Callable[[], Awaitable[str]], timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            detail = await check()
        result: dict[str, Any] = {'ok': True, 'detail': detail}
    except Exception as e:  # noqa: BLE001  (any failure is the answer: not reachable)
        log.warning('readiness: %s not reachable: %s: %s', name, type(e).__name__, e)
        reason = 'timed out' if isinstance(e, TimeoutError) else type(e).__name__
        result = {'ok': False, 'error': reason}
    result['ms'] = round((time.perf_counter() - started) * 1000, 1)
    if name not in REQUIRED:
        result['required'] = False
    return result


READINESS_TTL_S = 1.0  # one answer serves every caller for this long: a flood of /readyz is not a flood of checks
_last: tuple[float, tuple[int, ...], tuple[bool, dict[str, Any]]] | None = None
_running: asyncio.Task | None = None


def _setup_key() -> tuple[int, ...]:
    """What the checks depend on: an answer is reused only while the database, bus and settings are the same."""
    try:
        engine_id = id(db.engine())
    except Exception:  # noqa: BLE001  (no database set up: its check says so)
        engine_id = 0
    return engine_id, id(get_bus()), id(get_settings())


async def readiness() -> tuple[bool, dict[str, Any]]:
    """(ready, body), shared: the checks run at most once per ``READINESS_TTL_S`` (callers meanwhile get the same
    answer; callers during a run wait for it) — the public /readyz would otherwise let anyone make this process
    open a connection to the mail server, the database and the store per request."""
    global _last, _running  # noqa: PLW0603
    key = _setup_key()
    if _last is not None and _last[1] == key and time.monotonic() - _last[0] < READINESS_TTL_S:
        return _last[2]
    if _running is None or _running.done():
        _running = asyncio.ensure_future(_readiness())
    task = _running
    answer = await asyncio.shield(task)
    _last = (time.monotonic(), key, answer)
    return answer


async def _readiness() -> tuple[bool, dict[str, Any]]:
    """(ready, body): every check run side by side, each bounded by ``readyz_timeout_s``."""
    timeout_s = get_settings().readyz_timeout_s
    names = list(CHECKS)
    results = await asyncio.gather(*[_run(name, CHECKS[name], timeout_s) for name in names])
    checks = dict(zip(names, results, strict=True))
    ready = all(checks[name]['ok'] for name in REQUIRED)
    return ready, {'status': 'ready' if ready else 'not ready', 'checks': checks,
                   'failing': [name for name in REQUIRED if not checks[name]['ok']]}


async def refresh_gauges() -> None:
    """Read the gauges that describe state, just before a scrape."""
    tabs, users = presence.connected_tabs()
    metrics.connected_clients.set(tabs)
    metrics.online_users.set(users)
    try:
        pool = db.engine().pool
        for state, reader in (('size', 'size'), ('checked_out', 'checkedout'), ('checked_in', 'checkedin'),
                              ('overflow', 'overflow')):
            value = getattr(pool, reader, None)
            if callable(value):
                metrics.db_pool.labels(state).set(value())
    except Exception:  # noqa: BLE001
        metrics.scrape_errors.labels('db_pool').inc()
    try:
        async with asyncio.timeout(get_settings().readyz_timeout_s), db.session() as s:
            pending, oldest = (await s.execute(select(func.count(), func.min(MailOutbox.created_at))
                                               .where(MailOutbox.status == 'pending'))).one()
            dead = (await s.execute(select(func.count()).where(MailOutbox.status == 'dead'))).scalar_one()
        metrics.outbox_pending.set(pending)
        metrics.outbox_dead.set(dead)
        metrics.outbox_oldest_age.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
    except Exception:  # noqa: BLE001  (the scrape still answers; the error is counted)
        log.warning('metrics: the outbox could not be read', exc_info=True)
        metrics.scrape_errors.labels('outbox').inc()
