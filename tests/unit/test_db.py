"""The database layer: on SQLite, writers of one process wait their turn instead of failing."""
from __future__ import annotations

import asyncio

from sqlalchemy import event, func, select

from pulse_live import db
from pulse_live.models import TicketEvent
from pulse_live.services import chatter
from pulse_live.services._uow import join_next_unit
from tests.factories import make_ticket


async def test_parallel_writers_never_see_database_is_locked(people, database) -> None:
    """Ten messages posted at once, each transaction holding the database for 0.1 s before its commit (as a write
    does when the event loop is busy), while SQLite itself would give up waiting after 0.2 s: every post succeeds
    and is stored once."""
    ticket = await make_ticket(people)
    anna = people.users['anna@pulse.demo']

    def short_busy_timeout(dbapi_connection, *_args) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute('PRAGMA busy_timeout=200')
        cursor.close()
    if database == 'sqlite':
        event.listen(db.engine().sync_engine.pool, 'checkout', short_busy_timeout)

    async def hold(_uow) -> None:
        await asyncio.sleep(0.1)

    async def post(i: int) -> None:
        with join_next_unit(hold):
            await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'parallel {i}')

    results = await asyncio.gather(*(post(i) for i in range(10)), return_exceptions=True)
    assert [repr(r) for r in results if isinstance(r, BaseException)] == []
    async with db.session() as s:
        stored = await s.scalar(select(func.count()).select_from(TicketEvent)
                                .where(TicketEvent.ticket_id == ticket.id, TicketEvent.body.like('parallel %')))
    assert stored == 10


async def test_the_postgresql_pool_follows_the_settings(monkeypatch) -> None:
    """An operator sizes the pool per process (processes × connections must fit PostgreSQL's max_connections)."""
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_DB_POOL_SIZE', '3')
    monkeypatch.setenv('PULSE_DB_MAX_OVERFLOW', '1')
    monkeypatch.setenv('PULSE_DB_POOL_TIMEOUT_S', '0.5')
    reset_settings()
    engine = db.make_engine('postgresql+asyncpg://postgres@127.0.0.1:5432/test')
    try:
        pool = engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 1, 0.5)  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
        monkeypatch.undo()
        reset_settings()
