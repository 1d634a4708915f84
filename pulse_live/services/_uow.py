"""One unit of work: one transaction, events published only after it committed.

Before the commit, the notification planner turns the unit's ticket changes into in-app notification and
mail outbox rows, in the same transaction: a change and the news of it are stored together or not at all.
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
    async with db.session() as session:
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
