"""Keeping the search index: in the same transaction as every write, and rebuilt from scratch on demand.

Nothing in the services calls this. ``install()`` (from ``db.init``) hooks every ORM session:

- ``after_flush``: each Ticket, TicketEvent, User, Organisation and Article the flush inserted, changed or deleted
  is noted in ``session.info``;
- ``do_orm_execute``: an ORM ``UPDATE``/``DELETE`` statement on one of them (the tickets' compare-and-set
  ``update(Ticket).where(…)``) notes the rows its WHERE selects, read just before it runs;
- ``before_commit``: the noted rows' documents are written again from what the rows hold now (delete + insert as
  one ``INSERT … SELECT`` per kind) on the session's own connection, so the index commits with the change or not
  at all, and a write path cannot forget it. A rollback forgets the notes.

What a document holds (``sources``): a ticket its reference and title (the title), what its customer reads of it
(description, affected components, attempted solutions, resolution: the body) and what only staff read
(``visibility.py``'s staff and internal fields: the staff text); a message its text (an internal note's text as
staff text); an article its title and its body with its tags; a customer their name and contact details; an
organisation its name. Writes past the ORM (``seed/bulk.py``) are followed by ``rebuild``.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

from .. import auth, visibility
from ..models import Article, EventKind, Organisation, Role, SearchDocument, Ticket, TicketEvent, User, session_hooks
from . import schema

log = logging.getLogger(__name__)
PENDING = 'pulse_search_pending'
AnySelect = Any  # a SELECT of the document columns (SQLAlchemy types each column: too long to spell out)
MAX_TEXT = 100_000  # characters of one field that are indexed (a tsvector holds at most 1 MB)
CHUNK = 500
DOCUMENT_COLUMNS = ('kind', 'object_id', 'ticket_id', 'title', 'body', 'staff_text', 'updated_at')
TICKET_TEXT_FIELDS = ('description', 'affected_components', 'attempted_solutions', 'resolution_text', 'workaround',
                      'technical_details')


def customer_reads_field(field: str) -> bool:
    """A ticket's text a customer reads: what they write themselves, and what ``visibility.py`` shows them."""
    return field in auth.CUSTOMER_EDITABLE_FIELDS or visibility.FIELDS.get(field) is visibility.Reader.CUSTOMER


def _joined(*parts: Any) -> ColumnElement[Any]:
    out: ColumnElement[Any] = func.substr(func.coalesce(parts[0], ''), 1, MAX_TEXT)
    for part in parts[1:]:
        out = out + literal(' ') + func.substr(func.coalesce(part, ''), 1, MAX_TEXT)
    return out


def _ticket_source() -> AnySelect:
    public = [getattr(Ticket, f) for f in TICKET_TEXT_FIELDS if customer_reads_field(f)]
    staff = [getattr(Ticket, f) for f in TICKET_TEXT_FIELDS if not customer_reads_field(f)]
    return select(literal('ticket'), Ticket.id, Ticket.id, Ticket.reference + literal(' ') + Ticket.title,
                  _joined(*public), _joined(*staff), Ticket.updated_at)


SEARCHED_EVENTS = (EventKind.MESSAGE.value, EventKind.CALL.value)


def _message_source() -> AnySelect:
    """Messages, internal notes and logged calls (a call: its line, "… logged an inbound call with Carl Jensen,
    12:30", and its note; staff-only like every call, ``services/calls.py``)."""
    call = TicketEvent.kind == EventKind.CALL.value
    note = func.coalesce(TicketEvent.data['note'].as_string(), '')
    text = case((call, TicketEvent.body + literal(' ') + note), else_=TicketEvent.body)
    body = func.substr(text, 1, MAX_TEXT)
    public = case((TicketEvent.is_internal.is_(False), body), else_=literal(''))
    internal = case((TicketEvent.is_internal.is_(True), body), else_=literal(''))  # an internal note: staff text
    return (select(literal('message'), TicketEvent.id, TicketEvent.ticket_id, literal(''), public, internal,
                   TicketEvent.created_at)
            # kinds as ORs of literals, not IN: an IN is rendered again at each execution (every post runs this)
            .where(or_(*(TicketEvent.kind == literal(k) for k in SEARCHED_EVENTS)), TicketEvent.body != ''))


def _customer_source() -> AnySelect:
    return (select(literal('customer'), User.id, literal(None), User.display_name,
                   _joined(User.email, User.phone, User.department, User.location, Organisation.name), literal(''),
                   User.created_at)
            .join(Organisation, User.organisation_id == Organisation.id)
            .where(User.role == Role.CUSTOMER.value))


