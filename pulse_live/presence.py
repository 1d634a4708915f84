"""Who is viewing which ticket, who is typing, and who is online — per browser tab, across processes.

Each process keeps its own tabs and publishes its share as ``PresenceChanged`` (tagged with its origin).
Other processes (through the Redis bus) keep those shares and merge them, so every view shows everyone.
Shares are re-sent every few seconds and forgotten when they stop coming (a process that died).
One background loop per process expires "typing" marks and sends the heartbeats (no timer per client).

A process that dies (kill -9) sends no goodbye: its share lives on elsewhere until ``REMOTE_TTL_S``. Nothing that
must reach a person may rest on such a share: the planner spares only viewers *of this process*
(``viewing_here``) — a viewer elsewhere gets the bell entry, which their tab marks read on sight — and the
missed-message scan counts a user online only on shares fresher than a heartbeat (``FRESH_S``).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass

from .background import spawn
from .bus import get_bus
from .events import Event, PresenceChanged

TYPING_TTL_S = 4.0
HEARTBEAT_S = 10.0
REMOTE_TTL_S = 3 * HEARTBEAT_S
POSTED_SAY_S = 0.5  # a tab that stopped typing by posting says so this much later (``stopped_typing``)
FRESH_S = HEARTBEAT_S + 2.0  # a live process has re-sent its share within this (a heartbeat and some slack)
ORIGIN = uuid.uuid4().hex


@dataclass
class Viewer:
    client_id: str
    user_id: int
    name: str
    is_staff: bool
    typing_until: float = 0.0


_viewers: dict[int, dict[str, Viewer]] = {}
_online: dict[int, set[str]] = {}  # user id → connected tabs of this process (any page)
_remote: dict[int | None, dict[str, tuple[float, dict]]] = {}  # ticket id (None: online users) → origin → share
_task: asyncio.Task | None = None


def _local_share(ticket_id: int) -> dict:
    now = time.monotonic()
    viewers = list(_viewers.get(ticket_id, {}).values())
    return {'viewers': [{'user_id': v.user_id, 'name': v.name, 'is_staff': v.is_staff} for v in viewers],
            'typing': [{'user_id': v.user_id, 'name': v.name} for v in viewers if v.typing_until > now]}


def _remote_shares(key: int | None, *, within_s: float = REMOTE_TTL_S) -> list[dict]:
    now = time.monotonic()
    shares = _remote.get(key, {})
    for origin in [o for o, (seen, _) in shares.items() if now - seen > REMOTE_TTL_S]:
        shares.pop(origin)
    return [share for seen, share in shares.values() if now - seen <= within_s]


def snapshot(ticket_id: int) -> dict:
    """Distinct users viewing the ticket, and those typing now, from every process."""
    shares = [_local_share(ticket_id), *_remote_shares(ticket_id)]
    viewers: dict[int, dict] = {}
    typing: dict[int, str] = {}
    for share in shares:
        for v in share.get('viewers', []):
            viewers.setdefault(v['user_id'], v)
        for t in share.get('typing', []):
            typing[t['user_id']] = t['name']
    return {'viewers': list(viewers.values()),
            'typing': [{'user_id': uid, 'name': name} for uid, name in sorted(typing.items())]}


async def _publish(ticket_id: int) -> None:
    await get_bus().publish(PresenceChanged(ticket_id=ticket_id, data={'origin': ORIGIN, **_local_share(ticket_id)}))


async def _publish_online() -> None:
    await get_bus().publish(PresenceChanged(ticket_id=None, data={'origin': ORIGIN, 'online': sorted(_online)}))


async def on_bus_event(event: Event) -> None:
    """Keep other processes' shares (subscribed to the bus before the UI relay, so views see merged data)."""
    if not isinstance(event, PresenceChanged):
        return
    origin = event.data.get('origin')
    if not origin or origin == ORIGIN:
        return
    _remote.setdefault(event.ticket_id, {})[origin] = (time.monotonic(), event.data)


async def join(ticket_id: int, *, client_id: str, user_id: int, name: str, is_staff: bool) -> None:
    _viewers.setdefault(ticket_id, {})[client_id] = Viewer(client_id, user_id, name, is_staff)
    await _publish(ticket_id)


