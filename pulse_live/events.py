"""Typed events and the bus interface.

Events carry ids and small values, never ORM objects: subscribers re-read from the database.
They are published only by services, only after the transaction committed.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    topic: ClassVar[str] = 'event'

    def to_dict(self) -> dict[str, Any]:
        return {'topic': self.topic, **asdict(self)}


@dataclass(frozen=True)
class TicketChanged(Event):
    """Something about a ticket changed: a new chatter entry, a field, the team, an attachment."""
    topic: ClassVar[str] = 'ticket'
    ticket_id: int
    kind: str  # created, message, field_change, team
    actor_id: int | None
    event_ids: tuple[int, ...] = ()
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotificationCreated(Event):
    topic: ClassVar[str] = 'notification'
    user_id: int
    notification_id: int
    ticket_id: int | None = None
    text: str = ''


@dataclass(frozen=True)
class NotificationsRead(Event):
    topic: ClassVar[str] = 'notifications_read'
    user_id: int


@dataclass(frozen=True)
class PresenceChanged(Event):
    topic: ClassVar[str] = 'presence'
    ticket_id: int | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountChanged(Event):
    """A user's password, active flag, sign-in address, role or reach (organisation, organisation admin) changed:
    every open page of that user re-checks its session at once (``components/guard.py``) and ends if it is no
    longer valid."""
    topic: ClassVar[str] = 'account'
    user_id: int


@dataclass(frozen=True)
class SessionEnded(Event):
    """A browser session was logged out: its other open tabs (in every process) end at once."""
    topic: ClassVar[str] = 'session_ended'
    session_id: str


@dataclass(frozen=True)
class ApiTokenRevoked(Event):
    """An API token was revoked: every process forgets it at once (``services/api_tokens.TokenCache``)."""
    topic: ClassVar[str] = 'api_token_revoked'
    token_id: int
    user_id: int


@dataclass(frozen=True)
class EscalationRulesChanged(Event):
    """The escalation rules changed: the acting escalation worker re-schedules every open ticket."""
    topic: ClassVar[str] = 'escalation_rules'


@dataclass(frozen=True)
class SlaRecomputeRequested(Event):
    """An admin changed a policy, calendar or tier: the acting escalation worker recomputes the open tickets' clocks
    in batches (the pending ``sla_clock_jobs``); admin pages show the progress."""
    topic: ClassVar[str] = 'sla_recompute'


@dataclass(frozen=True)
class BusResumed(Event):
    """Local only (never relayed): the connection to the other processes was lost and is back; events published
    meanwhile may be missing, so open views re-read what they show."""
    topic: ClassVar[str] = 'bus_resumed'


EVENT_TYPES: dict[str, type[Event]] = {cls.topic: cls for cls in (TicketChanged, NotificationCreated, NotificationsRead,
                                                               PresenceChanged, AccountChanged, SessionEnded,
                                                               EscalationRulesChanged, SlaRecomputeRequested,
                                                               ApiTokenRevoked)}


def event_from_dict(data: dict[str, Any]) -> Event:
    data = dict(data)
    cls = EVENT_TYPES[data.pop('topic')]
    for key in ('event_ids', 'fields'):
        if key in data and isinstance(data[key], list):
            data[key] = tuple(data[key])
    return cls(**data)


Handler = Callable[[Event], Awaitable[None]]


class Bus(Protocol):
    async def publish(self, event: Event) -> None: ...
    def subscribe(self, handler: Handler) -> Callable[[], None]: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class LocalFanout:
    """Deliver an event to this process's subscribers; one failing handler never stops the others."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        self._handlers.append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)
        return unsubscribe

    async def deliver(self, event: Event, *, published_at: float | None = None, origin: str = 'local') -> None:
        """``published_at`` (``time.time()`` when it was published after the commit) times the delivery."""
        for handler in list(self._handlers):
            try:
                await handler(event)
            except Exception:
                log.exception('event handler %r failed for %r', handler, event)
        from .ops import metrics
        metrics.events_delivered.labels(event.topic, origin).inc()
        if published_at is not None:
            metrics.delivery_seconds.labels(origin).observe(max(0.0, time.time() - published_at))

    @property
    def handler_count(self) -> int:
        return len(self._handlers)
