#!/usr/bin/env python3
"""Work lists and dashboard at scale: 100,000 tickets / ~1,000,000 events, server-side query times.

Builds the data with the bulk generator (pulse_live/seed/bulk.py) in a fresh SQLite file, and in PostgreSQL too when
127.0.0.1:5432 answers (database ``test``, user postgres, in a schema of its own, ``queue_scale``, dropped again at
the end, so the tests' ``public`` schema is never touched). Then it times, in-process, the read models exactly as
the pages call them:

  queue_line    one queue's unassigned line, page 1..5 (priority, then age)
  my_tickets    "My tickets" of a random agent
  open_list     "All open" with a rotating filter (priority / queue+unassigned / organisation / service+created
                range / type / status in progress) and sort
  dashboard     every dashboard aggregate (computed once per change burst in the app)
  reference     reference-number lookup (the search box's jump)

Usage (from the repository root):

    .venv/bin/python benchmarks/queue_scale.py                          # 100k tickets, 1M events, both databases
    .venv/bin/python benchmarks/queue_scale.py --tickets 20000 --db sqlite

The last line is one JSON object: per database p50/p95 in ms of each query, and whether every p95 is under the
target (100 ms).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_URL = os.environ.get('PULSE_BENCH_PG_URL', 'postgresql+asyncpg://postgres@127.0.0.1:5432/test')
PG_SCHEMA = 'queue_scale'
TARGET_P95_MS = 100.0


def pg_available() -> bool:
    try:
        with socket.create_connection(('127.0.0.1', 5432), timeout=0.5):
            return True
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def _use_sqlite(path: Path) -> None:
    from pulse_live import db
    db.init(f'sqlite+aiosqlite:///{path}')
    await db.create_all()


async def _use_postgres() -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from pulse_live import db
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE'))
        await conn.execute(text(f'CREATE SCHEMA {PG_SCHEMA}'))
    await admin.dispose()
    # the app's engine, pointed at the benchmark's own schema
    engine = create_async_engine(PG_URL, pool_size=10, max_overflow=20,
                                 connect_args={'server_settings': {'search_path': PG_SCHEMA}})
    db._engine, db._sessionmaker = engine, async_sessionmaker(engine, expire_on_commit=False)  # noqa: SLF001
    await db.create_all()


async def _drop_postgres_schema() -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE'))
    await admin.dispose()


async def _explain(name: str, factory, database: str) -> list[str]:
    """The statements one call runs, each with the database's plan (EXPLAIN QUERY PLAN / EXPLAIN)."""
    from sqlalchemy import event

    from sqlalchemy.engine import Engine

    from pulse_live import db
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))
    event.listen(Engine, 'before_cursor_execute', record)  # every engine (SQLite: the writer's too)
    try:
        await factory()
    finally:
        event.remove(Engine, 'before_cursor_execute', record)
    lines = [f'### {name} ({database})', '']
    async with db.engine().connect() as conn:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith('SELECT'):
                continue
            prefix = 'EXPLAIN QUERY PLAN ' if database == 'sqlite' else 'EXPLAIN '
            rows = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
            plan = [f'{"  " * (r[1] and 1)}{r[3]}' for r in rows] if database == 'sqlite' else [r[0] for r in rows]
            lines += ['```sql', ' '.join(statement.split()), '```', '```', *plan, '```', '']
    return lines


async def _measure(name: str, factory, iterations: int) -> dict[str, float]:
    for _ in range(3):  # warm up caches and prepared statements
        await factory()
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        await factory()
        times.append((time.perf_counter() - started) * 1000)
    p50, p95 = statistics.median(times), percentile(times, 0.95)
    print(f'  {name:<12} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   max {max(times):7.2f} ms', flush=True)
    return {f'{name}_p50_ms': round(p50, 2), f'{name}_p95_ms': round(p95, 2)}


