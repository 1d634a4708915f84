"""Saved views: a work list's filters saved under a name (``pages/work.py``'s ticket list filters, as in its address).

Personal (``queue_id`` None: only the owner lists it) or shared with a queue's members (every member of that queue,
and managers/admins, list it; only its owner, a manager or an admin changes it). The navigation shows each view
with its live count (``queries/saved_views.py``). Writes go through ``services/saved_views.py``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow


class SavedView(Base):
    __tablename__ = 'saved_views'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    owner_id: Mapped[int] = mapped_column(ForeignKey('users.id', ondelete='CASCADE'), index=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey('queues.id', ondelete='CASCADE'), index=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


__all__ = ['SavedView']
