"""One row counting changes of the configuration the ticket writes read on every ticket (priority rules, priorities
and scales, ticket types, queues and routing rules, SLA policies and calendars, organisations).

``install()`` (from ``db.init``) hooks every ORM session: it notes every ORM write to one of ``CONFIG_MODELS``
(objects flushed, ORM ``insert``/``update``/``delete`` statements) and bumps ``version`` in that transaction just
before its commit, so no admin service can forget it and the change and the new version commit together. A
rolled-back change bumps nothing. Writes that bypass the ORM (raw SQL, migrations) call ``bump(connection)``.
``services/config_cache.py`` keeps what it read per process under the version it saw: one cheap read of this row
tells any process whether its copy is still the stored configuration.
"""
from __future__ import annotations

import random
from typing import Any

from sqlalchemy import BigInteger, Integer, event, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, UOWTransaction, mapped_column

from . import session_hooks
from .core import Base, Organisation, Priority, PriorityScale, Queue, TicketType
from .sla import BusinessCalendar, SlaPolicy
from .work import PriorityRule, RoutingRule

__all__ = ['ConfigVersion']

CONFIG_MODELS: tuple[type, ...] = (BusinessCalendar, Organisation, Priority, PriorityRule, PriorityScale, Queue,
                                   RoutingRule, SlaPolicy, TicketType)
CHANGED = 'pulse_config_changed'   # session.info: this transaction wrote configuration
IN_SESSION = 'pulse_config'        # session.info: the configuration this unit of work read (one read per unit)


class ConfigVersion(Base):
    """Normally one row. The version is the largest of the rows (``max``) and a bump moves every row, so a second row
    (a data set copied into a fresh database, as the tests do) does no harm."""
    __tablename__ = 'config_versions'
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, 'sqlite'), primary_key=True,
                                    autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


def first_version() -> int:
    """A random start (and row id): a database made afresh under a running process never repeats an old version."""
    return random.randint(1, 2**40)


@event.listens_for(ConfigVersion.__table__, 'after_create')
def _insert_row(table, connection, **_kw) -> None:
    """``create_all`` (tests, a fresh database) writes the one row; migration 0012a does the same."""
    connection.execute(text(f'INSERT INTO {table.fullname} (id, version) VALUES (:id, :v)'),
                       {'id': first_version(), 'v': first_version()})


def bump(connection: Connection) -> None:
    """A new configuration version in this connection's transaction (for writes that bypass the ORM)."""
    connection.execute(update(ConfigVersion).values(version=ConfigVersion.version + 1))


# --- the session hooks ----------------------------------------------------------------------------------------------

def _is_config(model: object) -> bool:
    return isinstance(model, type) and issubclass(model, CONFIG_MODELS)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    if session.info.get(CHANGED):
        return
    for obj in (*session.new, *session.deleted, *session.dirty):
        if isinstance(obj, CONFIG_MODELS) and (obj in session.new or obj in session.deleted
                                               or session.is_modified(obj, include_collections=False)):
            session.info[CHANGED] = True
            session.info.pop(IN_SESSION, None)
            return


def _orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if _is_config(session_hooks.written_entity(state)):
        state.session.info[CHANGED] = True
        state.session.info.pop(IN_SESSION, None)


def _before_commit(session: Session) -> None:
    if not session.info.get(CHANGED) and not (session.new or session.dirty or session.deleted):
        return
    session.flush()  # objects still pending are written (and noted) first
    if session.info.get(CHANGED):
        bump(session.connection())


def _forget_session(session: Session, *_args: Any) -> None:
    session.info.pop(CHANGED, None)
    session.info.pop(IN_SESSION, None)


_installed = [False]


def install() -> None:
    """Hook every ORM session (idempotent; ``db.init`` calls it)."""
    if _installed[0]:
        return
    session_hooks.install(after_flush=_after_flush, orm_execute=_orm_execute, before_commit=_before_commit,
                          forget=_forget_session)
    _installed[0] = True
