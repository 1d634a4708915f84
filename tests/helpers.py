"""Reads and steps the unit tests share: a ticket's history, the mail outbox, sending what is due.

Data to start from is made in tests/factories.py; this module only reads back what the services wrote, or moves the
mail queue on as time would."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, event, select, update

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.events import TicketChanged
from pulse_live.models import MailOutbox, Priority, ResolutionCode, Ticket, TicketEvent, User, utcnow
from pulse_live.notify import sender
from pulse_live.queries import customers as customer_queries
from pulse_live.services import prioritisation


async def history(ticket_id: int, *, field: str | None = None, kind: str | None = None) -> list[TicketEvent]:
    """The ticket's history rows, oldest first; only those of ``field`` or of ``kind`` when given."""
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
    if field is not None:
        query = query.where(TicketEvent.field == field)
    if kind is not None:
        query = query.where(TicketEvent.kind == kind)
    async with db.session() as s:
        return list((await s.execute(query)).scalars())


async def new_values(ticket_id: int, field: str) -> list[str | None]:
    """The values ``field`` was set to, in the order of the history."""
    return [row.new_value for row in await history(ticket_id, field=field)]


async def priority_names() -> dict[int, str]:
    """Priority names by id (every scale)."""
    async with db.session() as s:
        return dict((await s.execute(select(Priority.id, Priority.name))).all())


async def resolution_code_id(name: str = 'Fixed') -> int:
    """The id of the resolution code called ``name``."""
    async with db.session() as s:
        return (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == name))).scalar_one()


async def assess(actor: User, ticket: Ticket, **values: Any) -> Ticket:
    """``actor`` sets impact / urgency (``values``) on the ticket as last read."""
    return await prioritisation.set_assessment(actor=actor, ticket_id=ticket.id, expected_version=ticket.version,
                                               **values)


async def people_found(viewer: User, text: str) -> list[str]:
    """The names caller identification finds for ``text``, best first."""
    return [h.name for h in await customer_queries.search_people(viewer, text)]


async def age_ticket(ticket_id: int, hours: float) -> None:
    """The ticket was created ``hours`` ago."""
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == ticket_id)
                        .values(created_at=utcnow() - timedelta(hours=hours)))


async def make_due() -> None:
    """Travel past the batch window / backoff: everything pending is due now."""
    async with db.session() as s, s.begin():
        await s.execute(update(MailOutbox).where(MailOutbox.status == 'pending')
                        .values(next_attempt_at=utcnow(), locked_until=None))


async def drain() -> None:
    """Send every pending mail now (past the batch window), retries included, until nothing is due."""
    from pulse_live.services import accounts
    await accounts.settle_link_mails()  # a password link mail is written after the form's answer
    await make_due()
    while await sender.send_due():
        await make_due()


async def outbox() -> list[MailOutbox]:
    """Every mail in the outbox, oldest first."""
    async with db.session() as s:
        return list((await s.execute(select(MailOutbox).order_by(MailOutbox.id))).scalars())


async def clear_outbox() -> None:
    """Forget the mails written so far (the set-up's), so a test reads only its own."""
    async with db.session() as s, s.begin():
        await s.execute(delete(MailOutbox))


def ticket_changes() -> list[TicketChanged]:
    """The TicketChanged events published so far in this test (the test bus keeps them)."""
    return [e for e in get_bus().published if isinstance(e, TicketChanged)]


@contextmanager
def delivered() -> Iterator[list[Any]]:
    """The events the bus delivers to a subscriber while the block runs."""
    seen: list[Any] = []

    async def keep(event: Any) -> None:
        seen.append(event)
    unsubscribe = get_bus().subscribe(keep)
    try:
        yield seen
    finally:
        unsubscribe()


async def with_statements(call):
    """The awaited result of ``call`` and every (statement, parameters) it sent to the database."""
    statements: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, *_args) -> None:
        statements.append((statement, parameters))

    sync_engines = db.sync_engines()  # quick reads and writes run on SQLite's inline engines
    for sync_engine in sync_engines:
        event.listen(sync_engine, 'before_cursor_execute', seen)
    try:
        result = await call
    finally:
        for sync_engine in sync_engines:
            event.remove(sync_engine, 'before_cursor_execute', seen)
    return result, statements
