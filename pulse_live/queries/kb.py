"""Knowledge base reads: what each reader may see (staff everything; customers and visitors public and published
only), the category tree, an article with its history, diffs between versions, the composer's ``#`` picker, the
pre-filled article from a ticket, downloads of article files, and whether the public help centre is open."""
from __future__ import annotations

import asyncio
import difflib
import hashlib
import re
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, true

from .. import auth, db
from ..models import (
    Article,
    ArticleAttachment,
    ArticleCategory,
    ArticleStatus,
    ArticleTicketLink,
    ArticleVersion,
    ArticleVisibility,
    EventKind,
    KbSettings,
    ResolutionCode,
    Role,
    Service,
    Ticket,
    TicketEvent,
    User,
)
from .like import contains

PAGE_SIZE = 50


def readable(viewer: User | None) -> ColumnElement[bool]:
    """The one rule of who reads which article: staff every article; customers and visitors (None) only public,
    published ones."""
    if viewer is not None and auth.is_staff(viewer):
        return true()
    return and_(Article.status == ArticleStatus.PUBLISHED, Article.visibility == ArticleVisibility.PUBLIC)


async def help_centre_open() -> bool:
    async with db.session() as s:
        return bool((await s.execute(select(KbSettings.public_help_centre).where(KbSettings.id == 1))).scalar())


@dataclass(frozen=True)
class CategoryNode:
    id: int
    name: str
    parent_id: int | None
    position: int
    depth: int
    path: str          # "Hardware › Laptops"
    articles: int = 0  # articles the reader may see directly in it
    total: int = 0     # articles the reader may see in it or any of its subcategories


