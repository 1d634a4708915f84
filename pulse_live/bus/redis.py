from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable

from redis import asyncio as aioredis

from ..events import Event, Handler, LocalFanout, event_from_dict

log = logging.getLogger(__name__)
CHANNEL = 'pulse-live:events'


class RedisBus:
    """Relays events between app processes through Redis pub/sub; local subscribers get them at once."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url, self.channel = url, channel
        self.origin = uuid.uuid4().hex
        self._fanout = LocalFanout()
        self._redis: aioredis.Redis | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._redis = aioredis.from_url(self.url)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.channel)
        self._task = asyncio.create_task(self._listen(pubsub))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._redis:
            await self._redis.aclose()

    async def publish(self, event: Event) -> None:
        await self._fanout.deliver(event)
        if self._redis is not None:
            payload = json.dumps({'origin': self.origin, 'event': event.to_dict()})
            try:
                await self._redis.publish(self.channel, payload)
            except Exception:
                log.exception('could not relay %r to other processes', event)

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        return self._fanout.subscribe(handler)

    async def _listen(self, pubsub) -> None:
        async for message in pubsub.listen():
            if message.get('type') != 'message':
                continue
            try:
                data = json.loads(message['data'])
                if data.get('origin') == self.origin:
                    continue
                event = event_from_dict(data['event'])
            except Exception:
                log.warning('dropped a malformed bus message: %r', message.get('data'))
                continue
            await self._fanout.deliver(event)
