"""Escalation: rules, firings (once per ticket per clock cycle), the worker's schedule, outgoing webhooks (a durable
queue like the mail outbox)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, Ticket, utcnow

__all__ = ['PENDING_TARGET_INDEXES', 'EscalationFiring', 'EscalationRule', 'EscalationSchedule', 'WebhookDelivery',
           'WebhookEndpoint']


class EscalationRule(Base):
    """When (criterion + conditions) and what (actions) — see ``pulse_live/sla/escalation.py`` for the meaning."""
    __tablename__ = 'escalation_rules'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    criterion: Mapped[str] = mapped_column(String(30))  # target_share, breached, unassigned, no_update, reopened
    target: Mapped[str | None] = mapped_column(String(30))  # first_response, resolution, next_update
    share_percent: Mapped[int | None] = mapped_column(Integer)
    minutes: Mapped[int | None] = mapped_column(Integer)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # priority_ids, tiers, service_ids, queues
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    round_the_clock: Mapped[bool] = mapped_column(Boolean, default=False)  # fire outside business hours too
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EscalationFiring(Base):
    """A rule fired for a ticket in a clock cycle: the unique key makes a restart neither repeat nor miss one."""
    __tablename__ = 'escalation_firings'
    __table_args__ = (UniqueConstraint('rule_id', 'ticket_id', 'cycle', name='uq_escalation_firing'),
                      Index('ix_escalation_firings_ticket', 'ticket_id', 'cycle'),
                      Index('ix_escalation_firings_fired_at', 'fired_at'))
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey('escalation_rules.id', ondelete='CASCADE'))
    ticket_id: Mapped[int] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'))
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    due_at: Mapped[datetime] = mapped_column(DateTime)  # when the rule became due (may be before fired_at: catch-up)
    fired_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(Text, default='')  # what the actions did, or why one could not
    status: Mapped[str] = mapped_column(String(20), default='done')  # pending: follow-up actions not all done yet
    plan: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # the follow-up actions, with concrete targets


class EscalationSchedule(Base):
    """The next moment any rule may fire for an open ticket (the worker's index-backed "what is due now")."""
    __tablename__ = 'escalation_schedule'
    ticket_id: Mapped[int] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'), primary_key=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)


class WebhookEndpoint(Base):
    """Where an escalation's webhook action posts (signed with its secret)."""
    __tablename__ = 'webhook_endpoints'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebhookDelivery(Base):
    """One signed POST waiting to be sent (written in the transaction of the change that causes it)."""
    __tablename__ = 'webhook_deliveries'
    __table_args__ = (Index('ix_webhook_deliveries_status_next', 'status', 'next_attempt_at'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey('webhook_endpoints.id', ondelete='CASCADE'), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey('tickets.id', ondelete='SET NULL'))
    event: Mapped[str] = mapped_column(String(60), default='escalation')
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default='pending')  # pending, sent, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's HTTP status code (never its body)
    last_error: Mapped[str] = mapped_column(Text, default='')
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)


# The escalation worker's round reads the SLA clock's pending targets that are due (breach candidates, the next due
# time) every time it wakes. The (status, due) indexes also hold every target already met or breached, so at scale
# those reads walked past tens of thousands of decided rows; with the flag first (IS NULL is an equality for the
# index) they read only the pending ones, in due order.
PENDING_TARGET_INDEXES = (
    Index('ix_tickets_first_response_pending', Ticket.first_response_breached, Ticket.first_response_due_at),
    Index('ix_tickets_resolution_pending', Ticket.resolution_breached, Ticket.resolution_due_at),
    Index('ix_tickets_next_update_pending', Ticket.next_update_breached, Ticket.next_update_due_at),
)
