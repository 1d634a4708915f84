"""The data model: SQLAlchemy 2 typed models.

Times are naive UTC everywhere (SQLite keeps no zone); ``utcnow()`` makes them.
The chatter and the history are one table, ``TicketEvent``: every message, note, attachment post,
field change and team change of a ticket is one row there.
"""
from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

MAX_ROW_ID = 2**31 - 1
"""The largest id a row can have: ids are INTEGER columns, 32 bits on PostgreSQL, which refuses a larger number for
the whole query (URLs and saved views take ids up to it and no further)."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[dict[str, Any]]: JSON}


class Role(enum.StrEnum):
    CUSTOMER = 'customer'
    AGENT = 'agent'
    MANAGER = 'manager'
    ADMIN = 'admin'


STAFF_ROLES = frozenset({Role.AGENT, Role.MANAGER, Role.ADMIN})


class Status(enum.StrEnum):
    OPEN = 'open'
    IN_PROGRESS = 'in_progress'
    RESOLVED = 'resolved'
    CLOSED = 'closed'
    WAITING = 'waiting'  # waiting for the customer: staff set it, a customer's public reply clears it; the SLA pauses

    @property
    def label(self) -> str:
        if self is Status.WAITING:
            return 'Waiting for customer'
        return self.value.replace('_', ' ').capitalize()


# the statuses of a ticket that is still being worked on (the SLA clock runs in OPEN and IN_PROGRESS only)
ACTIVE_STATUSES = (Status.OPEN.value, Status.IN_PROGRESS.value, Status.WAITING.value)
CLOCK_RUNNING = (Status.OPEN.value, Status.IN_PROGRESS.value)


class Channel(enum.StrEnum):
    PORTAL = 'portal'
    PHONE = 'phone'
    EMAIL = 'email'
    WALK_IN = 'walk_in'
    CHAT = 'chat'
    API = 'api'
    ERROR_REPORT = 'error_report'
    AGENT = 'agent'

    @property
    def label(self) -> str:
        return self.value.replace('_', '-').capitalize()


class EventKind(enum.StrEnum):
    CREATED = 'created'
    MESSAGE = 'message'          # public reply or internal note (is_internal), may carry attachments
    FIELD_CHANGE = 'field_change'
    TEAM_ADDED = 'team_added'
    TEAM_REMOVED = 'team_removed'
    TEAM_WATCH = 'team_watch'
    CALL = 'call'                # a logged telephone call (data: direction, duration), staff only


class Organisation(Base):
    __tablename__ = 'organisations'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    is_provider: Mapped[bool] = mapped_column(Boolean, default=False)
    tier: Mapped[str] = mapped_column(String(40), default='standard')
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = 'users'
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey('organisations.id'), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str | None] = mapped_column(String(60), unique=True)
    phone: Mapped[str] = mapped_column(String(60), default='')  # international format, for people (contact.py)
    # the same number in E.164 (+41315550101), what numbers are compared and searched by; '' when none or when an
    # old number saved before numbers were checked does not parse (then ``phone`` is kept as typed)
    phone_e164: Mapped[str] = mapped_column(String(20), default='', server_default='', index=True)
    location: Mapped[str] = mapped_column(String(200), default='')
    department: Mapped[str] = mapped_column(String(200), default='')
    card_published: Mapped[bool] = mapped_column(Boolean, default=False)
    # an organisation admin sees the organisation's requests
    is_org_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_delay_s: Mapped[int] = mapped_column(Integer, default=300)  # unread in-app → mail after this, if offline
    # managers and admins choose what they hear beyond their own tickets: mine, queues (all changes in their
    # queues), all
    notify_scope: Mapped[str] = mapped_column(String(20), default='mine', server_default='mine')
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # counted up when the account is deactivated, reactivated or given another sign-in address: part of
    # ``auth.password_stamp``, so the sessions and password links made before end with it (0: never; the stamp of
    # an account at 0 is what it was before this column, so no session ended when it came)
    access_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default='0')

    organisation: Mapped[Organisation] = relationship(lazy='joined')

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class Service(Base):
    __tablename__ = 'services'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default='')
    criticality: Mapped[str] = mapped_column(String(20), default='normal')
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Queue(Base):
    __tablename__ = 'queues'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default='')
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class TicketType(Base):
    __tablename__ = 'ticket_types'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class PriorityScale(Base):
    """A set of priorities; exactly one scale is active for new tickets."""
    __tablename__ = 'priority_scales'
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)


class Priority(Base):
    __tablename__ = 'priorities'
    __table_args__ = (UniqueConstraint('scale_id', 'name'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scale_id: Mapped[int] = mapped_column(ForeignKey('priority_scales.id'))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(300), default='')
    rank: Mapped[int] = mapped_column(Integer)  # 1 = most urgent
    color: Mapped[str] = mapped_column(String(20), default='grey')
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class ResolutionCode(Base):
    __tablename__ = 'resolution_codes'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReferenceCounter(Base):
    """The last reference number handed out per prefix and year (gap-free: bumped in the ticket's transaction)."""
    __tablename__ = 'reference_counters'
    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    __tablename__ = 'tickets'
    __table_args__ = (
        Index('ix_tickets_status_priority', 'status', 'priority_id'),
        Index('ix_tickets_queue_status', 'queue_id', 'status'),
        Index('ix_tickets_assignee_status', 'assignee_id', 'status'),
        Index('ix_tickets_org_created', 'organisation_id', 'created_at'),
        # a customer's tickets: the directory's open counts per listed customer, the profile (queries/customers.py)
        Index('ix_tickets_customer_status', 'customer_id', 'status'),
        # what a customer opened for somebody else: their profile and portal read "customer or creator" (OR)
        Index('ix_tickets_creator', 'creator_id'),
        # work lists and dashboard (queries/queues.py, queries/dashboard.py; plans in docs/QUERY_PLANS.md)
        Index('ix_tickets_work', 'status', 'queue_id', 'assignee_id', 'priority_id', 'created_at'),
        Index('ix_tickets_resolved_at', 'resolved_at'),
        # the SLA clock (services/sla.py, the escalation worker): "what is due next"
        Index('ix_tickets_status_first_response_due', 'status', 'first_response_due_at'),
        Index('ix_tickets_status_resolution_due', 'status', 'resolution_due_at'),
        Index('ix_tickets_status_next_update_due', 'status', 'next_update_due_at'),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default='')
    type_id: Mapped[int] = mapped_column(ForeignKey('ticket_types.id'))
    priority_id: Mapped[int] = mapped_column(ForeignKey('priorities.id'))
    status: Mapped[str] = mapped_column(String(20), default=Status.OPEN)
    channel: Mapped[str] = mapped_column(String(20), default=Channel.AGENT)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey('users.id'))
    organisation_id: Mapped[int] = mapped_column(ForeignKey('organisations.id'))
    service_id: Mapped[int | None] = mapped_column(ForeignKey('services.id'))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey('queues.id'))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey('users.id'))
    creator_id: Mapped[int] = mapped_column(ForeignKey('users.id'))
    affected_components: Mapped[str] = mapped_column(Text, default='')
    technical_details: Mapped[str] = mapped_column(Text, default='')
    attempted_solutions: Mapped[str] = mapped_column(Text, default='')
    workaround: Mapped[str] = mapped_column(Text, default='')
    resolution_code_id: Mapped[int | None] = mapped_column(ForeignKey('resolution_codes.id'))
    resolution_text: Mapped[str] = mapped_column(Text, default='')
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # automatic prioritisation (services/prioritisation.py): its inputs, its explanation, and an agent's override
    impact: Mapped[str] = mapped_column(String(10), default='medium', server_default='medium')
    urgency: Mapped[str] = mapped_column(String(10), default='medium', server_default='medium')
    priority_reason: Mapped[str] = mapped_column(String(300), default='', server_default='')
    priority_overridden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the SLA clock (services/sla.py; naive UTC; docs/ARCHITECTURE.md "The clock"): the policy that applies, the due
    # times, business seconds paused (waiting for the customer, resolved) since creation, the pause running now,
    # the clock cycle (+1 on every reopen), met (False) / breached (True) / pending (None), the escalation level
    sla_policy_id: Mapped[int | None] = mapped_column(ForeignKey('sla_policies.id', ondelete='SET NULL'))
    first_response_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    next_update_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    sla_paused_since: Mapped[datetime | None] = mapped_column(DateTime)
    sla_paused_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default='0')
    sla_cycle: Mapped[int] = mapped_column(Integer, default=1, server_default='1')
    first_response_breached: Mapped[bool | None] = mapped_column(Boolean)
    resolution_breached: Mapped[bool | None] = mapped_column(Boolean)
    # "update every N": None while no interval has ended this cycle, False every ended one met, True one was late
    next_update_breached: Mapped[bool | None] = mapped_column(Boolean)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default='0')


