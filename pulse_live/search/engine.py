"""Searching: one interface over SQLite FTS5 and PostgreSQL full text, filtered by what the viewer may read.

Two kinds of question:

- ``search``: every word (as typed: each word also matches longer words) in a document, per kind (tickets,
  messages, articles, customers, organisations). Ranking: documents whose *title* holds every word first, then the
  others; within each, the most recently changed first (the index is read backwards: a document's id grows with
  each change). Both steps stop after the rows asked for, so a word in a million messages costs no more than a rare
  one.
- ``related``: any of the distinctive words of a text, ranked by relevance (FTS5 ``bm25``, PostgreSQL ``ts_rank``
  with the title weighted above the body): similar tickets, related articles, the portal's suggestions.

Who finds what is the same rule as everywhere else: tickets and their messages through ``auth.visible_tickets``
(joined), messages through ``visibility.customer_entries``, and the staff-only text of a document (internal notes,
internal ticket fields) is not searched for customers at all. Articles: customers find published public ones only.
Customers and organisations: staff only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Select,
    String,
    Text,
    bindparam,
    cast,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    union_all,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db, visibility
from ..models import Article, ArticleStatus, ArticleVisibility, SearchDocument, Ticket, TicketEvent, User
from . import schema
from .text import Query, fts5_match, tsquery_text

KINDS = schema.KINDS
STAFF_KINDS = frozenset(KINDS)
CUSTOMER_KINDS = frozenset({'ticket', 'message', 'article'})
TICKET_KINDS = frozenset({'ticket', 'message'})
RELATED_CANDIDATES = 400  # PostgreSQL ranks the most recent this many matches of a "related" query
WINDOW = 2000  # PostgreSQL looks for as-you-type matches among the newest this many tickets or messages first

_fts = table(schema.FTS_TABLE, column('rowid'))
_titles = table(schema.TITLES_TABLE, column('rowid'))
_tsv: ColumnElement[Any] = literal_column('search_documents.tsv')
_title_tsv: ColumnElement[Any] = literal_column('search_documents.title_tsv')


@dataclass
class Found:
    """A document that matched (its stored text: the page highlights it)."""
    kind: str
    object_id: int
    ticket_id: int | None
    title: str
    body: str
    staff_text: str
    updated_at: datetime
    title_hit: bool


@dataclass
class Filters:
    status: str | None = None    # tickets and messages: the ticket's status
    queue_id: int | None = None  # tickets and messages: the ticket's queue

    @property
    def any(self) -> bool:
        return bool(self.status or self.queue_id)


def kinds_for(viewer: User) -> frozenset[str]:
    return STAFF_KINDS if auth.is_staff(viewer) else CUSTOMER_KINDS


def _columns(viewer: User, *, title_only: bool) -> tuple[str, ...]:
    if title_only:
        return ('title',)
    return ('title', 'body', 'staff_text') if auth.can_see_internal(viewer) else ('title', 'body')


def _weights(viewer: User, *, title_only: bool) -> str:
    if title_only:
        return 'A'
    return '' if auth.can_see_internal(viewer) else 'AB'


def _visible(query: Select[Any], viewer: User, kind: str, filters: Filters) -> Select[Any] | None:
    """The viewer's rule (and the page's filters) on a query of documents of ``kind``; None: nothing to find."""
    staff = auth.is_staff(viewer)
    if kind not in kinds_for(viewer):
        return None
    if filters.any and kind not in TICKET_KINDS:
        return None  # status and queue are a ticket's
    if kind in TICKET_KINDS and (not staff or filters.any):
        query = query.join(Ticket, Ticket.id == SearchDocument.ticket_id).where(auth.visible_tickets(viewer))
        if filters.status:
            query = query.where(Ticket.status == filters.status)
        if filters.queue_id:
            query = query.where(Ticket.queue_id == filters.queue_id)
    if kind == 'message' and not staff:
        query = query.join(TicketEvent, TicketEvent.id == SearchDocument.object_id) \
            .where(visibility.customer_entries())
    if kind == 'article' and not staff:
        query = query.join(Article, Article.id == SearchDocument.object_id) \
            .where(Article.status == ArticleStatus.PUBLISHED.value,
                   Article.visibility == ArticleVisibility.PUBLIC.value)
    return query


def _documents() -> Any:
    d = SearchDocument
    return select(d.kind, d.object_id, d.ticket_id, d.title, d.body, d.staff_text, d.updated_at, d.id)


def _language() -> ColumnElement[Any]:
    return cast(schema.language(), REGCONFIG)


def _fts_table(title_only: bool) -> Any:
    return _titles if title_only else _fts


def _matching(session: AsyncSession, kind: str, query: Query, viewer: User, *, title_only: bool,
              any_term: bool = False) -> Select[Any]:
    """Documents of ``kind`` matching ``query``: every term (or any) in the title only, or in what the viewer reads.

    PostgreSQL gets the kind and the query text as literals (``literal_execute``; both are built from words of
    letters and digits, and escaped as literals): each search is planned for its own words, so a rare word reads
    its GIN index and a word in half the messages reads the newest messages backwards until enough matched. The
    parameters are anonymous: several of these go into one statement (``search``)."""
    base = _documents()
    if session.get_bind().dialect.name == 'sqlite':
        fts = _fts_table(title_only)
        match = fts5_match(query, columns=_columns(viewer, title_only=title_only), kind=kind, any_term=any_term)
        return base.select_from(fts.join(SearchDocument, SearchDocument.id == fts.c.rowid)) \
            .where(literal_column(fts.name).op('MATCH')(bindparam(None, match)))
    text = tsquery_text(query, weights='' if title_only else _weights(viewer, title_only=False), any_term=any_term)
    tsquery = func.to_tsquery(_language(), bindparam(None, text, literal_execute=True))
    vector = _title_tsv if title_only else _tsv
    return base.where(SearchDocument.kind == bindparam(None, kind, literal_execute=True), vector.op('@@')(tsquery))


def _recent_first(session: AsyncSession, query: Select[Any], *, title_only: bool) -> Select[Any]:
    if session.get_bind().dialect.name == 'sqlite':
        return query.order_by(_fts_table(title_only).c.rowid.desc())
    return query.order_by(SearchDocument.id.desc())


_COLUMNS = 'kind, object_id, ticket_id, title, body, staff_text, updated_at, id'
_RESULT_TYPES = (column('kind', String), column('object_id', Integer), column('ticket_id', Integer),
                 column('title', Text), column('body', Text), column('staff_text', Text),
                 column('updated_at', DateTime), column('id', Integer), column('title_hit', Integer))


def _sql_literal(value: str) -> str:
    """A SQL string literal. Only for text this module made: a kind, a configuration name, a tsquery of quoted
    words of letters and digits (``text.py``). Its colons are escaped for ``text()``, which would read ``'w':A`` (a
    weighted lexeme) as a bind parameter ``:A``."""
    return "'" + value.replace("'", "''").replace(':', '\\:') + "'"


def _pg_part(kind: str, tsquery: str, *, title_only: bool, wanted: int) -> str:
    """PostgreSQL: the newest ``wanted`` matches of ``kind`` for a staff member's question without filters.

    For tickets and messages, two steps inside one part, the second run only when the first did not find enough
    (``LIMIT`` over ``UNION ALL`` stops pulling rows once it has them):

    1. the newest ``WINDOW`` documents of the kind, read backwards along the kind's own index of ids
       (``ix_search_recent_<kind>``) and stopped after ``wanted`` matches: a word typed so far (``sc:*``) that a
       tenth of a million messages hold is found here after a few dozen rows;
    2. older documents from the kind's GIN index, sorted: only a word rare among the newest documents gets here,
       and then its matches are few. ``id + 0`` keeps the planner from walking an index of ids backwards hoping
       for an early match (a rare word then read every row of the kind: seconds at a million messages).

    The other kinds hold a few thousand documents: their GIN index, sorted. Kind and query are literals, so each
    part is planned for its own words."""
    vector = 'title_tsv' if title_only else 'tsv'
    kind_is = f'kind = {_sql_literal(kind)}'
    matches = f'{vector} @@ to_tsquery({_sql_literal(schema.language())}::regconfig, {_sql_literal(tsquery)})'
    tier = 1 if title_only else 0
    if kind not in TICKET_KINDS:
        return (f'(SELECT {_COLUMNS}, {tier} AS title_hit FROM search_documents WHERE {kind_is} AND {matches} '
                f'ORDER BY id + 0 DESC LIMIT {wanted})')
    along_recent = schema.RECENT_PREDICATE.format(kind=kind)  # the kind's own index of ids (schema.py)
    newest = (f'SELECT {_COLUMNS}, {vector} FROM search_documents WHERE {along_recent} '
              f'ORDER BY id DESC LIMIT {WINDOW}')
    boundary = f'SELECT id FROM search_documents WHERE {along_recent} ORDER BY id DESC OFFSET {WINDOW - 1} LIMIT 1'
    return (f'(SELECT {_COLUMNS}, {tier} AS title_hit FROM ('
            f'(SELECT {_COLUMNS} FROM ({newest}) AS newest WHERE {matches} ORDER BY id DESC LIMIT {wanted}) '
            f'UNION ALL '
            f'(SELECT {_COLUMNS} FROM search_documents WHERE {kind_is} AND {matches} '
            f'AND id + 0 < coalesce(({boundary}), 0) ORDER BY id + 0 DESC LIMIT {wanted})'
            f') AS two_steps LIMIT {wanted})')


def _sqlite_part(*, title_only: bool, wanted: int, name: str) -> str:
    """SQLite: the newest ``wanted`` matches of the MATCH expression ``:name`` (which names the kind): FTS5 reads its
    index backwards by rowid and stops."""
    fts = _fts_table(title_only).name
    tier = 1 if title_only else 0
    columns = ', '.join(f'd.{c.strip()}' for c in _COLUMNS.split(','))
    return (f'SELECT * FROM (SELECT {columns}, {tier} AS title_hit FROM {fts} JOIN search_documents AS d '
            f'ON d.id = {fts}.rowid WHERE {fts} MATCH :{name} ORDER BY {fts}.rowid DESC LIMIT {wanted})')


def _plain_statement(session: AsyncSession, viewer: User, kinds: list[str], query: Query, limit: int) -> Any:
    """The statement of ``_statement`` for a staff member without filters (every keystroke of the header box),
    written out as SQL: building it from SQLAlchemy constructs (subqueries of subqueries, nine parts) cost more
    than running it."""
    pg = session.get_bind().dialect.name == 'postgresql'
    parts: list[str] = []
    params: dict[str, str] = {}
    for kind in kinds:
        for title_only in _tiers(kind):
            wanted = _wanted(kind, title_only, limit)
            if pg:
                weights = '' if title_only else _weights(viewer, title_only=False)
                parts.append(_pg_part(kind, tsquery_text(query, weights=weights), title_only=title_only,
                                      wanted=wanted))
            else:
                name = f'm{len(parts)}'
                params[name] = fts5_match(query, columns=_columns(viewer, title_only=title_only), kind=kind)
                parts.append(_sqlite_part(title_only=title_only, wanted=wanted, name=name))
    return sql_text(' UNION ALL '.join(parts)).bindparams(**params).columns(*_RESULT_TYPES)


def _wanted(kind: str, title_only: bool, limit: int) -> int:
    """Title hits: one more than shown (is there more?); every hit: as many again (the title hits are among them)."""
    return limit + 1 if title_only or len(_tiers(kind)) == 1 else 2 * (limit + 1)


def _found(row: Any, title_hit: bool) -> Found:
    return Found(kind=row[0], object_id=row[1], ticket_id=row[2], title=row[3], body=row[4], staff_text=row[5],
                 updated_at=row[6], title_hit=title_hit)


def _tiers(kind: str) -> tuple[bool, ...]:
    """Title hits first (a message has no title), then every hit."""
    return (False,) if kind == 'message' else (True, False)


def _statement(session: AsyncSession, viewer: User, kinds: list[str], query: Query, limit: int,
               filters: Filters) -> Any:
    """One statement for a whole keystroke: per kind and tier (title hits, every hit) the newest matches the viewer
    may find, each part read from its own index backwards and stopped after the rows asked for (``UNION ALL`` of
    limited parts). A customer's question, or one with filters, joins the viewer's rule (``_visible``) into each
    part. None when the viewer may find nothing of these kinds."""
    if auth.is_staff(viewer) and not filters.any:
        return _plain_statement(session, viewer, kinds, query, limit)
    parts = []
    for kind in kinds:
        for title_only in _tiers(kind):
            matching = _visible(_matching(session, kind, query, viewer, title_only=title_only), viewer, kind,
                                filters)
            if matching is None:
                break
            part = _recent_first(session, matching, title_only=title_only).limit(_wanted(kind, title_only, limit))
            parts.append(select(part.subquery(), literal(title_only).label('title_hit')))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else union_all(*parts)


def _ranked(rows: list[Any], kinds: list[str], limit: int) -> dict[str, tuple[list[Found], bool]]:
    """Per kind: title hits first, then the others, each most recent first (the parts came newest first); a
    document appears once; and whether there are more than ``limit``."""
    found: dict[str, list[Found]] = {k: [] for k in kinds}
    seen: set[int] = set()
    rows = sorted(rows, key=lambda row: row[7], reverse=True)  # a document's id grows with each change
    for title_only in (True, False):
        for row in rows:
            if bool(row[8]) is title_only and row[7] not in seen:
                seen.add(row[7])
                found[row[0]].append(_found(row, title_only))
    return {k: (found[k][:limit], len(found[k]) > limit) for k in kinds}


async def search(viewer: User, query: Query, *, kinds: tuple[str, ...] | None = None, limit: int = 5,
                 filters: Filters | None = None) -> dict[str, tuple[list[Found], bool]]:
    """Per kind: the best ``limit`` documents the viewer may find, and whether there are more. One statement on
    one connection (see ``_statement``)."""
    filters = filters or Filters()
    allowed = kinds_for(viewer)
    wanted = [k for k in (kinds or KINDS) if k in allowed]
    if not query or not wanted:
        return {k: ([], False) for k in wanted}
    async with db.session() as session:
        statement = _statement(session, viewer, wanted, query, limit, filters)
        rows = [] if statement is None else list((await session.execute(statement)).all())
    return _ranked(rows, wanted, limit)


async def related(viewer: User, query: Query, kind: str, *, limit: int = 5,
                  exclude: int | None = None) -> list[Found]:
    """Documents of ``kind`` sharing the most (and the rarest) words with ``query`` (any word may match)."""
    if not query or kind not in kinds_for(viewer):
        return []
    async with db.session() as session:
        matching = _matching(session, kind, query, viewer, title_only=False, any_term=True)
        if exclude is not None:
            matching = matching.where(SearchDocument.object_id != exclude)
        visible = _visible(matching, viewer, kind, Filters())
        if visible is None:
            return []
        matching = visible
        if session.get_bind().dialect.name == 'sqlite':
            # bm25 of (kind, title, body, staff text): a title word counts five times a body word
            ranked = matching.order_by(func.bm25(literal_column(schema.FTS_TABLE), 0.0, 5.0, 1.0, 0.5),
                                       _fts.c.rowid.desc()).limit(limit)
            rows = (await session.execute(ranked)).all()
        else:
            candidates = matching.add_columns(_tsv.label('tsv')).order_by(SearchDocument.id.desc()) \
                .limit(RELATED_CANDIDATES).subquery()
            tsquery = func.to_tsquery(_language(), bindparam('tsquery_rank', tsquery_text(query, any_term=True),
                                                             literal_execute=True))
            # weights of D, C (staff text), B (body), A (title)
            weights: ColumnElement[Any] = literal_column("'{0.1, 0.2, 0.4, 1.0}'::float4[]")
            rank = func.ts_rank(weights, candidates.c.tsv, tsquery)
            ranked = select(*[candidates.c[name] for name in ('kind', 'object_id', 'ticket_id', 'title', 'body',
                                                              'staff_text', 'updated_at', 'id')]) \
                .order_by(rank.desc(), candidates.c.id.desc()).limit(limit)
            rows = (await session.execute(ranked)).all()
    return [_found(row, False) for row in rows]