def _organisation_source() -> AnySelect:
    return select(literal('organisation'), Organisation.id, literal(None), Organisation.name, Organisation.tier,
                  literal(''), Organisation.created_at)


def _article_source() -> AnySelect:
    return select(literal('article'), Article.id, literal(None), Article.title,
                  _joined(Article.body, _tag_words(cast(Article.tags, String))), literal(''), Article.updated_at)


def _tag_words(tags_json: ColumnElement[Any]) -> ColumnElement[Any]:
    """``["vpn", "mfa"]`` as ``vpn mfa``: the tags are words of the body, not JSON in its snippet."""
    out = tags_json
    for sign in ('[', ']', '"', ','):
        out = func.replace(out, sign, ' ' if sign == ',' else '')
    return out


SOURCES = {
    'ticket': (_ticket_source, Ticket.id, Ticket.updated_at),
    'message': (_message_source, TicketEvent.id, TicketEvent.id),
    'customer': (_customer_source, User.id, User.id),
    'organisation': (_organisation_source, Organisation.id, Organisation.id),
    'article': (_article_source, Article.id, Article.updated_at),
}
# changes that leave a document as it was (counters, a login): not written again, so they do not count as recent
UNINDEXED = {'article': frozenset({'helpful_yes', 'helpful_no', 'deflections', 'last_reviewed_at',
                                   'last_reviewed_by_id'}),
             'customer': frozenset({'last_login_at', 'password_hash'}),
             'ticket': frozenset(), 'message': frozenset(), 'organisation': frozenset()}


def _source(kind: str) -> tuple[AnySelect, Any, Any]:
    make, key, order = SOURCES[kind]
    return make(), key, order


def _insert_from(query: AnySelect) -> Any:
    return insert(SearchDocument).from_select(list(DOCUMENT_COLUMNS), query)


@functools.cache
def _refresh_statements(kind: str) -> tuple[Any, Any]:
    """The two statements that write a kind's documents again, for the ids bound as ``ids``: built once per process
    (building them and their cache keys cost ~0.3 ms per kind, on every commit that changes a ticket or a message)."""
    query, key, order = _source(kind)
    ids: Any = bindparam('ids', expanding=True)
    return (delete(SearchDocument).where(SearchDocument.kind == kind, SearchDocument.object_id.in_(ids)),
            _insert_from(query.where(key.in_(ids)).order_by(order)))


@functools.cache
def _refresh_one_statements(kind: str) -> tuple[Any, Any]:
    """The same for one row, bound as ``id``: nearly every commit's case (a post: its ticket and its message). An
    expanding ``IN`` is rendered again at every execution; its SQLAlchemy side cost more than SQLite's own work of
    the two statements (FTS triggers included; py-spy of desk_load.py: ~2.3 against ~1.9 % of the loop)."""
    query, key, _order = _source(kind)
    one: Any = bindparam('id')
    return (delete(SearchDocument).where(SearchDocument.kind == kind, SearchDocument.object_id == one),
            _insert_from(query.where(key == one)))


def refresh(conn: Connection, kind: str, ids: Iterable[int]) -> None:
    """Write the documents of these rows again from what they hold now (or remove them: a row gone, or no longer
    searchable, e.g. a user who is no customer)."""
    ordered = sorted(set(ids))
    if len(ordered) == 1:
        remove, write = _refresh_one_statements(kind)
        conn.execute(remove, {'id': ordered[0]})
        conn.execute(write, {'id': ordered[0]})
        return
    remove, write = _refresh_statements(kind)
    for start in range(0, len(ordered), CHUNK):
        chunk = {'ids': ordered[start:start + CHUNK]}
        conn.execute(remove, chunk)
        conn.execute(write, chunk)


# --- the session hooks ---

def _kind_of(cls: type) -> str | None:
    for model, kind in ((Ticket, 'ticket'), (TicketEvent, 'message'), (User, 'customer'),
                        (Organisation, 'organisation'), (Article, 'article')):
        if issubclass(cls, model):
            return kind
    return None


def _note(session: Session, kind: str, ids: Iterable[int | None]) -> None:
    pending: dict[str, set[int]] = session.info.setdefault(PENDING, {})
    pending.setdefault(kind, set()).update(i for i in ids if i is not None)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        kind = _kind_of(type(obj))
        if kind is not None and (obj in session.new or obj in session.deleted or _changed_text(obj, kind)):
            _note(session, kind, [getattr(obj, 'id', None)])
            if kind == 'organisation':  # its customers' documents name it
                _note(session, 'organisation-customers', [getattr(obj, 'id', None)])


