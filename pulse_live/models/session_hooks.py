"""Hooks on every ORM session that note what a transaction wrote and act on it just before its commit (the search
index, the configuration version). One way to install them, and one rule for forgetting the notes: when the
session's *outermost* transaction ends — a savepoint rolled back (``begin_nested``) is reported as a rollback too,
and must not drop what the outer transaction still commits."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session


def install(*, after_flush: Callable, orm_execute: Callable, before_commit: Callable,
            forget: Callable[[Session], None]) -> None:
    """Listen on every ``Session`` (call once per hook set)."""
    def forget_at_the_end(session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            forget(session)
    event.listen(Session, 'after_flush', after_flush)
    event.listen(Session, 'do_orm_execute', orm_execute)
    event.listen(Session, 'before_commit', before_commit)
    event.listen(Session, 'after_transaction_end', forget_at_the_end)


def written_entity(state: ORMExecuteState) -> Any:
    """The mapped class an ORM ``insert``/``update``/``delete`` statement writes; None when it writes nothing or
    its class is not known."""
    entity = getattr(state.statement, 'entity_description', {}).get('entity') \
        if hasattr(state.statement, 'entity_description') else None
    if entity is None and state.bind_mapper is not None:
        entity = state.bind_mapper.class_
    return entity
