"""Knowledge base: articles in a category tree, their version history, links to tickets, readers' feedback.

An article is markdown (``pulse_live/markdown.py`` renders it, raw HTML off) with a title, a category, tags, a related
service, a visibility (``public``: customers and, when the help centre is open, visitors; ``internal``: staff only)
and a status (``draft``: staff only; ``published``). ``version`` is the compare-and-set counter of the conflict rule
(the same as tickets: a save names the version it edited, a stale one is refused). Every save that changes the title
or the body keeps the previous text as an ``ArticleVersion`` (history with a diff). ``helpful_yes``/``helpful_no``
count "Did this help?", ``deflections`` the portal requests a suggested article ended without a ticket; each reader
(session) counts once per article (``ArticleFeedback``). All writes go through ``services/kb.py``.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .core import Base, utcnow


class ArticleVisibility(enum.StrEnum):
    PUBLIC = 'public'
    INTERNAL = 'internal'

    @property
    def label(self) -> str:
        return {'public': 'Public', 'internal': 'Internal (staff only)'}[self.value]


class ArticleStatus(enum.StrEnum):
    DRAFT = 'draft'
    PUBLISHED = 'published'

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ArticleCategory(Base):
    """A node of the category tree (``parent_id`` None: a top-level category); siblings ordered by ``position``."""
    __tablename__ = 'kb_categories'
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey('kb_categories.id', ondelete='RESTRICT'), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Article(Base):
    __tablename__ = 'kb_articles'
    __table_args__ = (Index('ix_kb_articles_status_visibility', 'status', 'visibility', 'updated_at'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default='')                  # markdown
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey('kb_categories.id', ondelete='SET NULL'), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    service_id: Mapped[int | None] = mapped_column(ForeignKey('services.id', ondelete='SET NULL'), index=True)
    visibility: Mapped[str] = mapped_column(String(10), default=ArticleVisibility.INTERNAL)
    status: Mapped[str] = mapped_column(String(10), default=ArticleStatus.DRAFT)
    author_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    helpful_yes: Mapped[int] = mapped_column(Integer, default=0)
    helpful_no: Mapped[int] = mapped_column(Integer, default=0)
    deflections: Mapped[int] = mapped_column(Integer, default=0)


class ArticleVersion(Base):
    """The title and body of an article as saved at ``version`` (one row per save that changed either)."""
    __tablename__ = 'kb_article_versions'
    __table_args__ = (UniqueConstraint('article_id', 'version'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey('kb_articles.id', ondelete='CASCADE'), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default='')
    author_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # lines added and removed against the version before, counted when saved (None: saved before they were counted)
    lines_added: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lines_removed: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ArticleTicketLink(Base):
    """A ticket an article was made from or linked to (shown on the article, agents only)."""
    __tablename__ = 'kb_article_tickets'
    __table_args__ = (UniqueConstraint('article_id', 'ticket_id'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey('kb_articles.id', ondelete='CASCADE'), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey('tickets.id', ondelete='CASCADE'), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ArticleAttachment(Base):
    """An image or file of an article (content-addressed in ``storage``; same limits as ticket uploads)."""
    __tablename__ = 'kb_article_attachments'
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey('kb_articles.id', ondelete='CASCADE'), index=True)
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FeedbackKind(enum.StrEnum):
    HELPFUL = 'helpful'        # "Did this help?" (helped: yes / no)
    DEFLECTION = 'deflection'  # "This solved it" on a portal suggestion


class ArticleFeedback(Base):
    """One reader's (session's) answer per article and kind: a second answer changes it, never counts twice."""
    __tablename__ = 'kb_feedback'
    __table_args__ = (UniqueConstraint('article_id', 'reader_key', 'kind'),)
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey('kb_articles.id', ondelete='CASCADE'), index=True)
    reader_key: Mapped[str] = mapped_column(String(64))   # sha256 of the session id (never the id itself)
    kind: Mapped[str] = mapped_column(String(12))
    helped: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class KbSettings(Base):
    """The knowledge base's settings (one row, id 1): whether ``/help`` is open to visitors without an account."""
    __tablename__ = 'kb_settings'
    id: Mapped[int] = mapped_column(primary_key=True)
    public_help_centre: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))


__all__ = ['Article', 'ArticleAttachment', 'ArticleCategory', 'ArticleFeedback', 'ArticleStatus', 'ArticleTicketLink',
           'ArticleVersion', 'ArticleVisibility', 'FeedbackKind', 'KbSettings']
