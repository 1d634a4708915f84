"""The bus: in-process delivery, and Redis relaying between two app processes (two bus instances here)."""
import asyncio
import socket

import pytest

from pulse_live.bus import MemoryBus, make_bus
from pulse_live.bus.redis import RedisBus
from pulse_live.events import NotificationCreated, TicketChanged, event_from_dict


def redis_available() -> bool:
    try:
        with socket.create_connection(('127.0.0.1', 6379), timeout=0.5):
            return True
    except OSError:
        return False


async def test_memory_bus_delivers_and_isolates_failing_handlers():
    bus, seen = MemoryBus(), []

    async def broken(event):
        raise RuntimeError('boom')

    async def good(event):
        seen.append(event)
    bus.subscribe(broken)
    unsubscribe = bus.subscribe(good)
    await bus.publish(TicketChanged(ticket_id=1, kind='message', actor_id=2, event_ids=(3,)))
    unsubscribe()
    await bus.publish(TicketChanged(ticket_id=1, kind='message', actor_id=2))
    assert [e.ticket_id for e in seen] == [1]


def test_events_survive_serialisation():
    event = TicketChanged(ticket_id=5, kind='field_change', actor_id=1, event_ids=(7, 8), fields=('title',))
    assert event_from_dict(event.to_dict()) == event
    note = NotificationCreated(user_id=1, notification_id=2, ticket_id=3, text='hi')
    assert event_from_dict(note.to_dict()) == note


def test_make_bus_refuses_unknown_urls():
    with pytest.raises(ValueError, match='unsupported bus URL'):
        make_bus('kafka://nope')


@pytest.mark.skipif(not redis_available(), reason='Redis is not answering on 127.0.0.1:6379')
async def test_redis_bus_relays_between_processes_once():
    a, b = RedisBus('redis://127.0.0.1:6379/0'), RedisBus('redis://127.0.0.1:6379/0')
    await a.start()
    await b.start()
    got_a, got_b = [], []

    async def on_a(event):
        got_a.append(event)

    async def on_b(event):
        got_b.append(event)
    a.subscribe(on_a)
    b.subscribe(on_b)
    try:
        await asyncio.sleep(0.1)  # subscriptions settle
        event = TicketChanged(ticket_id=42, kind='message', actor_id=1, event_ids=(9,))
        await a.publish(event)
        for _ in range(50):
            if got_b:
                break
            await asyncio.sleep(0.02)
        assert got_b == [event]  # the other process heard it
        assert got_a == [event]  # the publishing process delivered it locally, once (not again via Redis)
    finally:
        await a.stop()
        await b.stop()
