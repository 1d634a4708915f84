"""API tokens (personal, scoped, expiring, revocable; only a hash is stored)."""
from __future__ import annotations

from .core import Base, utcnow  # noqa: F401

__all__: list[str] = []
