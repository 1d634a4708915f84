"""Rate limits that hold across the app's processes: the API's per token and per address, the error ingest's per
source.

A token bucket per key: ``rate`` units a minute, a burst of as many, refilled continuously. Where the bucket lives:

- **Redis** when the installation has one (``PULSE_BUS_URL=redis://…``: every installation with several processes
  has it, as the live events need it): one hash per key, changed only by one Lua script, so two processes never
  both take the last unit. A process takes units in leases of up to 1 % of the rate (at least one): a flood costs
  one round trip per lease, not per request. A lease is taken from the shared bucket, so the processes together
  never pass the limit; units a process leased and did not use within ``LEASE_S`` are dropped (at most one lease per
  key and process).
- **In this process** otherwise (SQLite, or one process on PostgreSQL): the same bucket in memory.

If Redis does not answer, the limit is kept in this process (logged once) until it answers again: a limit that
fails open per process is better than an API that fails.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from typing import Any

log = logging.getLogger(__name__)
LEASE_S = 1.0
KEY_TTL_S = 120  # a bucket left alone for a minute is full again: its key may go
MAX_KEYS = 10_000

# KEYS[1] the bucket; ARGV: rate per minute, units wanted, key TTL → {units granted, seconds until one unit is there}
TAKE = """
local rate = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or rate
local ts = tonumber(state[2]) or now
tokens = math.min(rate, tokens + math.max(0, now - ts) * rate / 60)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
local wait = 0
if tokens < 1 then wait = (1 - tokens) * 60 / rate end
return {granted, tostring(wait)}
"""


class MemoryBuckets:
    """The buckets in this process (the ``max_keys`` used last are kept: unknown keys cannot grow it without end)."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, last refill)

    def take(self, key: str, rate: int, want: int, now: float | None = None) -> tuple[int, float]:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (float(rate), now))
        tokens = min(float(rate), tokens + max(0.0, now - last) * rate / 60.0)
        granted = min(want, math.floor(tokens))
        tokens -= granted
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return granted, (0.0 if tokens >= 1.0 else (1.0 - tokens) * 60.0 / rate)

    def clear(self) -> None:
        self._buckets.clear()


class Limiter:
    """``await limiter.take(key, rate)`` → 0 if one unit was taken, else the seconds until one is there;
    ``take_up_to(key, rate, n)`` → (units taken, seconds until the next) for a request carrying several;
    ``wait(key, rate)`` → the seconds until one is there, taking nothing."""

    def __init__(self, redis_url: str = '', prefix: str = 'pulse-live') -> None:
        self.redis_url, self.prefix = redis_url, prefix
        self.memory = MemoryBuckets()
        self._redis: Any = None
        self._script: Any = None
        self._loop: Any = None  # the client belongs to the event loop it was made in
        self._leases: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key → (units held, taken at)
        self._redis_failed_at = 0.0

    @property
    def shared(self) -> bool:
        return bool(self.redis_url)

    async def take(self, key: str, rate: int) -> float:
        granted, wait = await self.take_up_to(key, rate, 1)
        return 0.0 if granted else max(wait, 1e-3)

    async def wait(self, key: str, rate: int) -> float:
        held, _ = self._leases.get(key, (0, 0.0))
        if held:
            return 0.0
        _, wait = await self._take(key, rate, 0)
        return wait

    async def take_up_to(self, key: str, rate: int, n: int) -> tuple[int, float]:
        if n <= 0:
            return 0, 0.0
        now = time.monotonic()
        held, taken_at = self._leases.pop(key, (0, now))
        if now - taken_at > LEASE_S:
            held = 0  # a stale lease is dropped: those units were the bucket's a second ago
        wait = 0.0
        if held < n:
            lease = max(1, rate // 100) if self.shared else 1
            granted, wait = await self._take(key, rate, max(n - held, lease) if self.shared else n - held)
            if granted:
                held, taken_at = held + granted, now
        used = min(n, held)
        held -= used
        if held:
            self._leases[key] = (held, taken_at)
            while len(self._leases) > MAX_KEYS:
                self._leases.popitem(last=False)
        return used, (0.0 if used == n else wait)

    async def _take(self, key: str, rate: int, want: int) -> tuple[int, float]:
        if self.redis_url and time.monotonic() - self._redis_failed_at > 5.0:
            try:
                loop = asyncio.get_running_loop()
                if self._script is None or self._loop is not loop:
                    from redis import asyncio as aioredis
                    self._loop = loop
                    self._redis = aioredis.from_url(self.redis_url)
                    self._script = self._redis.register_script(TAKE)
                granted, wait = await self._script(keys=[f'{self.prefix}:rate:{key}'], args=[rate, want, KEY_TTL_S])
                return int(granted), float(wait)
            except Exception as e:  # Redis away: keep the limit in this process meanwhile
                if not self._redis_failed_at:
                    log.warning('rate limits kept per process: Redis at %s does not answer (%s)', self.redis_url, e)
                self._redis_failed_at = time.monotonic()
        return self.memory.take(key, rate, want)

    def clear(self) -> None:
        """Forget this process's buckets and leases (tests; the shared buckets expire by themselves)."""
        self.memory.clear()
        self._leases.clear()

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        self._redis = self._script = None


_limiter: Limiter | None = None
_configured: tuple[str, str] | None = None


def get_limiter() -> Limiter:
    """The process's limiter, for the installation's settings (Redis when ``PULSE_BUS_URL`` is one)."""
    global _limiter, _configured  # noqa: PLW0603
    from .config import get_settings
    settings = get_settings()
    url = settings.bus_url if settings.bus_url.startswith(('redis://', 'rediss://')) else ''
    wanted = (url, settings.bus_channel)
    if _limiter is None or _configured != wanted:
        _limiter, _configured = Limiter(url, prefix=settings.bus_channel), wanted
    return _limiter