async def leave(ticket_id: int, *, client_id: str) -> None:
    viewers = _viewers.get(ticket_id, {})
    if viewers.pop(client_id, None) is not None:
        if not viewers:
            _viewers.pop(ticket_id, None)
        await _publish(ticket_id)


async def typing(ticket_id: int, *, client_id: str) -> None:
    viewer = _viewers.get(ticket_id, {}).get(client_id)
    if viewer is None:
        return
    was_typing = viewer.typing_until > time.monotonic()
    viewer.typing_until = time.monotonic() + TYPING_TTL_S
    if not was_typing:
        await _publish(ticket_id)


async def stopped_typing(ticket_id: int, *, client_id: str, posted: bool = False) -> None:
    """The tab stopped typing. ``posted``: because its message was sent — the pages showing the mark clear it with
    the message's entry, in the same update, so this process's word is sent ``POSTED_SAY_S`` later (sent at once, it
    overtook the entry: two changes in every viewer's browser instead of one). The mark ends here at once."""
    viewer = _viewers.get(ticket_id, {}).get(client_id)
    if viewer is None or not viewer.typing_until:
        return
    viewer.typing_until = 0.0
    if not posted:
        await _publish(ticket_id)
        return
    asyncio.get_running_loop().call_later(POSTED_SAY_S, _publish_later, ticket_id)


def _publish_later(ticket_id: int) -> None:
    spawn(_publish(ticket_id), name='presence-publish')


def connected(user_id: int, client_id: str) -> None:
    first = not _online.get(user_id)
    _online.setdefault(user_id, set()).add(client_id)
    if first:
        _schedule_online()


def disconnected(user_id: int, client_id: str) -> None:
    tabs = _online.get(user_id)
    if tabs is not None:
        tabs.discard(client_id)
        if not tabs:
            _online.pop(user_id, None)
            _schedule_online()


def _schedule_online() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    spawn(_publish_online(), name='presence-online')


def viewed_in(ticket_id: int, client_id: str) -> bool:
    """Whether that browser tab (of this process) has the ticket open right now."""
    return client_id in _viewers.get(ticket_id, {})


def viewed_tickets() -> list[int]:
    """The tickets open in this process's pages."""
    return [ticket_id for ticket_id, viewers in _viewers.items() if viewers]


def viewing(ticket_id: int) -> set[int]:
    """Users who have the ticket open right now (any process)."""
    return {v['user_id'] for v in snapshot(ticket_id)['viewers']}


def viewing_here(ticket_id: int) -> set[int]:
    """Users who have the ticket open in a tab of this process: certain, unlike another process's share, which
    outlives that process by up to ``REMOTE_TTL_S`` when it dies."""
    return {v.user_id for v in _viewers.get(ticket_id, {}).values()}


def is_online(user_id: int, *, fresh_s: float | None = None) -> bool:
    """Whether a tab of the user is connected here, or was in another process's last share (``fresh_s``: only
    shares refreshed within that many seconds count; a process that died stops refreshing)."""
    if _online.get(user_id):
        return True
    within = REMOTE_TTL_S if fresh_s is None else fresh_s
    return any(user_id in share.get('online', []) for share in _remote_shares(None, within_s=within))


def connected_tabs() -> tuple[int, int]:
    """(tabs, users) connected to this process (for the metrics)."""
    tabs = [len(t) for t in _online.values() if t]
    return sum(tabs), len(tabs)


async def _housekeeping() -> None:
    last_heartbeat = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        for ticket_id, viewers in list(_viewers.items()):
            expired = [v for v in viewers.values() if v.typing_until and v.typing_until <= now]
            for v in expired:
                v.typing_until = 0.0
            if expired:
                await _publish(ticket_id)
        if now - last_heartbeat >= HEARTBEAT_S:
            last_heartbeat = now
            for ticket_id in list(_viewers):
                await _publish(ticket_id)
            await _publish_online()


def start() -> None:
    global _task  # noqa: PLW0603
    _viewers.clear()
    _online.clear()
    _remote.clear()
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_housekeeping())


async def stop() -> None:
    global _task  # noqa: PLW0603
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _task
    _task = None
