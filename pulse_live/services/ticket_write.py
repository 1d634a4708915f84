"""The one way a ticket changes: load it for the acting user, write, record the history, publish after commit.

Every ticket service writes through here::

    async with ticket_write(actor, ticket_id, action='change', expected_version=v) as w:
        old = w.ticket.priority_id
        await w.update({'priority_id': new}, expected_version=v)   # UPDATE … WHERE <guards>, version + 1
        await w.record_change('priority_id', old, new)              # the history row
        w.fields.append('priority_id')
    # committed; TicketChanged(ticket, kind, event ids, fields) published after the commit (services/_uow.py)

- ``ticket_write`` refuses a ticket the actor may not see (``NotFound``, logged by ``auth.deny``), a ticket changed
  since ``expected_version`` (``StaleWrite``) and — unless the caller says otherwise — a closed ticket.
- ``TicketWrite.update`` is the compare-and-set: on the version, or (safe merge) on the columns the caller read,
  or on extra conditions; the ticket is read again after it.
- ``history_row`` is the one builder of ``TicketEvent`` rows; whether a row is internal follows ``visibility.py``.
- The change is published only when it wrote an entry (nothing changed: nothing to tell).
"""
from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db, visibility
from ..errors import NotFound, StaleWrite, ValidationError
from ..events import TicketChanged
from ..models import EventKind, Status, Ticket, TicketEvent, User, utcnow
from ._uow import UnitOfWork, unit_of_work
from .labels import FIELD_LABELS, label_for


def closed_refusal(ticket: Ticket) -> str:
    return f'{ticket.reference} is closed; a closed ticket cannot be changed.'


def stale_message(ticket: Ticket) -> str:
    return (f'{ticket.reference} was changed by someone else since you opened it. '
            'Your change was not saved; the current values are shown now.')


def history_row(ticket_id: int, actor: User | None, kind: EventKind, body: str, *, field: str | None = None,
                old_value: str | None = None, new_value: str | None = None, internal: bool | None = None,
                data: dict[str, Any] | None = None, created_at: datetime | None = None) -> TicketEvent:
    """A chatter/history entry of a ticket (not yet added to a session). ``actor`` None: the system (rules).
    ``internal`` is the author's choice for a message; every other entry is internal as ``visibility.py`` says."""
    if internal is None or kind != EventKind.MESSAGE:
        internal = visibility.stored_internal(kind, field)
    return TicketEvent(ticket_id=ticket_id, kind=kind, actor_id=actor.id if actor is not None else None,
                       created_at=created_at or utcnow(), body=body, is_internal=internal, field=field,
                       old_value=old_value, new_value=new_value, data=data)


@functools.cache
def _touch_statement(columns: tuple[str, ...]) -> Update:
    """``touch``'s UPDATE of these columns, built once (every message posted runs one)."""
    return (update(Ticket).where(Ticket.id == bindparam('ticket_id'))
            .values({name: bindparam(f'set_{name}') for name in columns})
            .execution_options(synchronize_session=False))


async def load_for_write(session: AsyncSession, actor: User, ticket_id: Any, *, action: str,
                         expected_version: int | None = None) -> Ticket:
    """The ticket, if the actor may see it and (unless ``expected_version`` is None) nobody changed it since."""
    valid = isinstance(ticket_id, int) and not isinstance(ticket_id, bool)
    ticket = await session.get(Ticket, ticket_id) if valid else None
    if ticket is None:
        raise NotFound('Ticket not found.')
    if not await auth.may_view_ticket(session, actor, ticket):
        raise auth.deny(actor, f'{action} ticket', ticket.reference, 'Ticket not found.', error=NotFound)
    if expected_version is not None and ticket.version != expected_version:
        raise StaleWrite(stale_message(ticket), ticket.version)
    return ticket