async def run_one(database: str, args) -> dict:
    from sqlalchemy import func, select

    from pulse_live import db
    from pulse_live.seed import bulk
    from pulse_live.bus import MemoryBus, set_bus
    from pulse_live.models import Organisation, Priority, PriorityScale, Service, Status, Ticket, TicketEvent, TicketType, User
    from pulse_live.queries import dashboard, queues, tickets
    from pulse_live.services.catalog import ensure_catalog

    set_bus(MemoryBus())
    tmp = None
    print(f'== {database}', flush=True)
    if database == 'sqlite':
        tmp = Path(tempfile.mkdtemp(prefix='queue-scale-'))
        await _use_sqlite(tmp / 'pulse.db')
    else:
        await _use_postgres()
    try:
        await ensure_catalog()
        started = time.perf_counter()
        stats = await bulk.generate(tickets=args.tickets, events=args.events, seed=args.seed,
                                    progress=lambda m: print(f'  {m}', flush=True))
        build_s = time.perf_counter() - started
        rng = random.Random(1)
        async with db.session() as s:
            agent_ids = list((await s.execute(select(User.id).where(User.role == 'agent'))).scalars())
            viewer = await s.get(User, agent_ids[0])
            counts = dict((await s.execute(select(Ticket.queue_id, func.count())
                                           .where(Ticket.assignee_id.is_(None), Ticket.status.in_(['open', 'in_progress']))
                                           .group_by(Ticket.queue_id))).all())
            queue_ids = sorted(counts, key=counts.get, reverse=True)
            references = list((await s.execute(select(Ticket.reference).order_by(func.random()).limit(500))).scalars())
            priority_ids = list((await s.execute(select(Priority.id).join(PriorityScale)
                                                 .where(PriorityScale.is_active.is_(True)))).scalars())
            org_ids = list((await s.execute(select(Organisation.id).where(Organisation.is_provider.is_(False)))).scalars())
            service_ids = list((await s.execute(select(Service.id))).scalars())
            type_ids = list((await s.execute(select(TicketType.id))).scalars())
            total_tickets = (await s.execute(select(func.count()).select_from(Ticket))).scalar_one()
            total_events = (await s.execute(select(func.count()).select_from(TicketEvent))).scalar_one()
            open_count = (await s.execute(select(func.count()).select_from(Ticket)
                                          .where(Ticket.status.in_(['open', 'in_progress'])))).scalar_one()
            agents = {uid: await s.get(User, uid) for uid in agent_ids}
        print(f'  data: {total_tickets:,} tickets, {total_events:,} events, {open_count:,} open; '
              f'largest queue line {counts.get(queue_ids[0], 0):,} (built in {build_s:.0f} s)', flush=True)
        now = viewer.created_at

        def filters_for(i: int) -> tuple[queues.WorkFilters, str]:
            choice = i % 6
            if choice == 0:
                return queues.WorkFilters(priority_id=rng.choice(priority_ids)), 'priority'
            if choice == 1:
                return queues.WorkFilters(queue_id=rng.choice(queue_ids), assignee_id=0), 'oldest'
            if choice == 2:
                return queues.WorkFilters(organisation_id=rng.choice(org_ids)), 'updated'
            if choice == 3:
                return queues.WorkFilters(service_id=rng.choice(service_ids),
                                          created_from=(now - timedelta(days=30)).date(), created_to=now.date()), 'newest'
            if choice == 4:
                return queues.WorkFilters(type_id=rng.choice(type_ids)), 'priority'
            return queues.WorkFilters(status=Status.IN_PROGRESS.value, assignee_id=rng.choice(agent_ids)), 'updated'

        counter = {'i': 0}

        async def open_list():
            counter['i'] += 1
            f, sort = filters_for(counter['i'])
            await queues.open_tickets(viewer, f, sort=sort, page=1)

        if args.explain:
            lines = []
            for name, factory in (
                    ('queue_line', lambda: queues.queue_line(viewer, queue_ids[0], page=1)),
                    ('my_tickets', lambda: queues.my_tickets(agents[agent_ids[0]])),
                    ('open_list (queue + unassigned, oldest first)', lambda: queues.open_tickets(
                        viewer, queues.WorkFilters(queue_id=queue_ids[0], assignee_id=0), sort='oldest')),
                    ('open_list (organisation, recently updated)', lambda: queues.open_tickets(
                        viewer, queues.WorkFilters(organisation_id=org_ids[0]), sort='updated')),
                    ('dashboard', dashboard.compute_dashboard),
                    ('reference', lambda: tickets.find_ticket_id(viewer, references[0]))):
                lines += await _explain(name, factory, database)
            Path(args.explain).with_suffix(f'.{database}.md').write_text('\n'.join(lines))
            print(f'  plans written to {Path(args.explain).with_suffix(f".{database}.md")}')
        result = {'database': database}
        n = args.iterations
        result |= await _measure('queue_line', lambda: queues.queue_line(viewer, rng.choice(queue_ids[:3]),
                                                                         page=rng.randint(1, 5)), n)
        result |= await _measure('my_tickets', lambda: queues.my_tickets(agents[rng.choice(agent_ids)]), n)
        result |= await _measure('open_list', open_list, n)
        result |= await _measure('dashboard', dashboard.compute_dashboard, n)
        result |= await _measure('reference', lambda: tickets.find_ticket_id(viewer, rng.choice(references)), n)
        result |= {'tickets': total_tickets, 'events': total_events, 'open': open_count,
                   'build_s': round(build_s, 1), 'generator': stats}
        return result
    finally:
        await db.dispose()
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            print(f'  kept {tmp / "pulse.db"}')
        if database == 'postgresql' and not args.keep:
            await _drop_postgres_schema()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tickets', type=int, default=100_000)
    parser.add_argument('--events', type=int, default=None, help='events in all (default 10 per ticket)')
    parser.add_argument('--db', choices=['both', 'sqlite', 'postgresql'], default='both')
    parser.add_argument('--iterations', type=int, default=60)
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--keep', action='store_true', help='keep the SQLite file / PostgreSQL schema afterwards')
    parser.add_argument('--explain', metavar='FILE', help='also write the query plans to FILE.<database>.md')
    args = parser.parse_args()
    os.environ.setdefault('PULSE_DATA_DIR', tempfile.mkdtemp(prefix='queue-scale-data-'))
    databases = ['sqlite', 'postgresql'] if args.db == 'both' else [args.db]
    if 'postgresql' in databases and not pg_available():
        print('PostgreSQL is not answering on 127.0.0.1:5432: skipping it.')
        databases.remove('postgresql')
    results = [await run_one(database, args) for database in databases]
    p95s = [v for r in results for k, v in r.items() if k.endswith('_p95_ms')]
    print(json.dumps({'benchmark': 'queue_scale', 'tickets': args.tickets,
                      'events': results[0]['events'] if results else 0, 'target_p95_ms': TARGET_P95_MS,
                      'all_p95_under_target': bool(p95s) and max(p95s) < TARGET_P95_MS,
                      'results': [{k: v for k, v in r.items() if k != 'generator'} for r in results]}))


if __name__ == '__main__':
    asyncio.run(main())
