"""Error reports from applications: reporting sources (DSN keys) and grouped events."""
from __future__ import annotations

from .core import Base, utcnow  # noqa: F401

__all__: list[str] = []
