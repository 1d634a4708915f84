"""Knowledge base writes: articles (the conflict rule of tickets, version history), categories (a tree, no cycles),
links to tickets, attachments, readers' feedback and deflections, the public help centre setting.

Staff (agents, managers, admins) write articles and categories; customers and visitors only read what
``queries/kb.py`` shows them (public and published) and answer "Did this help?". A save names the version it edited
(``expected_version``): the update is ``UPDATE … WHERE id = :id AND version = :expected``, so of two agents saving
the same version exactly one wins and the other gets ``StaleWrite`` with the current version (nothing of theirs is
stored; the editor keeps their text). Every save that changes the title or the body adds an ``ArticleVersion``.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db, storage
from ..config import get_settings
from ..errors import NotFound, StaleWrite, TooMany, ValidationError
from ..models import (
    Article,
    ArticleAttachment,
    ArticleCategory,
    ArticleFeedback,
    ArticleStatus,
    ArticleTicketLink,
    ArticleVersion,
    ArticleVisibility,
    FeedbackKind,
    KbSettings,
    Role,
    Service,
    Ticket,
    User,
    utcnow,
)
from ..queries.kb import version_counts
from . import audit

MAX_TITLE = 300
MAX_BODY = 200_000          # characters of markdown
MAX_TAGS = 20
MAX_TAG = 40
MAX_CATEGORY_NAME = 120
MAX_CATEGORY_DEPTH = 6


@dataclass(frozen=True)
class ArticleFields:
    """What an editor sends: everything an agent can change on an article."""
    title: str
    body: str = ''
    category_id: int | None = None
    tags: tuple[str, ...] = ()
    service_id: int | None = None
    visibility: str = ArticleVisibility.INTERNAL
    status: str = ArticleStatus.DRAFT


def _require_writer(actor: User, action: str, target: object = '') -> None:
    if not actor.is_active:
        raise auth.deny(actor, action, target, 'Your account is not active.')
    auth.require_staff(actor, action, target)


def _clean_title(title: object) -> str:
    text = title.strip() if isinstance(title, str) else ''
    if not text:
        raise ValidationError('Give the article a title.')
    if len(text) > MAX_TITLE:
        raise ValidationError(f'The title is too long ({len(text)} characters; at most {MAX_TITLE}).')
    if '\n' in text or '\r' in text:
        raise ValidationError('The title must be one line.')
    return text


def _clean_body(body: object) -> str:
    if not isinstance(body, str):
        raise ValidationError('The article text is missing.')
    if len(body) > MAX_BODY:
        raise ValidationError(f'The article is too long ({len(body):,} characters; at most {MAX_BODY:,}). '
                              'Split it into several articles.')
    if '\x00' in body:
        raise ValidationError('The article text contains a NUL character.')
    return body


def clean_tags(tags: Iterable[str] | str) -> list[str]:
    """Tags as stored: trimmed, lower case, no duplicates, in the order given (a string: comma separated)."""
    items = tags.split(',') if isinstance(tags, str) else list(tags)
    out: list[str] = []
    for raw in items:
        if not isinstance(raw, str):
            raise ValidationError('A tag must be text.')
        tag = ' '.join(raw.split()).lower().lstrip('#')
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise ValidationError(f'The tag "{tag[:MAX_TAG]}…" is too long (at most {MAX_TAG} characters).')
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise ValidationError(f'Too many tags ({len(out)}; at most {MAX_TAGS}).')
    return out


def _choice(value: object, enum_type: type[ArticleVisibility] | type[ArticleStatus], what: str) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return enum_type(value).value
    except ValueError:
        allowed = ' or '.join(m.value for m in enum_type)
        raise ValidationError(f'{what} must be {allowed}, not {value!r}.') from None


async def _check_refs(s: AsyncSession, category_id: int | None, service_id: int | None) -> None:
    if category_id is not None and (isinstance(category_id, bool) or not isinstance(category_id, int)
                                    or await s.get(ArticleCategory, category_id) is None):
        raise ValidationError('That category does not exist (any more). Choose another one.')
    if service_id is not None and (isinstance(service_id, bool) or not isinstance(service_id, int)
                                   or await s.get(Service, service_id) is None):
        raise ValidationError('That service does not exist (any more). Choose another one.')


def _validated(fields: ArticleFields) -> dict[str, Any]:
    return {'title': _clean_title(fields.title), 'body': _clean_body(fields.body),
            'category_id': fields.category_id, 'tags': clean_tags(fields.tags), 'service_id': fields.service_id,
            'visibility': _choice(fields.visibility, ArticleVisibility, 'Visibility'),
            'status': _choice(fields.status, ArticleStatus, 'Status')}


async def create_article(*, actor: User, fields: ArticleFields, from_ticket_id: int | None = None) -> Article:
    """A new article (version 1, its first history row); ``from_ticket_id`` links the ticket it was made from."""
    _require_writer(actor, 'write a knowledge base article')
    values = _validated(fields)
    now = utcnow()
    async with db.write_lock(), db.session() as s, s.begin():
        await _check_refs(s, values['category_id'], values['service_id'])
        if from_ticket_id is not None and await s.get(Ticket, from_ticket_id) is None:
            raise NotFound('That ticket does not exist.')
        article = Article(**values, author_id=actor.id, version=1, created_at=now, updated_at=now,
                          published_at=now if values['status'] == ArticleStatus.PUBLISHED else None,
                          helpful_yes=0, helpful_no=0, deflections=0)
        s.add(article)
        await s.flush()
        added, removed = version_counts(None, (values['title'], values['body']))
        s.add(ArticleVersion(article_id=article.id, version=1, title=values['title'], body=values['body'],
                             author_id=actor.id, created_at=now, lines_added=added, lines_removed=removed))
        if from_ticket_id is not None:
            s.add(ArticleTicketLink(article_id=article.id, ticket_id=from_ticket_id, created_by_id=actor.id,
                                    created_at=now))
    return article


async def save_article(*, actor: User, article_id: int, expected_version: int, fields: ArticleFields) -> Article:
    """Save an edit of the version the editor showed. Stale → ``StaleWrite`` (``current_version`` set), nothing
    written. A save that changes nothing is no new version."""
    _require_writer(actor, 'edit a knowledge base article', f'article {article_id}')
    values = _validated(fields)
    now = utcnow()
    async with db.write_lock(), db.session() as s, s.begin():
        current = await s.get(Article, article_id)
        if current is None:
            raise NotFound('That article does not exist (any more).')
        if current.version != expected_version:
            raise _stale(current)
        await _check_refs(s, values['category_id'], values['service_id'])
        changed = {k: v for k, v in values.items() if getattr(current, k) != v}
        if not changed:
            return current
        extra: dict[str, Any] = {}
        if values['status'] == ArticleStatus.PUBLISHED and current.published_at is None:
            extra['published_at'] = now
        result = await s.execute(
            update(Article).where(Article.id == article_id, Article.version == expected_version)
            .values(**changed, **extra, version=Article.version + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await s.refresh(current)
            raise _stale(current)
        new_version = expected_version + 1
        if 'title' in changed or 'body' in changed:
            # counted now, once (bounded: ``_line_opcodes``), so the history never reads the texts again
            added, removed = version_counts((current.title, current.body), (values['title'], values['body']))
            s.add(ArticleVersion(article_id=article_id, version=new_version, title=values['title'],
                                 body=values['body'], author_id=actor.id, created_at=now, lines_added=added,
                                 lines_removed=removed))
        await s.refresh(current)
    return current


def _stale(current: Article) -> StaleWrite:
    return StaleWrite(f'Somebody saved this article meanwhile (now version {current.version}). '
                      'Your text is kept in the editor: compare it with theirs and save again.',
                      current_version=current.version)


async def mark_reviewed(*, actor: User, article_id: int) -> Article:
    """"Still correct": sets last reviewed to now (not a new version: an open editor is not made stale)."""
    _require_writer(actor, 'mark an article reviewed', f'article {article_id}')
    async with db.write_lock(), db.session() as s, s.begin():
        article = await s.get(Article, article_id)
        if article is None:
            raise NotFound('That article does not exist (any more).')
        article.last_reviewed_at = utcnow()
        article.last_reviewed_by_id = actor.id
    return article


async def delete_article(*, actor: User, article_id: int) -> None:
    """Managers and admins remove an article for good (audited); agents unpublish instead."""
    auth.require_role(actor, Role.MANAGER, Role.ADMIN, action='delete an article', target=f'article {article_id}')
    async with db.write_lock(), db.session() as s, s.begin():
        article = await s.get(Article, article_id)
        if article is None:
            raise NotFound('That article does not exist (any more).')
        audit.record(s, actor, entity='kb_article', entity_id=article_id, action='delete',
                     summary=f'{actor.display_name} deleted the article "{article.title}"',
                     data={'title': article.title, 'version': article.version})
        await s.delete(article)


# --- links to tickets ---

async def link_ticket(*, actor: User, article_id: int, ticket_id: int) -> bool:
    """Link a ticket to an article (True if new; linking twice is no error)."""
    _require_writer(actor, 'link a ticket to an article', f'article {article_id}')
    async with db.write_lock(), db.session() as s, s.begin():
        if await s.get(Article, article_id) is None:
            raise NotFound('That article does not exist (any more).')
        if await s.get(Ticket, ticket_id) is None:
            raise NotFound('That ticket does not exist.')
        # looked for, then added, one at a time per pair: on PostgreSQL two links at once both found none and the
        # second failed on the pair's unique constraint (a database error) instead of "linked already"
        await db.serialise(s, f'kb-link:{article_id}:{ticket_id}')
        exists = (await s.execute(select(ArticleTicketLink.id).where(
            ArticleTicketLink.article_id == article_id, ArticleTicketLink.ticket_id == ticket_id))).first()
        if exists:
            return False
        s.add(ArticleTicketLink(article_id=article_id, ticket_id=ticket_id, created_by_id=actor.id,
                                created_at=utcnow()))
    return True


async def unlink_ticket(*, actor: User, article_id: int, ticket_id: int) -> None:
    _require_writer(actor, 'unlink a ticket from an article', f'article {article_id}')
    async with db.write_lock(), db.session() as s, s.begin():
        link = (await s.execute(select(ArticleTicketLink).where(
            ArticleTicketLink.article_id == article_id, ArticleTicketLink.ticket_id == ticket_id))).scalar()
        if link is not None:
            await s.delete(link)


# --- attachments (images and files in articles; the limits of every upload) ---

async def add_attachments(*, actor: User, article_id: int,
                          files: list[storage.UploadedFile]) -> list[ArticleAttachment]:
    """Store files for an article (``storage.check_limits``: count, size, not empty). The editor inserts a markdown
    link to each (``![name](/kb/files/<id>)`` for images)."""
    _require_writer(actor, 'attach a file to an article', f'article {article_id}')
    if not files:
        raise ValidationError('Choose a file first.')
    storage.check_limits(files)
    stored = [(f, await storage.store(f.data)) for f in files]
    now = utcnow()
    rows: list[ArticleAttachment] = []
    async with db.write_lock(), db.session() as s, s.begin():
        if await s.get(Article, article_id) is None:
            raise NotFound('That article does not exist (any more).')
        for f, digest in stored:
            name = storage.safe_filename(f.name)
            row = ArticleAttachment(article_id=article_id, uploader_id=actor.id, filename=name,
                                    content_type=storage.content_type_for(name, f.content_type), size=len(f.data),
                                    sha256=digest, created_at=now)
            s.add(row)
            rows.append(row)
    return rows


# --- categories (a tree) ---

def _clean_category_name(name: object) -> str:
    text = ' '.join(name.split()) if isinstance(name, str) else ''
    if not text:
        raise ValidationError('Give the category a name.')
    if len(text) > MAX_CATEGORY_NAME:
        raise ValidationError(f'The category name is too long (at most {MAX_CATEGORY_NAME} characters).')
    return text


async def _parents(s: AsyncSession) -> dict[int, int | None]:
    rows = (await s.execute(select(ArticleCategory.id, ArticleCategory.parent_id))).tuples().all()
    return dict(rows)


def _depth(parents: dict[int, int | None], start: int | None) -> int:
    depth, node, seen = 0, start, set()
    while node is not None and node not in seen:
        seen.add(node)
        depth += 1
        node = parents.get(node)
    return depth


async def save_category(*, actor: User, name: str, parent_id: int | None = None, position: int | None = None,
                        category_id: int | None = None) -> ArticleCategory:
    """Create (``category_id`` None) or change a category. A parent that is the category itself or one of its
    descendants would make a cycle: refused."""
    _require_writer(actor, 'change the knowledge base categories')
    clean = _clean_category_name(name)
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)
                                 or not 0 <= position <= 100_000):
        raise ValidationError('The position must be a whole number from 0 to 100000.')
    async with db.write_lock(), db.session() as s, s.begin():
        await db.serialise(s, 'kb-categories')  # two moves at once (A under B, B under A) made a cycle
        parents = await _parents(s)
        if parent_id is not None and parent_id not in parents:
            raise ValidationError('The parent category does not exist (any more).')
        if category_id is not None:
            category = await s.get(ArticleCategory, category_id)
            if category is None:
                raise NotFound('That category does not exist (any more).')
            node: int | None = parent_id
            while node is not None:
                if node == category_id:
                    raise ValidationError(f'"{clean}" cannot be placed under itself or one of its own subcategories.')
                node = parents.get(node)
        else:
            category = ArticleCategory(created_at=utcnow())
            s.add(category)
        if _depth(parents, parent_id) + 1 > MAX_CATEGORY_DEPTH:
            raise ValidationError(f'Categories nest at most {MAX_CATEGORY_DEPTH} levels deep.')
        if position is None and category_id is None:
            siblings = [cid for cid, pid in parents.items() if pid == parent_id]
            position = len(siblings)
        category.name = clean
        category.parent_id = parent_id
        if position is not None:
            category.position = position
    return category


async def delete_category(*, actor: User, category_id: int) -> None:
    """Remove an empty-of-subcategories category; its articles stay, without a category."""
    _require_writer(actor, 'delete a knowledge base category')
    async with db.write_lock(), db.session() as s, s.begin():
        category = await s.get(ArticleCategory, category_id)
        if category is None:
            raise NotFound('That category does not exist (any more).')
        child = (await s.execute(select(ArticleCategory.id).where(ArticleCategory.parent_id == category_id)
                                 .limit(1))).first()
        if child:
            raise ValidationError(f'"{category.name}" has subcategories: move or delete them first.')
        await s.execute(update(Article).where(Article.category_id == category_id).values(category_id=None))
        await s.delete(category)


# --- readers: "Did this help?" and deflections ---

def reader_key(session_id: str | None) -> str | None:
    """What identifies a reader in ``kb_feedback``: a hash of their browser session (the id itself is never
    stored)."""
    if not session_id:
        return None
    return hashlib.sha256(f'kb-reader:{session_id}'.encode('utf-8', 'surrogatepass')).hexdigest()


async def _readable_article(s: AsyncSession, article_id: int, viewer: User | None) -> Article:
    article = await s.get(Article, article_id) if isinstance(article_id, int) else None
    if article is None or (
            not (viewer is not None and auth.is_staff(viewer))
            and (article.status != ArticleStatus.PUBLISHED or article.visibility != ArticleVisibility.PUBLIC)):
        auth.refused(viewer, 'answer for an article they may not read', f'article {article_id}')
        raise NotFound('That article does not exist.')
    return article


async def record_feedback(*, article_id: int, helped: bool, reader: str | None = None,
                          viewer: User | None = None, address: str | None = None) -> bool:
    """Count one "Did this help?" answer. ``reader`` (a browser session id) answers once per article: the same
    answer again counts nothing; the other answer moves their vote. Without ``reader`` each call counts. ``viewer``
    (None: a visitor without an account) may answer only for an article they may read. Returns whether a count
    changed. A visitor's answers are limited per network address (``address``), a signed-in reader's per account
    (``kb_feedback_per_minute``): a new browser session is free to make, so a script could vote without end."""
    if not isinstance(helped, bool):
        raise ValidationError('The answer must be yes or no.')
    who = f'user:{viewer.id}' if viewer is not None else f'address:{address or "unknown"}'
    from ..rate_limit import get_limiter
    rate = get_settings().kb_feedback_per_minute
    wait = await get_limiter().take(f'kb-feedback:{who}', rate)
    if wait > 0:
        raise TooMany(f'Too many answers from here in a minute; please wait {math.ceil(wait)} s.',
                      retry_after_s=math.ceil(wait))
    key = reader_key(reader)
    column = Article.helpful_yes if helped else Article.helpful_no
    other = Article.helpful_no if helped else Article.helpful_yes
    async with db.write_lock(), db.session() as s, s.begin():
        await _readable_article(s, article_id, viewer)
        if key is not None:
            previous = (await s.execute(select(ArticleFeedback).where(
                ArticleFeedback.article_id == article_id, ArticleFeedback.reader_key == key,
                ArticleFeedback.kind == FeedbackKind.HELPFUL).with_for_update())).scalar()
            if previous is not None:
                if previous.helped == helped:
                    return False
                previous.helped = helped
                previous.created_at = utcnow()
                await s.execute(update(Article).where(Article.id == article_id)
                                .values({column: column + 1, other: other - 1}))
                return True
            if not await _insert_feedback(s, article_id, key, FeedbackKind.HELPFUL, helped):
                return False
        await s.execute(update(Article).where(Article.id == article_id).values({column: column + 1}))
    return True


async def record_deflection(*, article_id: int, reader: str | None = None, viewer: User | None = None) -> bool:
    """"This solved it" on a suggested article (the request ended without a ticket): counted once per reader and
    article. Returns whether it counted."""
    key = reader_key(reader)
    async with db.write_lock(), db.session() as s, s.begin():
        await _readable_article(s, article_id, viewer)
        if key is not None and not await _insert_feedback(s, article_id, key, FeedbackKind.DEFLECTION, True):
            return False
        await s.execute(update(Article).where(Article.id == article_id)
                        .values(deflections=Article.deflections + 1))
    return True


async def _insert_feedback(s: AsyncSession, article_id: int, key: str, kind: str, helped: bool) -> bool:
    """The reader's row, or False if they already have one (a parallel double click: the unique key decides).

    One ``INSERT … ON CONFLICT DO NOTHING`` in the caller's transaction, not a savepoint: on SQLite a savepoint
    opened before the transaction's first write is a transaction of its own, whose release committed the row — a
    counter update failing after it left the reader's row without their count, and their next answer counted
    nothing."""
    insert = sqlite.insert if s.get_bind().dialect.name == 'sqlite' else postgresql.insert
    result = await s.execute(insert(ArticleFeedback).values(
        article_id=article_id, reader_key=key, kind=kind, helped=helped, created_at=utcnow()
    ).on_conflict_do_nothing())
    return bool(getattr(result, 'rowcount', 0))


# --- settings ---

async def set_public_help_centre(*, actor: User, open_: bool) -> None:
    """Admins open (or close) ``/help`` to visitors without an account (audited)."""
    auth.require_role(actor, Role.ADMIN, action='change the public help centre setting')
    if not isinstance(open_, bool):
        raise ValidationError('The setting is on or off.')
    async with db.write_lock(), db.session() as s, s.begin():
        row = await s.get(KbSettings, 1)
        before = bool(row.public_help_centre) if row is not None else False
        if row is None:
            row = KbSettings(id=1)
            s.add(row)
        row.public_help_centre = open_
        row.updated_at = utcnow()
        row.updated_by_id = actor.id
        if before != open_:
            audit.record(s, actor, entity='kb_settings', entity_id=1, action='update',
                         summary=f'{actor.display_name} {"opened" if open_ else "closed"} the public help centre',
                         data={'public_help_centre': {'before': before, 'after': open_}})
