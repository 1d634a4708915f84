"""Service levels: business calendars, SLA policies (the clock columns live on Ticket)."""
from __future__ import annotations

from .core import Base, utcnow  # noqa: F401

__all__: list[str] = []
