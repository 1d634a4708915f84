"""Service levels: business calendars and SLA policies (the clock's columns live on ``Ticket``, models/core.py).

A calendar's ``definition`` is ``sla.calendar.Calendar.to_dict()``; a policy's ``conditions`` is
``{priority_ids, type_ids, tiers, service_ids, queue_ids, channels}`` (each a list; empty or missing = any), checked
by ``sla.policy.check_conditions``. Policies are tried by ``position`` (then id); the first active one whose
conditions all match a ticket applies (``sla.policy.first_match``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow

__all__ = ['BusinessCalendar', 'SlaPolicy']


class BusinessCalendar(Base):
    __tablename__ = 'business_calendars'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SlaPolicy(Base):
    __tablename__ = 'sla_policies'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON)
    calendar_id: Mapped[int] = mapped_column(ForeignKey('business_calendars.id'))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    update_minutes: Mapped[int | None] = mapped_column(Integer)  # "update every N" (the most urgent only)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
