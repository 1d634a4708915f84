from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ..events import BusResumed, Event, Handler, LocalFanout, event_from_dict
from ..ops import metrics

log = logging.getLogger(__name__)
CHANNEL = 'pulse-live:events'


class RedisBus:
    """Relays events between app processes through Redis pub/sub; local subscribers get them at once.

    When Redis goes away (restarted, unreachable) the listener reconnects by itself (backoff up to 5 s, logged once
    per outage); once subscribed again it delivers ``BusResumed`` locally, so open views re-read what they may have
    missed meanwhile. Publishing while Redis is away fails fast (logged): the change is committed, only its live
    relay to the other processes is lost, and the resume covers it."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url, self.channel = url, channel
        self.origin = uuid.uuid4().hex
        self._fanout = LocalFanout()
        self._redis: aioredis.Redis | None = None
        self._task: asyncio.Task | None = None
        # publishes go out one after another on one connection: a burst (hundreds of pages opening at once) took a
        # connection each from redis-py's pool (at most 100) and the rest failed with "Too many connections"
        self._publishing = asyncio.Lock()

    async def start(self) -> None:
        # no silent retries inside redis-py: a lost connection surfaces here, so the resume is noticed
        self._redis = aioredis.from_url(self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=3)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.channel)
        self._task = asyncio.create_task(self._run(pubsub))

    async def _run(self, pubsub) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen(pubsub)
                raise ConnectionError('the subscription ended')
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis went away: reconnect until it answers
                log.warning('live events between processes: lost Redis (%s); reconnecting', e)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                try:
                    assert self._redis is not None
                    pubsub = self._redis.pubsub()
                    await pubsub.subscribe(self.channel)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - still away
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            delay = 0.5
            log.warning('live events between processes: Redis answers again; open pages re-read what they missed')
            await self._fanout.deliver(BusResumed())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._redis:
            await self._redis.aclose()

    async def publish(self, event: Event) -> None:
        published_at = time.time()
        metrics.events_published.labels(event.topic).inc()
        await self._fanout.deliver(event, published_at=published_at)
        if self._redis is not None:
            payload = json.dumps({'origin': self.origin, 'event': event.to_dict(), 'at': published_at})
            try:
                async with self._publishing:
                    await self._redis.publish(self.channel, payload)
            except Exception:
                log.exception('could not relay %r to other processes', event)

    async def ping(self) -> None:
        """Readiness: the Redis server answers and this process still listens to it."""
        if self._redis is None or self._task is None:
            raise ConnectionError('the Redis bus is not started')
        if self._task.done():
            raise ConnectionError('the Redis bus stopped listening')
        await self._redis.ping()

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
            at = data.get('at')
            await self._fanout.deliver(event, published_at=at if isinstance(at, (int, float)) else None,
                                       origin='remote')
