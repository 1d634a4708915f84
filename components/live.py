"""The bridge from the bus to the UI: one subscription per process, fanned out to pages as NiceGUI events.

Pages subscribe inside their page function, so each subscription dies with its client.
"""
from __future__ import annotations

from nicegui import Event

from pulse_live.events import Event as BusEvent
from pulse_live.events import NotificationCreated, NotificationsRead, PresenceChanged, TicketChanged

ticket_changed: Event[[TicketChanged]] = Event()
presence_changed: Event[[PresenceChanged]] = Event()
notification_created: Event[[NotificationCreated]] = Event()
notifications_read: Event[[NotificationsRead]] = Event()


async def relay(event: BusEvent) -> None:
    if isinstance(event, TicketChanged):
        ticket_changed.emit(event)
    elif isinstance(event, PresenceChanged):
        presence_changed.emit(event)
    elif isinstance(event, NotificationCreated):
        notification_created.emit(event)
    elif isinstance(event, NotificationsRead):
        notifications_read.emit(event)
