"""The database layer: on SQLite, writers of one process wait their turn instead of failing."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, func, select

from pulse_live import db
from pulse_live.models import TicketEvent
from pulse_live.services import chatter
from pulse_live.services._uow import join_next_unit
from tests.factories import make_ticket


class LoopTurns:
    """How often the event loop got to other work while a block ran: a task counting its turns (``count``)."""

    def __init__(self, pause: float = 0.0) -> None:
        self.count, self._pause = 0, pause
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(self._pause)

    async def __aenter__(self) -> LoopTurns:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


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


async def test_a_sqlite_write_transaction_is_not_stretched_by_a_busy_event_loop(people, database) -> None:
    """SQLite has one writer at a time; if the writer's statements each waited for the event loop's next turn, every
    other coroutine (browsers being re-rendered) would run inside its transaction and stretch the write lock. From the
    first statement of a post to its commit, other tasks get a turn only once per ``SLICE_S`` of its running time (a
    long write must not freeze the loop either); reads outside the write still wait on a thread, the loop turning."""
    if database != 'sqlite':
        pytest.skip('PostgreSQL has row locks, not one writer')
    from sqlalchemy.engine import Engine
    ticket = await make_ticket(people)
    anna = people.users['anna@pulse.demo']
    turns = LoopTurns()
    seen: dict[int, list[int]] = {}
    committed: list[int] = []
    clock = asyncio.get_running_loop().time

    def on_statement(conn, *_args) -> None:
        seen.setdefault(id(conn.connection.dbapi_connection), []).append((turns.count, clock()))

    def on_commit(conn) -> None:
        key = id(conn.connection.dbapi_connection)
        seen.setdefault(key, []).append((turns.count, clock()))
        committed.append(key)

    event.listen(Engine, 'before_cursor_execute', on_statement)
    event.listen(Engine, 'commit', on_commit)
    try:
        async with turns:
            await chatter.post_message(actor=anna, ticket_id=ticket.id, body='no turns for others inside me')
            async with db.session() as s:  # a read: its statement runs on a thread, the loop turns meanwhile
                before = turns.count
                assert await s.scalar(select(func.count()).select_from(TicketEvent)
                                      .where(TicketEvent.body == 'no turns for others inside me')) == 1
                assert turns.count > before
    finally:
        event.remove(Engine, 'before_cursor_execute', on_statement)
        event.remove(Engine, 'commit', on_commit)
    assert committed, 'the post committed nothing'
    from pulse_live.sqlite_inline import SLICE_S
    writer = seen[committed[0]]
    others_ran = writer[-1][0] - writer[0][0]
    took_s = writer[-1][1] - writer[0][1]
    assert len(writer) > 3 and others_ran <= 1 + took_s / SLICE_S, \
        f'{len(writer)} statements in {took_s * 1000:.0f} ms, other tasks ran {others_ran} times meanwhile'


async def test_a_long_sqlite_write_still_gives_the_event_loop_turns(people, database) -> None:
    """A write that runs long (a batch of mails, rescheduling every open ticket) must not freeze every browser: the
    loop gets a turn at least every few tens of milliseconds of it."""
    if database != 'sqlite':
        pytest.skip('PostgreSQL statements always wait on the network')
    import gc

    from sqlalchemy import text
    gc.disable()  # a full collection of the suite's heap (~0.2 s) inside one statement would eat the time measured
    try:
        async with LoopTurns() as turns, db.write_lock(), db.session() as s, s.begin():
            await s.execute(text('CREATE TEMP TABLE filler (n INTEGER)'))
            started, before, statements = asyncio.get_running_loop().time(), turns.count, 0
            while asyncio.get_running_loop().time() - started < 0.3:  # 0.3 s of statements in one transaction
                await s.execute(text('INSERT INTO filler VALUES (:n)'), {'n': statements})
                statements += 1
            during = turns.count - before
    finally:
        gc.enable()
    assert statements > 10 and during >= 5, f'{statements} statements in 0.3 s, the loop had {during} turns'


async def test_a_write_outside_the_lock_neither_freezes_the_loop_nor_fails_the_writer(people, database) -> None:
    """Found by the UI suite: code that writes without the write lock (here: the test's own session) holds SQLite's
    lock while it waits for the loop; the writer of the process must wait for it on the loop, not in SQLite's busy
    handler — that froze the loop for the 10 s busy timeout and the post failed with "database is locked"."""
    if database != 'sqlite':
        pytest.skip('PostgreSQL has row locks, not one writer')
    from sqlalchemy import update

    from pulse_live.models import Ticket
    ticket = await make_ticket(people)
    anna = people.users['anna@pulse.demo']
    async with LoopTurns(pause=0.001) as turns:
        async with db.session() as outside:
            await outside.execute(update(Ticket).where(Ticket.id == ticket.id).values(title='Held outside the lock'))
            post = asyncio.create_task(chatter.post_message(actor=anna, ticket_id=ticket.id, body='waits its turn'))
            before = turns.count
            await asyncio.sleep(0.3)  # the post waits for SQLite's lock meanwhile
            assert not post.done()
            assert turns.count - before > 20, 'the loop stood still while the post waited'
            await outside.commit()
        await asyncio.wait_for(post, 10)
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(TicketEvent)
                              .where(TicketEvent.body == 'waits its turn')) == 1
        assert (await s.get(Ticket, ticket.id)).title == 'Held outside the lock'


async def test_a_write_of_the_app_without_the_write_lock_is_caught(people, database) -> None:
    """The guard behind the suite's "no write without the lock" check: it must see the app's code that called
    ``session.execute`` (SQLAlchemy runs the statement hook in a greenlet whose own stack shows none of it)."""
    if database != 'sqlite':
        pytest.skip('the lock is SQLite\'s')
    from sqlalchemy import text
    source = ('async def write(db, text):\n'
              '    async with db.session() as s:\n'
              "        await s.execute(text(\"UPDATE users SET display_name = display_name WHERE id = 0\"))\n"
              '        await s.commit()\n')
    namespace: dict = {}
    exec(compile(source, '/srv/app/pulse_live/services/careless.py', 'exec'), namespace)  # noqa: S102
    try:
        await namespace['write'](db, text)
        assert any('services/careless.py:3' in where for where in db.unlocked_writes), db.unlocked_writes
        db.unlocked_writes.clear()  # (found on purpose: the suite's fixture would fail this test)
        async with db.write_lock():
            await namespace['write'](db, text)
        assert db.unlocked_writes == []
    finally:
        db.unlocked_writes.clear()


async def test_short_reads_and_a_posted_message_run_without_the_async_facade_on_sqlite(people, database,
                                                                                        monkeypatch) -> None:
    """On SQLite the short reads and the write lock holder's statements run synchronously on the loop's thread
    (``sqlite_inline.SyncSessionOnLoop``): SQLAlchemy's async facade (a greenlet per call, a switch per DBAPI call)
    cost more than the statements. A ticket view and a post spawn no greenlet, and give the same answers."""
    if database != 'sqlite':
        pytest.skip('PostgreSQL runs through asyncpg')
    import sqlalchemy.ext.asyncio.session as async_session

    from pulse_live.queries import tickets as ticket_queries
    ticket = await make_ticket(people)
    anna = people.users['anna@pulse.demo']
    spawned: list[object] = []
    real = async_session.greenlet_spawn

    def counted(fn, *args, **kwargs):
        spawned.append(fn)
        return real(fn, *args, **kwargs)
    monkeypatch.setattr(async_session, 'greenlet_spawn', counted)
    event = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='without a greenlet')
    view = await ticket_queries.ticket_view(anna, ticket.id)
    assert spawned == []
    assert view is not None and [e.body for e in view.events][-1] == 'without a greenlet' and event is not None
    async with db.session() as s:  # a reader outside the write lock: still the async engine (a thread of its own)
        assert await s.scalar(select(func.count()).select_from(TicketEvent)
                              .where(TicketEvent.body == 'without a greenlet')) == 1
    assert spawned


async def test_a_ticket_pages_short_reads_do_not_wait_for_the_event_loop(people, database) -> None:
    """A statement through aiosqlite's thread cost ~0.7 ms of CPU and waited for the loop's next turn (on a busy
    server most of a page's time); the ticket page's short reads run inline on SQLite (``db.quick``), ~0.25 ms: the
    loop gets no turns while a statement runs (a few as a session opens and closes; one per ``sqlite_inline.SLICE_S``
    of a long read), where a reader's thread let it spin a thousand times for these six statements."""
    if database != 'sqlite':
        pytest.skip('PostgreSQL has no inline connections')
    from pulse_live.queries import tickets as ticket_queries
    from tests.helpers import with_statements
    ticket = await make_ticket(people)
    anna = people.users['anna@pulse.demo']
    async with LoopTurns() as turns:
        before = turns.count
        view, statements = await with_statements(ticket_queries.ticket_view(anna, ticket.id))
        during = turns.count - before
    assert view is not None and view.ticket.id == ticket.id
    assert len(statements) >= 5
    assert during <= 2 * len(statements), f'the loop turned {during} times for {len(statements)} statements'

    # who is signed in, asked by every page build and every ticket opened in place: inline as well
    from pulse_live import auth
    async with LoopTurns() as turns:
        before = turns.count
        user, statements = await with_statements(auth.get_user(anna.id))
        during = turns.count - before
    assert user is not None and user.id == anna.id and len(statements) == 1
    assert during <= 3, f'the loop turned {during} times while the user was read'


async def _inline(name: str, call) -> None:
    """The call's statements ran without the loop taking turns in between (inline), and there were some."""
    from tests.helpers import with_statements
    async with LoopTurns() as turns:
        before = turns.count
        _answer, statements = await with_statements(call)
        during = turns.count - before
    assert statements, name
    assert during <= 2 * len(statements), f'{name}: the loop turned {during} times for {len(statements)}'


async def test_the_ticket_lists_reads_do_not_wait_for_the_event_loop(people, database) -> None:
    """The ticket list, a queue's line, my tickets and the saved views of the list's navigation are short reads:
    inline on SQLite. Through a reader's thread each statement's hand-overs waited for the loop's next turns, and
    under ``benchmarks/desk_load.py`` the list's HTML took 0.8–1 s, nearly all of it inside its three readers'
    sessions. A text search of the list (a scan of every title) stays on a reader's thread."""
    if database != 'sqlite':
        pytest.skip('PostgreSQL has no inline connections')
    from pulse_live.queries import queues, saved_views
    from tests.helpers import with_statements
    ticket = await make_ticket(people, title='A printer on fire')
    anna = people.users['anna@pulse.demo']
    for name, call in (('open tickets', lambda: queues.open_tickets(anna)),
                       ('a queue line', lambda: queues.queue_line(anna, ticket.queue_id or 0)),
                       ('my tickets', lambda: queues.my_tickets(anna)),
                       ('saved views', lambda: saved_views.visible_views(anna))):
        await _inline(name, call())
    found = await queues.open_tickets(anna)
    assert ticket.reference in [r.reference for r in found.rows]

    async with LoopTurns() as turns:
        before = turns.count
        searched, statements = await with_statements(
            queues.open_tickets(anna, queues.WorkFilters(search='printer')))
        during = turns.count - before
    assert [r.reference for r in searched.rows] == [ticket.reference]
    assert during > 2 * len(statements), 'a text search runs on a reader\'s thread: the loop goes on meanwhile'

    # the organisations of the filter are kept a moment, as the other lists of every page (lookups.kept)
    from pulse_live.queries import lookups
    first = await queues.organisations()
    reads = lookups.reads[0]
    assert await queues.organisations() == first and lookups.reads[0] == reads


async def test_the_lists_every_ticket_page_asks_for_do_not_wait_for_the_event_loop(people, database) -> None:
    """A ticket page's detail fields, team and composer ask for short lists (types, priorities, services, queues,
    resolution codes, agents, the queues' members, organisations, @-mention candidates), kept a moment and then read
    again: inline on SQLite. Through a reader's thread each of those statements waited for the busy loop's turns
    (90-400 ms each under ``benchmarks/desk_load.py``), and a page that found its copies out of date waited for six."""
    if database != 'sqlite':
        pytest.skip('PostgreSQL has no inline connections')
    from pulse_live.queries import catalog, lookups, queues
    anna = people.users['anna@pulse.demo']
    for name, call in (('types', catalog.ticket_types), ('priorities', catalog.priorities),
                       ('priority colours', catalog.priority_colors), ('services', catalog.services),
                       ('queues', catalog.queues), ('resolution codes', catalog.resolution_codes),
                       ('agents', catalog.agents), ('mention candidates', catalog.mention_candidates),
                       ('queue members', lambda: queues.queues_not_takeable(anna)),
                       ('organisations', queues.organisations)):
        lookups.forget_all()  # read afresh, not the kept copy
        await _inline(name, call())
    assert 'Anna Keller' in (await catalog.agents()).values()  # and the answers are the lists themselves


async def test_many_sessions_at_once_reuse_the_connections_they_opened(people, database) -> None:
    """A new SQLite connection parses the whole schema and prepares every statement afresh; with SQLAlchemy's default
    pool (5 kept, 10 more opened and closed again) a busy desk opened ~20 a second. Pages reading at once keep their
    connections for the next: a second wave of as many sessions as the first opens none."""
    if database != 'sqlite':
        pytest.skip('the PostgreSQL pool follows the settings (test_the_postgresql_pool_follows_the_settings)')
    opened: list[str] = []
    engines = db.sync_engines()
    assert len(engines) == 2  # the readers' (aiosqlite) and the inline one (the writer and the short reads)
    for engine in engines:
        event.listen(engine, 'connect', lambda *_: opened.append('connect'))
    waves = {db.quick: 30, db.session: db.SQLITE_READERS_KEPT}  # desk_load.py's busiest moment: ~25 inline at once

    async def hold(session_of, gate: asyncio.Event) -> int:
        async with session_of() as s:
            value = (await s.execute(select(func.count(TicketEvent.id)))).scalar_one()
            await gate.wait()  # every session of the wave is open at once
            return value

    for round_ in range(2):
        gate = asyncio.Event()
        tasks = [asyncio.create_task(hold(maker, gate)) for maker, wave in waves.items() for _ in range(wave)]
        await asyncio.sleep(0.2)
        gate.set()
        assert len(set(await asyncio.gather(*tasks))) == 1
        if round_ == 0:
            first = len(opened)
            assert first >= 1
    assert len(opened) == first, f'the second wave opened {len(opened) - first} new connections'


async def test_the_lock_holders_second_session_reads_while_its_first_has_written(people, database) -> None:
    """A writer's session takes SQLite's write lock at its first write, not at its first statement: a second session
    of the same task (a query helper called inside a unit of work) still reads, as it did before the inline sessions
    became synchronous — begun IMMEDIATE at once, it waited the whole busy wait and failed "database is locked"."""
    if database != 'sqlite':
        pytest.skip('the lock is SQLite\'s')
    import sqlite3

    from sqlalchemy import update

    from pulse_live.models import Ticket
    ticket = await make_ticket(people)
    path = db.engine().url.database
    async with db.write_lock(), db.session() as first, first.begin():
        assert await first.scalar(select(Ticket.title).where(Ticket.id == ticket.id)) is not None
        other = sqlite3.connect(path, timeout=0)  # a read does not hold the write lock: another process can write
        other.execute('BEGIN IMMEDIATE')
        other.rollback()
        await first.execute(update(Ticket).where(Ticket.id == ticket.id).values(title='Written by the first'))
        started = asyncio.get_running_loop().time()
        async with db.session() as second:
            assert await second.scalar(select(func.count()).select_from(TicketEvent)) >= 0
        assert asyncio.get_running_loop().time() - started < 1
        with pytest.raises(sqlite3.OperationalError, match='locked'):  # now the first holds it
            other.execute('BEGIN IMMEDIATE')
        other.close()
    async with db.quick() as s:
        assert await s.scalar(select(Ticket.title).where(Ticket.id == ticket.id)) == 'Written by the first'


async def test_many_short_reads_at_once_never_wait_for_a_connection(people, database) -> None:
    """The inline pool is synchronous: a checkout that waited for a free connection would block the event loop, and
    with it the sessions that would free one. None waits: 200 sessions held at once each get one."""
    if database != 'sqlite':
        pytest.skip('PostgreSQL sessions wait for a connection on the loop')
    gate = asyncio.Event()

    async def hold() -> int:
        async with db.quick() as s:
            value = (await s.execute(select(func.count(TicketEvent.id)))).scalar_one()
            await gate.wait()
            return value

    tasks = [asyncio.create_task(hold()) for _ in range(200)]
    await asyncio.sleep(0.2)
    assert not any(t.done() for t in tasks)
    gate.set()
    assert len(set(await asyncio.wait_for(asyncio.gather(*tasks), 10))) == 1


async def test_an_attribute_loaded_on_access_is_refused_as_on_postgresql(people, database) -> None:
    """On PostgreSQL an expired attribute read outside an awaited call fails (SQLAlchemy's async facade); the SQLite
    sessions, synchronous on the loop, refuse it too, so the tests on SQLite catch it."""
    from sqlalchemy.exc import MissingGreenlet, StatementError

    from pulse_live.models import Ticket
    from pulse_live.sqlite_inline import OutsideAnAwaitedCall
    ticket = await make_ticket(people)
    async with db.quick() as s:
        row = await s.get(Ticket, ticket.id)
        assert row is not None and row.title == ticket.title
        s.expire(row)
        with pytest.raises((OutsideAnAwaitedCall, MissingGreenlet, StatementError)):
            _ = row.title
        await s.refresh(row)  # awaited, it reads
        assert row.title == ticket.title
