"""The short lists every ticket page asks for (types, priorities, services, queues, resolution codes, agents,
customers, people to mention or add, the SLA policies with their calendars), kept by this process for a moment.

Opening a ticket read a dozen of these lists, each a statement of its own and the same for every page: a third of
the page's statements. Now the first page reads a list and the pages opened in the next ``KEEP_S`` seconds take
that copy. What keeps it true:

- a transaction of this process that writes one of the tables the lists come from (ORM objects flushed, or an ORM
  ``insert``/``update``/``delete`` statement) drops every copy when it commits, so this process's next page reads
  again — the page of the admin who just added a queue shows it at once;
- a change made elsewhere (another process, raw SQL, the command line) is seen within ``KEEP_S``;
- a read under way while such a commit happens is not kept (it may have seen the state before it);
- every caller gets its own copy of the list (a page may change what it got).
"""
from __future__ import annotations

import copy as _copy
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from ..models import (
    BusinessCalendar,
    Organisation,
    Priority,
    PriorityScale,
    Queue,
    QueueMember,
    ResolutionCode,
    Service,
    SlaPolicy,
    TicketType,
    User,
    session_hooks,
)
from .shared import shared_read

T = TypeVar('T')
KEEP_S = 2.0
WATCHED: tuple[type, ...] = (TicketType, Priority, PriorityScale, Service, Queue, QueueMember, ResolutionCode, User,
                             Organisation, SlaPolicy, BusinessCalendar)
CHANGED = 'pulse_lookups_changed'  # session.info: this transaction wrote a table the lists come from

_generation = [0]  # moves on every commit of this process that changed one of those tables
_kept: dict[tuple, tuple[int, float, Any]] = {}
reads = [0]  # how often a list was read from the database (tests look at it)


async def kept(key: tuple, load: Callable[[], Awaitable[T]], *, copy: bool = True) -> T:
    """``load()``'s answer, or this process's copy of it if it is recent and nothing changed since (a copy each;
    ``copy=False`` for values nobody changes: every caller gets the same one)."""
    hit = _kept.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] == _generation[0] and now - hit[1] < KEEP_S:
        return _copy.deepcopy(hit[2]) if copy else hit[2]
    generation = _generation[0]

    async def read() -> T:
        reads[0] += 1
        return await load()
    value = await shared_read(('lookup', generation, *key), read)  # pages opened together share one read
    if generation == _generation[0]:
        if len(_kept) > 256:
            _kept.clear()
        _kept[key] = (generation, now, value)
    return _copy.deepcopy(value) if copy else value


def forget_all() -> None:
    """Drop every copy (a restore, tests)."""
    _generation[0] += 1
    _kept.clear()


# --- the session hooks ----------------------------------------------------------------------------------------------

def _after_flush(session: Session, _context: UOWTransaction) -> None:
    if session.info.get(CHANGED):
        return
    if any(isinstance(obj, WATCHED) for obj in (*session.new, *session.deleted, *session.dirty)):
        session.info[CHANGED] = True


def _orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    entity = session_hooks.written_entity(state)
    if entity is None or (isinstance(entity, type) and issubclass(entity, WATCHED)):
        state.session.info[CHANGED] = True  # a statement whose table is not known: assume it matters


def _before_commit(_session: Session) -> None:
    pass


def _after_commit(session: Session) -> None:
    if session.info.pop(CHANGED, None):
        forget_all()


def _forget_session(session: Session, *_args: Any) -> None:
    session.info.pop(CHANGED, None)


_installed = [False]


def install() -> None:
    """Hook every ORM session (idempotent; ``db.init`` calls it)."""
    if _installed[0]:
        return
    from sqlalchemy import event
    # after_commit runs before the transaction's end (where the note is forgotten)
    event.listen(Session, 'after_commit', _after_commit)
    session_hooks.install(after_flush=_after_flush, orm_execute=_orm_execute, before_commit=_before_commit,
                          forget=_forget_session)
    _installed[0] = True