@dataclass
class TicketWrite:
    """One change of one ticket inside one unit of work (see the module docstring)."""
    uow: UnitOfWork
    actor: User
    ticket: Ticket
    kind: str = 'field_change'  # the TicketChanged kind: created, field_change, message, team
    entries: list[TicketEvent] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # the fields the change names (pages re-read those)

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    def add(self, kind: EventKind, body: str, *, actor: User | None | bool = True, **values: Any) -> TicketEvent:
        """Add a history row by the acting user (``actor=None``: by the system) to the change."""
        row = history_row(self.ticket.id, self.actor if actor is True else actor or None, kind, body, **values)
        self.session.add(row)
        self.entries.append(row)
        return row

    async def record_change(self, field_name: str, old: Any, new: Any, *, actor: User | None | bool = True,
                            body: str | None = None, **data: Any) -> TicketEvent:
        """The history row of a field change, with readable old and new values."""
        old_label, new_label = await label_for(self.session, field_name, old), await label_for(self.session,
                                                                                              field_name, new)
        who = self.actor if actor is True else actor or None
        if body is None:
            body = f'{who.display_name if who else "Pulse Live"} changed {FIELD_LABELS.get(field_name, field_name)} ' \
                   f'{old_label} → {new_label}'
        return self.add(EventKind.FIELD_CHANGE, body, actor=who, field=field_name, old_value=old_label,
                        new_value=new_label, data={'old': old, 'new': new, **data})

    async def update(self, values: dict[str, Any], *, expected_version: int | None = None,
                     unchanged: dict[str, Any] | None = None, where: Sequence[ColumnElement[bool]] = ()) -> bool:
        """``UPDATE tickets SET values, version + 1 WHERE id AND <guards>``: the version is still
        ``expected_version`` (a lost race raises ``StaleWrite``), the ``unchanged`` columns still hold those values,
        and the ``where`` conditions hold. True when the row was written (the ticket is then read again)."""
        guards = list(where)
        if expected_version is not None:
            guards.append(Ticket.version == expected_version)
        for name, value in (unchanged or {}).items():
            column = getattr(Ticket, name)
            guards.append(column.is_(None) if value is None else column == value)
        result = cast(CursorResult[Any], await self.session.execute(
            update(Ticket).where(Ticket.id == self.ticket.id, *guards)
            .values(**values, version=Ticket.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)))  # an UPDATE: a cursor result
        if result.rowcount != 1:
            if expected_version is not None and unchanged is None and not where:
                raise StaleWrite(stale_message(self.ticket))
            return False
        await self.session.refresh(self.ticket)
        return True

    async def lock(self) -> None:
        """Read the ticket again, its row locked until the commit (PostgreSQL; on SQLite the write lock held since
        the load let nobody write it meanwhile): for a decision on columns that ``touch`` writes unguarded, e.g. the
        first response (two replies at once both read none, and the later one's time was written over the
        earlier's)."""
        if self.session.get_bind().dialect.name == 'sqlite':
            return
        await self.session.execute(select(Ticket).where(Ticket.id == self.ticket.id).with_for_update(of=Ticket)
                                   .execution_options(populate_existing=True))

    async def touch(self, **values: Any) -> None:
        """Stamp the ticket (``updated_at`` and the given columns) without a new version: a message or a linked item
        makes nobody's open edit of a field stale."""
        values = {'updated_at': utcnow(), **values}
        await self.session.execute(_touch_statement(tuple(sorted(values))),
                                   {'ticket_id': self.ticket.id, **{f'set_{k}': v for k, v in values.items()}})

    async def publish(self) -> None:
        """Announce the change after the commit (nothing when it wrote no entry). A new ticket is announced as a
        whole: the planner reads its opening row."""
        if not self.entries:
            return
        await self.session.flush()
        event_ids = () if self.kind == 'created' else tuple(e.id for e in self.entries)
        self.uow.publish_after_commit(TicketChanged(ticket_id=self.ticket.id, kind=self.kind, actor_id=self.actor.id,
                                                    event_ids=event_ids, fields=tuple(self.fields)))


@asynccontextmanager
async def ticket_write(actor: User, ticket_id: Any, *, action: str = 'change', kind: str = 'field_change',
                       expected_version: int | None = None,
                       closed: Callable[[Ticket], str] | None = closed_refusal) -> AsyncIterator[TicketWrite]:
    """Load the ticket for a change by ``actor`` in a new unit of work (see ``load_for_write``); refuse it when it
    is closed with ``closed(ticket)`` as the message (None: a closed ticket may take this change). The change is
    published after its commit."""
    async with unit_of_work() as uow:
        ticket = await load_for_write(uow.session, actor, ticket_id, action=action, expected_version=expected_version)
        if closed is not None and ticket.status == Status.CLOSED:
            raise ValidationError(closed(ticket))
        write = TicketWrite(uow, actor, ticket, kind=kind)
        yield write
        await write.publish()


async def check_ahead(actor: User, ticket_id: Any, *, action: str,
                      closed: Callable[[Ticket], str] | None = closed_refusal) -> None:
    """The refusals of ``ticket_write`` (no such ticket, not the actor's to see, closed) made ahead in a read: before
    a change's files are stored, so a refused change stores nothing (files sent to a closed ticket were stored, and
    counted by no bound: 629 MB in six refused sends). ``ticket_write`` checks again for what changes meanwhile."""
    async with db.session() as s:
        ticket = await load_for_write(s, actor, ticket_id, action=action)
        if closed is not None and ticket.status == Status.CLOSED:
            raise ValidationError(closed(ticket))


SYSTEM_NAME = 'Pulse Live'


def system_actor() -> User:
    """The acting "user" of a change the system makes by itself (the SLA clock, escalation rules): a transient,
    never stored ``User`` without an id, so history rows and the published ``TicketChanged`` name no person
    (``actor_id`` None: "Pulse Live" in the history) and no staff permission applies (its role is ``system``)."""
    return User(id=None, email='', password_hash='', role='system', display_name=SYSTEM_NAME, organisation_id=0)


@asynccontextmanager
async def system_write(ticket_id: int, *, kind: str = 'field_change') -> AsyncIterator[TicketWrite]:
    """A change by the system (no person acts; no access check: the caller decided from the ticket's own facts).
    Same shape as ``ticket_write``: one unit of work, history rows by the system, ``TicketChanged`` after commit.
    A ticket that no longer exists is ``NotFound``; a closed one is the caller's to skip."""
    async with unit_of_work() as uow:
        ticket = await uow.session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFound('Ticket not found.')
        write = TicketWrite(uow, system_actor(), ticket, kind=kind)
        yield write
        await write.publish()
