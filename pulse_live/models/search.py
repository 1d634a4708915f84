"""The search index's documents: one row per searchable thing (a ticket, a chatter message, an article, a customer,
an organisation), kept in the same transaction as the write that changed it (``pulse_live/search/index.py``).

The engine's own index lives beside this table and is made by ``pulse_live/search/schema.py``: on SQLite an FTS5
table over these rows (kept by triggers), on PostgreSQL a ``tsv`` tsvector column (set by a trigger) with GIN
indexes. A document is written again (a new ``id``) whenever its source changes, so ``id`` order is the order of
last change: "recent above old" reads the index backwards.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow


class SearchDocument(Base):
    __tablename__ = 'search_documents'
    __table_args__ = (UniqueConstraint('kind', 'object_id', name='uq_search_documents_kind_object'),
                      Index('ix_search_documents_kind_id', 'kind', 'id'))
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))           # ticket, message, article, customer, organisation
    object_id: Mapped[int] = mapped_column(Integer)         # the row it stands for (ticket_events.id for a message)
    # the ticket of a ticket or message document: who may find it is who may see the ticket (auth.visible_tickets)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'), index=True)
    title: Mapped[str] = mapped_column(Text, default='')       # ranks above the rest
    body: Mapped[str] = mapped_column(Text, default='')        # what its readers see
    staff_text: Mapped[str] = mapped_column(Text, default='')  # what only staff see (a ticket's technical details)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


__all__ = ['SearchDocument']


@event.listens_for(SearchDocument.__table__, 'after_create')
def _create_engine_index(_table, connection, **_kw) -> None:
    """``create_all`` (tests, a fresh database) makes the engine's index too; migrations call the same function."""
    from ..search import schema
    schema.create(connection)


@event.listens_for(SearchDocument.__table__, 'before_drop')
def _drop_engine_index(_table, connection, **_kw) -> None:
    from ..search import schema
    schema.drop(connection)
