"""The bridge from the bus to the UI: one subscription per process, fanned out to pages as NiceGUI events.

Pages subscribe inside their page function, so each subscription dies with its client.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Generic, TypeVar

from nicegui import Event

from pulse_live.events import BusResumed, NotificationCreated, NotificationsRead, PresenceChanged, TicketChanged
from pulse_live.events import Event as BusEvent

from . import live_entries

ticket_changed: Event[[TicketChanged]] = Event()
presence_changed: Event[[PresenceChanged]] = Event()
A = TypeVar('A')
B = TypeVar('B')


class EventPairs(Generic[A, B]):
    """Two NiceGUI events per key (a ticket, a person), made when a page subscribes and dropped when nobody listens
    to either: a change wakes only the pages of its own key."""

    def __init__(self) -> None:
        self.pairs: dict[int, tuple[Event[[A]], Event[[B]]]] = {}

    def get(self, key: int) -> tuple[Event[[A]], Event[[B]]]:
        """The key's events (subscribe inside a page: they die with its client)."""
        events = self.pairs.get(key)
        if events is None or events[0] not in Event.instances:  # (NiceGUI's test reset forgets its events)
            events = self.pairs[key] = (Event(), Event())
        return events

    def forget(self, key: int) -> None:
        """Called when a page of the key is deleted: its events go when no page listens."""
        events = self.pairs.get(key)
        if events is not None and not events[0].callbacks and not events[1].callbacks:
            del self.pairs[key]


# --- one ticket's pages -----------------------------------------------------------------------------------------------
# The pages following one ticket (components/ticket_live.TicketFollower) subscribe to that ticket's own events: a change
# wakes only them. On the process-wide events every open ticket page of every ticket was called for every change (and,
# its handler being async, given a task of its own) only to find that the change was about another ticket: with 1,000
# pages open on 100 tickets that was 1,000 tasks per change for 10 pages that had something to do.
_tickets: EventPairs[TicketChanged, PresenceChanged] = EventPairs()
_ticket_events = _tickets.pairs
ticket_events = _tickets.get  # a ticket's change and presence events
forget_ticket_events = _tickets.forget  # when a page following the ticket is deleted


# --- one person's pages -----------------------------------------------------------------------------------------------
# A notification concerns one person; every page has a bell (components/bell.py). On a process-wide event every open
# page's bell was called for every notification, each given a task, only to find it was for someone else: with 200
# agents' pages open, 200 tasks per notification (a py-spy profile of benchmarks/load.py: ~6 % of the event loop).
_users: EventPairs[NotificationCreated, NotificationsRead] = EventPairs()
_user_events = _users.pairs
user_events = _users.get  # a person's notification events
forget_user_events = _users.forget  # when a page of the person is deleted


def _emit_for_user(event: NotificationCreated | NotificationsRead) -> None:
    events = _user_events.get(event.user_id)
    if events is None:
        return
    if isinstance(event, NotificationCreated):
        events[0].emit(event)
    else:
        events[1].emit(event)


# one presence snapshot per presence change for all the pages of a ticket (each page used to merge every tab's share
# itself: 100 pages × 100 tabs per typing start and stop)
_snapshots: dict[int, tuple[PresenceChanged | None, float, dict]] = {}
_last_presence: dict[int, PresenceChanged] = {}
SNAPSHOT_KEPT_S = 1.0  # shares of other processes expire without an event: never older than this


def presence_snapshot(ticket_id: int) -> dict:
    from pulse_live import presence
    last = _last_presence.get(ticket_id)
    now = time.monotonic()
    hit = _snapshots.get(ticket_id)
    if hit is not None and hit[0] is last and now - hit[1] < SNAPSHOT_KEPT_S:
        return hit[2]
    snapshot = presence.snapshot(ticket_id)
    _snapshots[ticket_id] = (last, now, snapshot)
    return snapshot


def _emit_ticket_changed(event: TicketChanged) -> None:
    ticket_changed.emit(event)
    events = _ticket_events.get(event.ticket_id)
    if events is not None:
        events[0].emit(event)


def _emit_presence_changed(event: PresenceChanged) -> None:
    presence_changed.emit(event)
    if event.ticket_id is None:
        return
    _last_presence[event.ticket_id] = event
    if len(_last_presence) > 10_000:  # tickets nobody looks at any more
        _last_presence.clear()
        _snapshots.clear()
    events = _ticket_events.get(event.ticket_id)
    if events is not None:
        events[1].emit(event)


async def relay(event: BusEvent) -> None:
    if isinstance(event, TicketChanged):
        try:
            await live_entries.ahead(event)  # many viewers alike: the new entries go to all of them in one message
        except Exception:  # the pages' own handlers show the entries then
            log.exception('sending the live entries of ticket %s at once failed', event.ticket_id)
        _emit_ticket_changed(event)
    elif isinstance(event, PresenceChanged):
        _emit_presence_changed(event)
    elif isinstance(event, (NotificationCreated, NotificationsRead)):
        _emit_for_user(event)
    elif isinstance(event, BusResumed):  # events of other processes may have been missed: open tickets re-read
        from pulse_live import presence
        for ticket_id in presence.viewed_tickets():
            # as a field change: every view re-reads the ticket and its new entries
            _emit_ticket_changed(TicketChanged(ticket_id=ticket_id, kind='field_change', actor_id=None))


# --- a client too far behind is let go, not buffered without end ----------------------------------------------------
# Each socket has its own queue and writer task in engineio, so a stalled browser never delays the others; but its
# queue grows without bound until the ping timeout notices (NiceGUI sets engineio's ping interval 12 s and ping
# timeout 6 s for our 15 s reconnect_timeout: ~18 s of every update of every page it shows). At
# SEND_BACKLOG packets not yet written, the socket is closed and its page dropped: when the browser comes back, NiceGUI
# finds no page for it and the browser reloads, reading the current state afresh.
SEND_BACKLOG = 1000
log = logging.getLogger(__name__)


def install_send_limit(limit: int = SEND_BACKLOG) -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``."""
    from engineio.async_socket import AsyncSocket
    original = getattr(AsyncSocket.send, '__pulse_original__', AsyncSocket.send)

    async def send(self: AsyncSocket, pkt) -> None:
        if self.queue.qsize() >= limit and not self.closed and not self.closing:
            log.warning('socket %s is %d messages behind: closed, its page is dropped (the browser reloads)',
                        self.sid, self.queue.qsize())
            _drop_page_of(self.sid)
            await self.close(wait=False, abort=True)
            return
        await original(self, pkt)
    send.__pulse_original__ = original  # type: ignore[attr-defined]
    AsyncSocket.send = send


def _drop_page_of(eio_sid: str) -> None:
    from nicegui import Client, core
    try:
        sid = core.sio.manager.sid_from_eio_sid(eio_sid, '/')
        rooms = core.sio.rooms(sid) if sid else []
    except Exception:  # noqa: BLE001 (no socket.io session for it: nothing to drop)
        return
    for room in rooms:
        client = Client.instances.get(room)
        if client is not None and not client.is_deleted:
            asyncio.get_running_loop().call_soon(client.delete)  # after this send returned to the outbox
