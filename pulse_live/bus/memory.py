from __future__ import annotations

import time
from collections.abc import Callable

from ..events import Event, Handler, LocalFanout
from ..ops import metrics


class MemoryBus:
    """In-process bus: publish calls every subscriber of this process."""

    def __init__(self) -> None:
        self._fanout = LocalFanout()
        self.published: list[Event] = []  # the last events, for diagnostics
        self._keep = 200

    async def publish(self, event: Event) -> None:
        self.published.append(event)
        del self.published[:-self._keep]
        metrics.events_published.labels(event.topic).inc()
        await self._fanout.deliver(event, published_at=time.time())

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        return self._fanout.subscribe(handler)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