class TicketEvent(Base):
    """One entry of a ticket's chatter and history (who, what, when, old → new)."""
    __tablename__ = 'ticket_events'
    __table_args__ = (Index('ix_ticket_events_ticket_id_id', 'ticket_id', 'id'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'))
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey('users.id'))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    body: Mapped[str] = mapped_column(Text, default='')
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    field: Mapped[str | None] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class EventMention(Base):
    """A mention in a chatter message: a user (``@handle``) or the whole team (``@Team``)."""
    __tablename__ = 'event_mentions'
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey('ticket_events.id', ondelete='CASCADE'), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey('users.id'))
    is_team: Mapped[bool] = mapped_column(Boolean, default=False)


class Attachment(Base):
    __tablename__ = 'attachments'
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey('ticket_events.id', ondelete='CASCADE'), index=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey('users.id'))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    # a customer's files of the last day (services/upload_quota.py)
    __table_args__ = (Index('ix_attachments_uploader_created', 'uploader_id', 'created_at'),)


class TeamMember(Base):
    """A watcher of a ticket: a user, or a whole organisation's support group (the provider)."""
    __tablename__ = 'team_members'
    __table_args__ = (UniqueConstraint('ticket_id', 'user_id'), UniqueConstraint('ticket_id', 'organisation_id'))
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey('users.id'))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey('organisations.id'))
    watching: Mapped[bool] = mapped_column(Boolean, default=True)
    added_how: Mapped[str] = mapped_column(String(20), default='manual')  # creator, support_group, manual
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey('users.id'))
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Notification(Base):
    """An in-app notification for one user."""
    __tablename__ = 'notifications'
    __table_args__ = (Index('ix_notifications_user_read', 'user_id', 'read_at'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey('users.id', ondelete='CASCADE'))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'))
    event_id: Mapped[int | None] = mapped_column(ForeignKey('ticket_events.id', ondelete='CASCADE'))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    mailed_at: Mapped[datetime | None] = mapped_column(DateTime)


class MailOutbox(Base):
    """A mail waiting to be sent (written in the transaction of the change that causes it)."""
    __tablename__ = 'mail_outbox'
    __table_args__ = (Index('ix_mail_outbox_status_next', 'status', 'next_attempt_at'),
                      # the planner's "open mail of these recipients" (notify/planner._open_mail): with batch_key
                      # alone SQLite chose the status index and read every pending mail (a backlog: thousands)
                      Index('ix_mail_outbox_batch_status', 'batch_key', 'status'))
    id: Mapped[int] = mapped_column(primary_key=True)
    to_addr: Mapped[str] = mapped_column(String(254))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey('users.id'))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey('tickets.id', ondelete='SET NULL'))
    subject: Mapped[str] = mapped_column(String(400))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default='')
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    references: Mapped[str] = mapped_column(Text, default='')
    kind: Mapped[str] = mapped_column(String(20), default='update')  # update, resolved, closed, missed
    batch_key: Mapped[str | None] = mapped_column(String(80))  # one open mail per recipient+ticket
    items: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # the changes combined in this mail
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)  # claimed by a sender worker
    status: Mapped[str] = mapped_column(String(20), default='pending')  # pending, sent, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default='')
    # why it last failed: outage (no server, connection lost), refused (the server said no), compose; '' sent/new
    last_failure: Mapped[str] = mapped_column(String(20), default='', server_default='')
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)


class LoginFailure(Base):
    """One failed login, counted per account (``acct:<email>``) and per client address (``addr:<ip>``).

    In the database rather than in memory, so every app process shares the same budget."""
    __tablename__ = 'login_failures'
    __table_args__ = (Index('ix_login_failures_key_at', 'key', 'at'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
