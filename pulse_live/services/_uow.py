"""One unit of work: one transaction, events published only after it committed.

Before the commit, the notification planner turns the unit's ticket changes into in-app notification and
mail outbox rows, in the same transaction: a change and the news of it are stored together or not at all.

A batch (``batch()``, the mail intake's: the mails of one fetch) is one transaction around many units of work: inside
it, each unit of work of the same task is a SAVEPOINT of the batch's session (its planner runs before the savepoint
is released; a unit that fails rolls back its savepoint only), ``Batch.part()`` is a savepoint around several units
(one mail), and every event is published after the one commit of the batch. Nothing of a batch is visible to other
sessions before that commit, so code running inside a batch reads through ``reading()`` (the batch's session).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from .. import db
from ..bus import get_bus
from ..events import Event, TicketChanged


@dataclass
class UnitOfWork:
    session: AsyncSession
    events: list[Event] = field(default_factory=list)

    def publish_after_commit(self, event: Event) -> None:
        self.events.append(event)


@dataclass
class Batch:
    """One transaction around many units of work of one task (see the module docstring)."""
    session: AsyncSession
    events: list[Event] = field(default_factory=list)

    @asynccontextmanager
    async def part(self) -> AsyncIterator[None]:
        """A savepoint around several units of work: an exception rolls back what they wrote and drops the events
        they would have published; the batch goes on."""
        published = len(self.events)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self.events[published:]
            raise


_batch: ContextVar[Batch | None] = ContextVar('uow_batch', default=None)


@asynccontextmanager
async def batch() -> AsyncIterator[Batch]:
    """One transaction for the units of work this task runs inside it; their events are published after its commit.
    (SQLite: the process's write lock is held for the whole batch — keep batches short.)"""
    from ..notify import planner, sender
    async with db.write_lock(), db.session() as session:
        current = Batch(session)
        session.sync_session.info[planner.BATCH_INFO] = True  # the planner may keep its audience reads for the batch
        token = _batch.set(current)
        try:
            async with session.begin():
                if db.is_sqlite():
                    # pysqlite begins a transaction only before a write, and a SAVEPOINT outside a transaction is
                    # one of its own whose RELEASE commits: begun here, the batch is one transaction (the process
                    # holds the write lock anyway, so IMMEDIATE costs no waiting)
                    await db.begin_immediate(session)
                yield current
        finally:
            _batch.reset(token)
    bus = get_bus()
    for event in current.events:
        await bus.publish(event)
    sender.wake()  # a bounce or a notification mail may wait in the outbox


def in_batch() -> Batch | None:
    return _batch.get()


@asynccontextmanager
async def reading() -> AsyncIterator[AsyncSession]:
    """A session to read with: the batch's own (it sees what the batch wrote) inside a batch, else a new one."""
    current = _batch.get()
    if current is not None:
        yield current.session
        return
    async with db.session() as session:
        yield session


_joined: ContextVar[list[Callable[[UnitOfWork], Awaitable[None]]] | None] = ContextVar('uow_joined', default=None)


@contextmanager
def join_next_unit(write: Callable[[UnitOfWork], Awaitable[None]]) -> Iterator[None]:
    """Run ``write(uow)`` inside the next unit of work this task commits, just before its commit: a caller's own row
    (e.g. the imported-mail record of the mail intake) is stored with the change a service makes, or not at all.
    The service is called unchanged; ``write`` runs once."""
    token = _joined.set([write])
    try:
        yield
    finally:
        _joined.reset(token)


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[UnitOfWork]:
    from ..notify import planner, sender
    outer = _batch.get()
    if outer is not None:  # inside a batch: a savepoint of its transaction, published after the batch's commit
        uow = UnitOfWork(outer.session)
        async with outer.session.begin_nested():
            yield uow
            joined = _joined.get()
            while joined:
                await joined.pop()(uow)
            for change in [e for e in uow.events if isinstance(e, TicketChanged)]:
                uow.events.extend(await planner.plan(outer.session, change))
            await outer.session.flush()
        outer.events.extend(uow.events)
        return
    async with db.write_lock(), db.session() as session:  # SQLite: one writer at a time (db.write_lock)
        uow = UnitOfWork(session)
        async with session.begin():
            yield uow
            joined = _joined.get()
            while joined:
                await joined.pop()(uow)
            for change in [e for e in uow.events if isinstance(e, TicketChanged)]:
                uow.events.extend(await planner.plan(session, change))
            await session.flush()
    bus = get_bus()
    for event in uow.events:
        await bus.publish(event)
    if uow.events:
        sender.wake()
