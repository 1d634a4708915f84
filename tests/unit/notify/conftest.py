"""Fixtures of the notification tests."""
from collections import Counter

import pytest

from pulse_live.bus import get_bus
from pulse_live.events import NotificationCreated


@pytest.fixture
def toasts():
    """The in-app notifications published to open tabs (each one is a toast in the bell), per user id."""
    seen: Counter = Counter()

    async def count(event):
        if isinstance(event, NotificationCreated):
            seen[event.user_id] += 1
    unsubscribe = get_bus().subscribe(count)
    yield seen
    unsubscribe()
