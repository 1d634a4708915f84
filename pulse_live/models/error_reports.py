"""Error reports from applications: reporting sources (DSN keys) and grouped events.

An ``ErrorSource`` is one application reporting with the Sentry SDK's protocol: its DSN names the public key and
the source id. It is tied to a service, a customer organisation and a queue (where its tickets go) and, optionally,
to a contact at that organisation (the tickets' customer). Each source acts through its own account (``user_id``:
an agent account that is never active, so nobody can sign in with it) — the tickets' creator and the author of
their history rows.

Events with the same fingerprint form one ``ErrorGroup``: one ticket, a counter, first and last seen and the
latest event's context (bounded: ``services/error_reports.py`` trims it). A flood over the source's rate limit is
counted on the source (``rate_limited``) and not stored.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow


class ErrorSource(Base):
    __tablename__ = 'error_sources'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(64), unique=True)  # the DSN's user part (not a secret to SDKs)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)   # revoked: False (kept, never deleted)
    service_id: Mapped[int | None] = mapped_column(ForeignKey('services.id'))
    organisation_id: Mapped[int] = mapped_column(ForeignKey('organisations.id'))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey('queues.id', ondelete='SET NULL'))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))  # tickets' customer
    user_id: Mapped[int] = mapped_column(ForeignKey('users.id'))     # the source's own (never active) account
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=600)
    rate_limited: Mapped[int] = mapped_column(BigInteger, default=0)  # events refused over the rate limit
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class ErrorGroup(Base):
    """All events of one source with one fingerprint: one ticket."""
    __tablename__ = 'error_groups'
    __table_args__ = (UniqueConstraint('source_id', 'fingerprint', name='uq_error_groups_source_fingerprint'),
                      Index('ix_error_groups_source_last_seen', 'source_id', 'last_seen'))
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey('error_sources.id', ondelete='CASCADE'))
    fingerprint: Mapped[str] = mapped_column(String(64))             # sha256 hex of the grouping components
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey('tickets.id', ondelete='SET NULL'), index=True)
    title: Mapped[str] = mapped_column(String(300))                  # exception type: value (or the message)
    culprit: Mapped[str] = mapped_column(String(300), default='')    # the innermost in-app frame
    count: Mapped[int] = mapped_column(BigInteger, default=1)
    first_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_event: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # bounded context of the latest event
    regressions: Mapped[int] = mapped_column(Integer, default=0)
    last_regression_at: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)    # the ticket is being made (crash recovery)
    grouping: Mapped[str] = mapped_column(Text, default='')          # what the fingerprint was made of (readable)


__all__ = ['ErrorGroup', 'ErrorSource']
