"""E-mail in: mailboxes, imported mails (UIDVALIDITY/UID), failed imports."""
from __future__ import annotations

from .core import Base, utcnow  # noqa: F401

__all__: list[str] = []
