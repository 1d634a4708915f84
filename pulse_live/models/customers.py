"""What the service desk knows about its customers beyond the account: their configuration items.

A configuration item (CI) is a piece of hardware (laptop, printer, phone: model, serial number, operating system)
or software (application, licence: version) that belongs to a customer organisation and usually to one person
in it. Agents see a caller's items at once when identifying them (new-ticket form, customer profile).
A ticket names the items it affects (``TicketItem``: agents link them on the ticket page).
Organisations, users and services live in ``core.py``.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow


class ItemKind(enum.StrEnum):
    HARDWARE = 'hardware'
    SOFTWARE = 'software'

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ConfigurationItem(Base):
    __tablename__ = 'configuration_items'
    __table_args__ = (Index('ix_configuration_items_user_active', 'user_id', 'is_active'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey('organisations.id', ondelete='CASCADE'), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))  # who uses it
    kind: Mapped[str] = mapped_column(String(20), default=ItemKind.HARDWARE)
    name: Mapped[str] = mapped_column(String(200))                       # e.g. "Laptop CPH-0231", "ERP client"
    model: Mapped[str] = mapped_column(String(200), default='')          # hardware model / software product
    serial_number: Mapped[str] = mapped_column(String(120), default='', index=True)
    operating_system: Mapped[str] = mapped_column(String(120), default='')
    version: Mapped[str] = mapped_column(String(60), default='')         # software version
    installed_software: Mapped[str] = mapped_column(Text, default='')    # one per line
    notes: Mapped[str] = mapped_column(Text, default='')
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)       # retired items are kept, never deleted
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TicketItem(Base):
    """A configuration item affected by a ticket (linked by an agent; the link and its removal are history rows)."""
    __tablename__ = 'ticket_items'
    __table_args__ = (UniqueConstraint('ticket_id', 'item_id'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey('configuration_items.id', ondelete='CASCADE'), index=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


__all__ = ['ConfigurationItem', 'ItemKind', 'TicketItem']
