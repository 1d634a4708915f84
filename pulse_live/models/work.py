"""Work management as data: queue members, routing rules, prioritisation rules and the admin audit log.

Routing rules are tried in ``position`` order when a ticket is created; the first rule whose every set condition
matches puts the ticket into its queue (no match: the default queue). Prioritisation rules give a *level*
1 (most urgent) … 5 (least): the impact × urgency matrix sets the base level, the other rules move it (``raise_by``
steps, positive = more urgent) or cap it (``at_least``: at least this urgent). The level picks the active scale's
priority with that rank (a scale with fewer priorities folds the lower levels into its last one).
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow


class Level(enum.StrEnum):
    """Impact and urgency of a ticket."""
    HIGH = 'high'
    MEDIUM = 'medium'
    LOW = 'low'

    @property
    def label(self) -> str:
        return self.value.capitalize()


class RuleKind(enum.StrEnum):
    MATRIX = 'matrix'            # impact × urgency → base level
    TIER = 'tier'                # the customer organisation's tier (e.g. gold)
    CRITICALITY = 'criticality'  # the service's criticality (e.g. critical)
    TYPE = 'type'                # the ticket type (match = type id)
    KEYWORD = 'keyword'          # a word or phrase in title or description

    @property
    def label(self) -> str:
        return {'matrix': 'Impact × urgency', 'tier': 'Customer tier', 'criticality': 'Service criticality',
                'type': 'Type', 'keyword': 'Keyword'}[self.value]


class QueueMember(Base):
    """An agent who works a queue (sees its line first; may take its tickets)."""
    __tablename__ = 'queue_members'
    __table_args__ = (UniqueConstraint('queue_id', 'user_id'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey('queues.id', ondelete='CASCADE'))
    user_id: Mapped[int] = mapped_column(ForeignKey('users.id', ondelete='CASCADE'), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RoutingRule(Base):
    """Put new tickets that match every set condition into ``queue_id``; tried in ``position`` order."""
    __tablename__ = 'routing_rules'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey('queues.id', ondelete='CASCADE'))
    type_id: Mapped[int | None] = mapped_column(ForeignKey('ticket_types.id', ondelete='CASCADE'))
    service_id: Mapped[int | None] = mapped_column(ForeignKey('services.id', ondelete='CASCADE'))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey('organisations.id', ondelete='CASCADE'))
    channel: Mapped[str | None] = mapped_column(String(20))
    keywords: Mapped[str] = mapped_column(Text, default='')  # comma-separated; any one in title/description
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PriorityRule(Base):
    """One prioritisation rule (see the module docstring)."""
    __tablename__ = 'priority_rules'
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    impact: Mapped[str | None] = mapped_column(String(10))   # matrix only
    urgency: Mapped[str | None] = mapped_column(String(10))  # matrix only
    match: Mapped[str] = mapped_column(String(200), default='')  # tier / criticality / type id / keyword
    level: Mapped[int | None] = mapped_column(Integer)       # matrix: the base level; others: at least this urgent
    raise_by: Mapped[int] = mapped_column(Integer, default=0)  # others: steps more urgent (negative: less)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditLog(Base):
    """Who changed which configuration (queues, members, rules), when, and how (before → after)."""
    __tablename__ = 'audit_log'
    __table_args__ = (Index('ix_audit_log_entity', 'entity', 'entity_id'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    entity: Mapped[str] = mapped_column(String(40))  # queue, queue_member, routing_rule, priority_rule
    entity_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))  # create, update, delete, move
    summary: Mapped[str] = mapped_column(Text, default='')
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
