"""E-mail in: mailboxes, imported mails (UIDVALIDITY/UID), failed imports, organisations' mail domains.

Exactly once: a mail is identified in its mailbox by (UIDVALIDITY, UID) — ``imported_mails`` holds one row per UID
ever seen (``uq_imported_mail_uid``), written in the same transaction as the ticket change it caused. The same mail
delivered twice (another UID, or another mailbox) is recognised by ``dedupe_key`` (sha256 of its Message-ID, or of
its main headers when it has none); ``first_key`` carries the key only on the row that acted on it, unique, so two
copies can never both create a ticket (NULLs never clash).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow

__all__ = ['FailedImport', 'ImportedMail', 'Mailbox', 'OrganisationMailDomain']


class Mailbox(Base):
    """An IMAP mailbox an admin connected; its mails become tickets in ``queue_id``."""
    __tablename__ = 'mailboxes'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=993)
    security: Mapped[str] = mapped_column(String(10), default='tls')  # none, starttls, tls
    auth: Mapped[str] = mapped_column(String(10), default='password')  # password, xoauth2 (an access token)
    username: Mapped[str] = mapped_column(String(255))
    secret_encrypted: Mapped[str] = mapped_column(Text, default='')  # password or token, Fernet (storage secret)
    # XOAUTH2 with refreshing: the provider's token endpoint, the app's client id and (encrypted) secret, the
    # refresh token (encrypted) and when the access token in ``secret_encrypted`` expires
    oauth_token_url: Mapped[str] = mapped_column(String(500), default='')
    oauth_client_id: Mapped[str] = mapped_column(String(255), default='')
    oauth_client_secret_encrypted: Mapped[str] = mapped_column(Text, default='')
    oauth_refresh_encrypted: Mapped[str] = mapped_column(Text, default='')
    oauth_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    folder: Mapped[str] = mapped_column(String(255), default='INBOX')
    queue_id: Mapped[int | None] = mapped_column(ForeignKey('queues.id', ondelete='SET NULL'))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str] = mapped_column(Text, default='')
    last_checked: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(120))  # the process watching it (one at a time)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImportedMail(Base):
    """One mail seen in a mailbox, and what became of it (outcome: ticket, reply, duplicate, loop, flood, bounced)."""
    __tablename__ = 'imported_mails'
    __table_args__ = (UniqueConstraint('mailbox_id', 'uidvalidity', 'uid', name='uq_imported_mail_uid'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey('mailboxes.id', ondelete='CASCADE'), index=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(500), default='', index=True)  # replies to a mail we imported
    dedupe_key: Mapped[str] = mapped_column(String(64), index=True)
    first_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(254), default='', index=True)
    subject: Mapped[str] = mapped_column(String(400), default='')
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default='')
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey('tickets.id', ondelete='SET NULL'))
    event_id: Mapped[int | None] = mapped_column(ForeignKey('ticket_events.id', ondelete='SET NULL'))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class FailedImport(Base):
    """A mail that could not be imported: kept (raw, content-addressed like attachments) with its error, for an
    admin to retry or discard. ``status``: open, retried, discarded."""
    __tablename__ = 'failed_imports'
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey('mailboxes.id', ondelete='SET NULL'), index=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sender: Mapped[str] = mapped_column(String(254), default='')
    subject: Mapped[str] = mapped_column(String(400), default='')
    error: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default='open', index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)


class OrganisationMailDomain(Base):
    """An e-mail domain of a customer organisation: an unknown sender from it becomes a customer there."""
    __tablename__ = 'organisation_mail_domains'
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey('organisations.id', ondelete='CASCADE'), index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
