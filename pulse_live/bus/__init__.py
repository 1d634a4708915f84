"""Bus backends: in-process memory (default) and Redis pub/sub (several app processes)."""
from __future__ import annotations

from ..events import Bus
from .memory import MemoryBus

_bus: Bus = MemoryBus()


def get_bus() -> Bus:
    return _bus


def set_bus(bus: Bus) -> None:
    global _bus  # noqa: PLW0603
    _bus = bus


def make_bus(url: str, channel: str = 'pulse-live:events') -> Bus:
    if not url:
        return MemoryBus()
    if url.startswith(('redis://', 'rediss://')):
        from .redis import RedisBus
        return RedisBus(url, channel)
    raise ValueError(f'unsupported bus URL: {url!r} (use redis://… or leave empty)')
