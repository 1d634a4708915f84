"""Service levels: business calendars and SLA policies (the clock's columns live on ``Ticket``, models/core.py).

A calendar's ``definition`` is ``sla.calendar.Calendar.to_dict()``; a policy's ``conditions`` is
``{priority_ids, type_ids, tiers, service_ids, queue_ids, channels}`` (each a list; empty or missing = any), checked
by ``sla.policy.check_conditions``. Policies are tried by ``position`` (then id); the first active one whose
conditions all match a ticket applies (``sla.policy.first_match``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow

__all__ = ['BusinessCalendar', 'SlaClockJob', 'SlaPolicy']


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


class SlaClockJob(Base):
    """Pending work on the clocks of many tickets, done by the escalation worker in batches (``services/sla.py``
    ``run_clock_jobs``) so an admin's save returns at once; the durable marker that makes it resumable.

    ``kind``: ``recompute`` (a policy, calendar or tier changed: every open ticket, or one organisation's) or
    ``upgrade`` (open tickets from before the clock existed get due times counted from ``anchor_at``, once).
    ``after_id`` is the last ticket id done (committed with each batch); ``finished_at`` set when done."""
    __tablename__ = 'sla_clock_jobs'
    __table_args__ = (Index('ix_sla_clock_jobs_finished', 'finished_at', 'id'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300), default='')
    anchor_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    after_id: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