def _changed_text(obj: object, kind: str) -> bool:
    state = inspect(obj)
    return any(attr.history.has_changes() for attr in state.attrs if attr.key not in UNINDEXED[kind])


def _orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    entity = getattr(state.statement, 'entity_description', {}).get('entity')
    kind = _kind_of(entity) if isinstance(entity, type) else None
    if kind is None:
        return
    values = getattr(state.statement, '_values', None) or {}
    keys = {getattr(k, 'key', k) for k in values}
    if keys and keys <= UNINDEXED[kind]:
        return
    where = state.statement.whereclause  # type: ignore[attr-defined]
    # the WHERE's bound parameters (a statement built once binds the row's id at execution: ``ticket_write.touch``)
    params = state.parameters if isinstance(state.parameters, dict) else None  # (a list: an executemany)
    one = _row_by_id(where, entity, params or {})
    if one is not None:  # every write of a ticket (its compare-and-set, its stamp): no read needed to know the row
        _note(state.session, kind, [one])
        return
    query = select(entity.id) if where is None else select(entity.id).where(where)  # type: ignore[union-attr]
    ids = state.session.execute(query, params).scalars().all()
    _note(state.session, kind, ids)


def _row_by_id(where: Any, entity: Any, params: dict[str, Any]) -> int | None:
    """The one row a WHERE can touch when it is ``id = <value>`` or ANDs that with anything: noting that row is enough
    (if the rest does not hold, nothing changed and its document is written again as it was)."""
    if where is None:
        return None
    clauses = where.clauses if isinstance(where, BooleanClauseList) and where.operator is operators.and_ else [where]
    for clause in clauses:
        if (isinstance(clause, BinaryExpression) and clause.operator is operators.eq
                and isinstance(clause.right, BindParameter) and getattr(clause.left, 'key', None) == 'id'
                and getattr(clause.left, 'table', None) is entity.__table__):
            value = params.get(clause.right.key, clause.right.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


def _before_commit(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # what is still pending is written (and noted) first: commit runs this hook before it
        # flushes, so a lone ``session.delete(article)`` was never noted and its document stayed findable
    if not session.info.get(PENDING) or session.in_nested_transaction():
        return  # a savepoint released: the outermost commit refreshes everything noted, once (a batch of mails)
    pending: dict[str, set[int]] = session.info.pop(PENDING, {})
    conn = session.connection()
    org_ids = pending.pop('organisation-customers', set())
    if org_ids:
        pending.setdefault('customer', set()).update(conn.execute(
            select(User.id).where(User.organisation_id.in_(org_ids), User.role == Role.CUSTOMER.value)).scalars())
    for kind, ids in pending.items():
        if ids:
            refresh(conn, kind, ids)


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(PENDING, None)


_installed = [False]


def install() -> None:
    """Hook every ORM session (idempotent)."""
    if _installed[0]:
        return
    # forgotten when the outermost transaction ends: a savepoint rolled back no longer drops the outer one's notes
    session_hooks.install(after_flush=_after_flush, orm_execute=_orm_execute, before_commit=_before_commit,
                          forget=_forget)
    _installed[0] = True


# --- building the index from what is stored ---

def rebuild(conn: Connection) -> dict[str, Any]:
    """Every document again from the stored rows, the engine's index made afresh (the configured language). Fast
    path: the engine's index is dropped, the documents inserted in bulk (``INSERT … SELECT`` per kind, in time
    order), then the index built once."""
    started = time.perf_counter()
    is_pg = conn.dialect.name == 'postgresql'
    lang = schema.language()
    schema.check_language(conn, lang)
    if is_pg:  # the trigger (in the configured language) computes each tsv; the GIN indexes are built once after
        for statement in schema.pg_indexes_drop():
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(schema.pg_function(lang))
        conn.exec_driver_sql('TRUNCATE search_documents')
    else:  # FTS5 is filled once from the documents after they are in
        schema.drop(conn)
        conn.execute(delete(SearchDocument))
    counts: dict[str, int] = {}
    for kind in schema.KINDS:
        query, _key, order = _source(kind)
        counts[kind] = conn.execute(_insert_from(query.order_by(order))).rowcount
    schema.create(conn, lang)
    if is_pg:
        conn.exec_driver_sql('ANALYZE search_documents')
    else:
        conn.exec_driver_sql(f"INSERT INTO {schema.FTS_TABLE}({schema.FTS_TABLE}) VALUES ('optimize')")
    took = time.perf_counter() - started
    log.info('search index rebuilt: %s in %.1f s', counts, took)
    return {'documents': counts, 'seconds': round(took, 2)}

