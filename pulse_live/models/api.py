"""API tokens (personal, scoped, expiring, revocable; only a hash is stored).

A token is ``plk_<prefix>_<secret>``: the prefix (public, shown in lists so a person can tell their tokens apart)
and a high-entropy secret. Only the sha256 of the whole token is stored (``token_hash``); the token itself is shown
once, when it is made (``services/api_tokens.py``)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow


class TokenScope(enum.StrEnum):
    READ = 'read'    # GET only
    WRITE = 'write'  # everything the person may do in the UI

    @property
    def label(self) -> str:
        return {'read': 'Read only', 'write': 'Read and write'}[self.value]


class ApiToken(Base):
    __tablename__ = 'api_tokens'
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey('users.id', ondelete='CASCADE'), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(10), default=TokenScope.READ)
    prefix: Mapped[str] = mapped_column(String(20))  # shown in lists; part of the token
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the whole token
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)  # None: never
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))


__all__ = ['ApiToken', 'TokenScope']
