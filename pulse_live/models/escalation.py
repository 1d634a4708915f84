"""Escalation: rules, firings (once per ticket per clock cycle), outgoing webhooks (a durable queue)."""
from __future__ import annotations

from .core import Base, utcnow  # noqa: F401

__all__: list[str] = []