async def category_tree(viewer: User | None = None) -> list[CategoryNode]:
    """Every category in tree order (parents before children, siblings by position then name), with the number of
    articles the reader may see in each (directly, and with its subcategories). Every category, also one holding
    nothing the reader may see: for the staff's pages; readers of the help centre get ``help_categories``."""
    async with db.session() as s:
        rows = (await s.execute(select(ArticleCategory))).scalars().all()
        counts = dict((await s.execute(
            select(Article.category_id, func.count(Article.id)).where(readable(viewer))
            .group_by(Article.category_id))).tuples().all())
    children: dict[int | None, list[ArticleCategory]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    walked: list[tuple[ArticleCategory, int, str]] = []

    def walk(parent: int | None, depth: int, prefix: str) -> None:
        for c in sorted(children.get(parent, []), key=lambda c: (c.position, c.name.lower(), c.id)):
            path = f'{prefix} › {c.name}' if prefix else c.name
            walked.append((c, depth, path))
            if depth < 20:
                walk(c.id, depth + 1, path)
    walk(None, 0, '')
    totals = {c.id: counts.get(c.id, 0) for c, _, _ in walked}
    for c, _, _ in reversed(walked):  # tree order reversed: every child is added to its parent before the parent
        if c.parent_id in totals:     # is added to its own parent
            totals[c.parent_id] += totals[c.id]
    return [CategoryNode(c.id, c.name, c.parent_id, c.position, depth, path, counts.get(c.id, 0), totals[c.id])
            for c, depth, path in walked]


async def help_categories(viewer: User | None) -> list[CategoryNode]:
    """The categories the help centre shows this reader (and accepts in ``?category=``): only those with an article
    the reader may read in them or below them, so a category of internal or draft articles only is not even named.
    Tree order; a shown category's parents are shown too."""
    return [c for c in await category_tree(viewer) if c.total]


@dataclass(frozen=True)
class ArticleRow:
    id: int
    title: str
    category: str
    tags: list[str]
    visibility: str
    status: str
    updated_at: datetime
    last_reviewed_at: datetime | None
    helpful_yes: int
    helpful_no: int
    excerpt: str


EXCERPT_SOURCE_CHARS = 4000  # of markdown: far more than the excerpt's words need


def _excerpt(body: str, limit: int = 180) -> str:
    """The first words of an article as plain text (no quote marks of the plain-text rendering). Only the body's
    start is rendered: a list of 50 articles of 200,000 characters each took ~45 s of the event loop."""
    from ..markdown import to_text
    lines = [re.sub(r'^(\s*>\s?)+', '', line) for line in to_text(body[:EXCERPT_SOURCE_CHARS]).splitlines()]
    flat = ' '.join(' '.join(lines).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + '…'


async def article_list(viewer: User | None, *, category_id: int | None = None, text: str = '',
                       status: str = '', visibility: str = '', limit: int = PAGE_SIZE) -> list[ArticleRow]:
    """Articles the reader may see, newest change first; ``category_id`` includes its subcategories; ``text``
    matches title, body or a tag (a plain substring: no syntax)."""
    conditions: list[ColumnElement[bool]] = [readable(viewer)]
    tree = await category_tree(viewer)
    paths = {c.id: c.path for c in tree}
    if category_id is not None:
        wanted = {category_id}
        for c in tree:  # tree order: a parent comes before its children
            if c.parent_id in wanted:
                wanted.add(c.id)
        conditions.append(Article.category_id.in_(wanted))
    needle = ' '.join((text or '').split())[:200]
    if needle:
        conditions.append(or_(contains(Article.title, needle), contains(Article.body, needle)))
    if viewer is not None and auth.is_staff(viewer):
        if status in ('draft', 'published'):
            conditions.append(Article.status == status)
        if visibility in ('public', 'internal'):
            conditions.append(Article.visibility == visibility)
    async with db.session() as s:
        articles = (await s.execute(select(Article).where(*conditions)
                                    .order_by(Article.updated_at.desc(), Article.id.desc()).limit(limit))).scalars()
        return [ArticleRow(a.id, a.title, paths.get(a.category_id, '') if a.category_id else '', list(a.tags or []),
                           a.visibility, a.status, a.updated_at, a.last_reviewed_at, a.helpful_yes, a.helpful_no,
                           _excerpt(a.body)) for a in articles]


@dataclass(frozen=True)
class LinkedTicket:
    id: int
    reference: str
    title: str
    status: str


@dataclass(frozen=True)
class AttachmentRow:
    id: int
    filename: str
    content_type: str
    size: int


@dataclass
class ArticleView:
    id: int
    title: str
    body: str
    category_id: int | None
    category: str
    tags: list[str]
    service_id: int | None
    service: str
    visibility: str
    status: str
    author: str
    version: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    last_reviewed_at: datetime | None
    last_reviewed_by: str
    helpful_yes: int
    helpful_no: int
    deflections: int
    attachments: list[AttachmentRow] = field(default_factory=list)
    tickets: list[LinkedTicket] = field(default_factory=list)   # staff only


async def article(viewer: User | None, article_id: int) -> ArticleView | None:
    """The article as this reader may see it, or None (not there, or not theirs to read: logged)."""
    async with db.session() as s:
        a = (await s.execute(select(Article).where(Article.id == article_id, readable(viewer)))).scalar()
        if a is None:
            if viewer is not None and not auth.is_staff(viewer) and await s.get(Article, article_id) is not None:
                auth.refused(viewer, 'read the article', f'article {article_id}')
            return None
        names = dict((await s.execute(select(User.id, User.display_name).where(
            User.id.in_([i for i in (a.author_id, a.last_reviewed_by_id) if i is not None])))).tuples().all())
        service = (await s.get(Service, a.service_id)) if a.service_id else None
        files = [AttachmentRow(f.id, f.filename, f.content_type, f.size) for f in (await s.execute(
            select(ArticleAttachment).where(ArticleAttachment.article_id == a.id)
            .order_by(ArticleAttachment.id))).scalars()]
        tickets: list[LinkedTicket] = []
        if viewer is not None and auth.is_staff(viewer):
            tickets = [LinkedTicket(*row) for row in (await s.execute(
                select(Ticket.id, Ticket.reference, Ticket.title, Ticket.status)
                .join(ArticleTicketLink, ArticleTicketLink.ticket_id == Ticket.id)
                .where(ArticleTicketLink.article_id == a.id).order_by(ArticleTicketLink.created_at.desc())))
                .tuples().all()]
    paths = {c.id: c.path for c in await category_tree(viewer)}
    return ArticleView(
        id=a.id, title=a.title, body=a.body, category_id=a.category_id,
        category=paths.get(a.category_id, '') if a.category_id else '', tags=list(a.tags or []),
        service_id=a.service_id, service=service.name if service else '', visibility=a.visibility, status=a.status,
        author=names.get(a.author_id, '') if a.author_id else '', version=a.version, created_at=a.created_at,
        updated_at=a.updated_at, published_at=a.published_at, last_reviewed_at=a.last_reviewed_at,
        last_reviewed_by=names.get(a.last_reviewed_by_id, '') if a.last_reviewed_by_id else '',
        helpful_yes=a.helpful_yes, helpful_no=a.helpful_no, deflections=a.deflections, attachments=files,
        tickets=tickets)


@dataclass(frozen=True)
class VersionRow:
    version: int
    title: str
    author: str
    created_at: datetime
    added: int      # lines added against the version before
    removed: int


async def versions(viewer: User, article_id: int) -> list[VersionRow]:
    """An article's history, newest first (staff only: customers see the current text). Each version's added and
    removed lines against the one before are stored with it when saved; only versions saved before that are counted
    here (``_change_counts``, bounded), reading two texts at a time and letting other pages run between two counts.
    (Every version's text was read and split for each opening: 999 versions of 200,000 characters held the event
    loop 2 s and 400 MB.)"""
    if not auth.is_staff(viewer):
        auth.refused(viewer, 'read the history of', f'article {article_id}')
        return []
    async with db.session() as s:
        rows = (await s.execute(
            select(ArticleVersion.id, ArticleVersion.version, ArticleVersion.title, User.display_name,
                   ArticleVersion.created_at, ArticleVersion.lines_added, ArticleVersion.lines_removed)
            .outerjoin(User, User.id == ArticleVersion.author_id)
            .where(ArticleVersion.article_id == article_id).order_by(ArticleVersion.version))).tuples().all()
    out: list[VersionRow] = []
    previous_id: int | None = None
    for row_id, version, title, author, created_at, added, removed in rows:
        if added is None or removed is None:  # saved before the counts were stored
            added, removed = await _counted_now(previous_id, row_id)
        out.append(VersionRow(version, title, author or '', created_at, added, removed))
        previous_id = row_id
    return out[::-1]


async def _counted_now(previous_id: int | None, row_id: int) -> tuple[int, int]:
    async with db.session() as s:
        texts = {i: (t, b) for i, t, b in (await s.execute(
            select(ArticleVersion.id, ArticleVersion.title, ArticleVersion.body)
            .where(ArticleVersion.id.in_([row_id] + ([previous_id] if previous_id is not None else []))))).all()}
    counts = version_counts(texts.get(previous_id) if previous_id is not None else None, texts[row_id])
    await asyncio.sleep(0)  # one bounded count at a time: other pages run between two of them
    return counts


def version_counts(before: tuple[str, str] | None, after: tuple[str, str]) -> tuple[int, int]:
    """(added, removed) lines from the text ``before`` (title, body; None: nothing) to ``after`` — bounded
    (``_line_opcodes``) and kept per pair of texts for the process."""
    a = _lines(*before) if before is not None else []
    b = _lines(*after)
    key = (_text_key(a), _text_key(b))
    counts = _COUNTS.get(key)
    if counts is None:
        counts = _change_counts(a, b)
        _remember(key, counts)
    return counts


def _lines(title: str, body: str) -> list[str]:
    return [f'# {title}', '', *body.splitlines()]


# The history's counts, by the two texts compared (a digest of each): a version's text never changes, so a count is
# made once per process; a database made afresh (tests) cannot hand back another text's count under the same key.
_COUNTS: OrderedDict[tuple[bytes, bytes], tuple[int, int]] = OrderedDict()
_COUNTS_KEPT = 4096

# The work one comparison may do (line pairs looked at, see ``_matching_blocks``): ~25 ms for 2,000 changed lines
# of 100 characters; a text made to defeat the matcher (the same lines over and over in another order) stops there
# and its remaining lines count as changed rather than freezing the page.
DIFF_BUDGET = 300_000
REMATCH_LINES = 32


def _text_key(lines: list[str]) -> bytes:
    return hashlib.blake2b('\n'.join(lines).encode('utf-8', 'surrogatepass'), digest_size=16).digest()


def _remember(key: tuple[bytes, bytes], counts: tuple[int, int]) -> None:
    _COUNTS[key] = counts
    while len(_COUNTS) > _COUNTS_KEPT:
        _COUNTS.popitem(last=False)


def _change_counts(a: list[str], b: list[str]) -> tuple[int, int]:
    """(added, removed) lines from ``a`` to ``b``, line by line (never character by character)."""
    added = removed = 0
    for tag, i1, i2, j1, j2 in _line_opcodes(a, b):
        if tag != 'equal':
            removed += i2 - i1
            added += j2 - j1
    return added, removed


Opcode = tuple[str, int, int, int, int]


def _line_opcodes(a: list[str], b: list[str], budget: int = DIFF_BUDGET) -> list[Opcode]:
    """``difflib.SequenceMatcher.get_opcodes`` of two lists of lines with a bounded cost. First with difflib's
    autojunk (a line in more than 1% of a long text, such as the blank line, is matched only beside other matches:
    otherwise its every pair is compared, minutes for a long article); then each changed stretch is matched again
    without it, so an unchanged blank line between two changed paragraphs is still unchanged. Both passes share
    ``budget``; what is left unmatched when it runs out counts as changed."""
    left = [budget]
    out: list[Opcode] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b, 0, 0, _matching_blocks(a, b, True, left)):
        if tag != 'replace':
            out.append((tag, i1, i2, j1, j2))
            continue
        # a long changed stretch in slices side by side (a whole rewrite keeps its blank lines in step)
        parts = -(-max(i2 - i1, j2 - j1) // REMATCH_LINES)
        for n in range(parts):
            ai, ae = i1 + (i2 - i1) * n // parts, i1 + (i2 - i1) * (n + 1) // parts
            bj, be = j1 + (j2 - j1) * n // parts, j1 + (j2 - j1) * (n + 1) // parts
            sub_a, sub_b = a[ai:ae], b[bj:be]
            out += _opcodes(sub_a, sub_b, ai, bj, _matching_blocks(sub_a, sub_b, False, left))
    return out


def _matching_blocks(a: list[str], b: list[str], autojunk: bool, left: list[int]) -> list[tuple[int, int, int]]:
    """``SequenceMatcher.get_matching_blocks`` (its own loop over ``find_longest_match``) that stops looking once
    ``left[0]`` line pairs are spent. The cost of one ``find_longest_match`` is at most the range of ``b`` plus,
    for each line of the range of ``a``, its occurrences in ``b`` (what difflib walks), which is what is charged."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=autojunk)
    in_b = Counter(b)
    popular: set[str] = getattr(matcher, 'bpopular', set())  # not in the type stubs; without it: charged in full
    charged = [0]
    for line in a:
        charged.append(charged[-1] + 1 + (0 if line in popular else in_b.get(line, 0)))
    blocks: list[tuple[int, int, int]] = []
    queue = [(0, len(a), 0, len(b))]
    while queue:
        alo, ahi, blo, bhi = queue.pop()
        cost = charged[ahi] - charged[alo] + (bhi - blo)
        if cost > left[0]:
            continue  # left unmatched: its lines count as changed
        left[0] -= cost
        i, j, k = matcher.find_longest_match(alo, ahi, blo, bhi)
        if k:
            blocks.append((i, j, k))
            if alo < i and blo < j:
                queue.append((alo, i, blo, j))
            if i + k < ahi and j + k < bhi:
                queue.append((i + k, ahi, j + k, bhi))
    blocks.sort()
    merged: list[tuple[int, int, int]] = []
    for i, j, k in blocks:  # adjacent blocks as one, as difflib does
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + k)
        else:
            merged.append((i, j, k))
    return merged


def _opcodes(a: list[str], b: list[str], a_at: int, b_at: int, blocks: list[tuple[int, int, int]]) -> list[Opcode]:
    """``SequenceMatcher.get_opcodes`` from matching blocks, the positions moved by ``a_at`` / ``b_at``."""
    out: list[Opcode] = []
    i = j = 0
    for ai, bj, size in [*blocks, (len(a), len(b), 0)]:
        tag = 'replace' if i < ai and j < bj else 'delete' if i < ai else 'insert' if j < bj else ''
        if tag:
            out.append((tag, a_at + i, a_at + ai, b_at + j, b_at + bj))
        i, j = ai + size, bj + size
        if size:
            out.append(('equal', a_at + ai, a_at + i, b_at + bj, b_at + j))
    return out


def _grouped_opcodes(codes: list[Opcode], n: int) -> Iterator[list[Opcode]]:
    """``SequenceMatcher.get_grouped_opcodes``: the changes with up to ``n`` lines of context, a group per
    cluster."""
    codes = list(codes) or [('equal', 0, 1, 0, 1)]
    if codes[0][0] == 'equal':
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - n), i2, max(j1, j2 - n), j2
    if codes[-1][0] == 'equal':
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == 'equal' and i2 - i1 > n + n:
            group.append((tag, i1, min(i2, i1 + n), j1, min(j2, j1 + n)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - n), max(j1, j2 - n)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == 'equal'):
        yield group


@dataclass(frozen=True)
class DiffLine:
    kind: str      # 'same' | 'added' | 'removed' | 'gap'
    text: str
    old_no: int | None = None
    new_no: int | None = None


@dataclass(frozen=True)
class VersionDiff:
    old_version: int
    new_version: int
    lines: list[DiffLine]


async def diff(viewer: User, article_id: int, new_version: int, old_version: int | None = None,
               context: int = 3) -> VersionDiff | None:
    """What changed from ``old_version`` (default: the one before) to ``new_version``, line by line with a few lines
    of context around each change (``_line_opcodes``: bounded); None if either is not there."""
    if not auth.is_staff(viewer):
        auth.refused(viewer, 'read the history of', f'article {article_id}')
        return None
    if old_version is not None and old_version > new_version:
        return None  # (as before: only versions up to the new one are compared)
    async with db.session() as s:
        if old_version is None:  # the one before: only its number is read (not every earlier text)
            old_version = (await s.execute(select(func.max(ArticleVersion.version)).where(
                ArticleVersion.article_id == article_id, ArticleVersion.version < new_version))).scalar() or 0
        rows = {v.version: v for v in (await s.execute(select(ArticleVersion).where(
            ArticleVersion.article_id == article_id,
            ArticleVersion.version.in_([new_version, old_version])))).scalars()}
    new = rows.get(new_version)
    if new is None:
        return None
    old = rows.get(old_version)
    if old is None and old_version != 0:
        return None
    a = _lines(old.title, old.body) if old is not None else []
    b = _lines(new.title, new.body)
    lines: list[DiffLine] = []
    for group in _grouped_opcodes(_line_opcodes(a, b), context):
        if lines:
            lines.append(DiffLine('gap', '…'))
        for tag, i1, i2, j1, j2 in group:
            if tag == 'equal':
                lines += [DiffLine('same', a[i], i + 1, j1 + (i - i1) + 1) for i in range(i1, i2)]
                continue
            if tag in ('replace', 'delete'):
                lines += [DiffLine('removed', a[i], i + 1, None) for i in range(i1, i2)]
            if tag in ('replace', 'insert'):
                lines += [DiffLine('added', b[j], None, j + 1) for j in range(j1, j2)]
    return VersionDiff(old_version, new_version, lines)


async def pick_articles(viewer: User, text: str, *, public_only: bool, limit: int = 6) -> list[dict[str, str]]:
    """The composer's ``#`` picker: published articles whose title (or tag) contains the text; ``public_only`` for
    a reply the customer reads. Each with the path the link goes to."""
    if not auth.is_staff(viewer):
        return []
    conditions: list[ColumnElement[bool]] = [Article.status == ArticleStatus.PUBLISHED]
    if public_only:
        conditions.append(Article.visibility == ArticleVisibility.PUBLIC)
    needle = ' '.join((text or '').split())[:100].lower()
    if needle:
        conditions.append(contains(Article.title, needle))
    async with db.session() as s:
        rows = (await s.execute(select(Article.id, Article.title, Article.visibility).where(*conditions)
                                .order_by(Article.updated_at.desc()).limit(limit))).tuples().all()
    return [{'id': str(i), 'title': t, 'visibility': v, 'path': article_path(i)} for i, t, v in rows]


def article_path(article_id: int) -> str:
    """The one address of an article in links (``/kb/<id>``): staff land on the article, customers on the portal's
    Help page of it (the page redirects)."""
    return f'/kb/{article_id}'


@dataclass(frozen=True)
class Prefill:
    ticket_id: int
    reference: str
    title: str
    body: str
    service_id: int | None


async def prefill_from_ticket(viewer: User, ticket_id: int) -> Prefill | None:
    """A draft article from a ticket: the problem (title, description) and the resolution (code and text, and the
    last public staff reply). Staff only."""
    if not auth.is_staff(viewer):
        auth.refused(viewer, 'make an article from', f'ticket {ticket_id}')
        return None
    async with db.session() as s:
        ticket = await s.get(Ticket, ticket_id)
        if ticket is None:
            return None
        code = (await s.get(ResolutionCode, ticket.resolution_code_id)) if ticket.resolution_code_id else None
        staff_roles = [Role.AGENT.value, Role.MANAGER.value, Role.ADMIN.value]
        reply = (await s.execute(
            select(TicketEvent.body).join(User, User.id == TicketEvent.actor_id)
            .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == EventKind.MESSAGE,
                   TicketEvent.is_internal.is_(False), User.role.in_(staff_roles))
            .order_by(TicketEvent.id.desc()).limit(1))).scalar()
    parts = ['## Problem', '', ticket.description.strip() or ticket.title, '']
    if ticket.workaround.strip():
        parts += ['## Workaround', '', ticket.workaround.strip(), '']
    resolution = [p for p in (f'**{code.name}**' if code else '', ticket.resolution_text.strip(),
                              (reply or '').strip()) if p]
    parts += ['## Resolution', '', '\n\n'.join(resolution) if resolution else '_Describe the solution here._', '']
    return Prefill(ticket.id, ticket.reference, ticket.title, '\n'.join(parts), ticket.service_id)


async def attachment_for_download(viewer: User | None, attachment_id: int) -> ArticleAttachment | None:
    """An article's file, if the reader may read the article (visitors: only when the help centre is open)."""
    async with db.session() as s:
        row = (await s.execute(select(ArticleAttachment).join(Article, Article.id == ArticleAttachment.article_id)
                               .where(ArticleAttachment.id == attachment_id, readable(viewer)))).scalar()
    if row is not None and viewer is None and not await help_centre_open():
        return None
    return row
