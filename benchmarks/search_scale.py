#!/usr/bin/env python3
"""Search at scale: 100,000 tickets, 1,000,000 chatter events, 2,000 articles, on SQLite and PostgreSQL.

Builds the data with the bulk generator (pulse_live/seed/bulk.py: Core bulk inserts, past the sessions) in a fresh
SQLite file, and in PostgreSQL too when 127.0.0.1:5432 answers (database ``test``, a schema of its own,
``search_scale``, dropped at the end); adds 2,000 articles (bulk inserts) and the judged set's documents
(``search_judged.json``: 30 queries, five expected best hits each, planted at random ages, and ten newer distractors
each that mention the words only in their text). Then:

  index_build_s     ``pulse_live.search.index.rebuild``: every document from the stored rows, the engine's index
                    built once (what ``pulse-live search-reindex`` runs)
  typeahead         what the header box asks per keystroke, as an agent: ``queries.search.search(per_group=5)`` over
                    all five groups (tickets, messages, articles, customers, organisations) with the details and
                    highlighted snippets, for every prefix as the 30 judged queries and 10 common words of the bulk
                    data (in a million messages) are typed
  full              the results page: all groups with 10 each, and one kind with 20
  precision_at_5    per judged query, the share of expected hits among the top five of its kind, averaged

Usage (from the repository root):

    .venv/bin/python benchmarks/search_scale.py                                  # the issue's size, both databases
    .venv/bin/python benchmarks/search_scale.py --tickets 10000 --events 100000 --articles 200 --db sqlite

The last line is one JSON object: {"results": [{"database", "typeahead_p50_ms", "typeahead_p95_ms", "full_p95_ms",
"index_build_s", "precision_at_5"}, …]}.
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
PG_SCHEMA = 'search_scale'
JUDGED = Path(__file__).with_name('search_judged.json')
COMMON = ['screenshot', 'vpn', 'printer', 'thanks', 'error', 'working', 'proxy', 'fix', 'morning', 'login']
TOPICS = ['account', 'mailbox', 'laptop', 'network', 'printer', 'phone', 'software', 'access', 'security', 'meeting',
          'storage', 'travel', 'payroll', 'website', 'database', 'badge', 'screen', 'keyboard', 'licence', 'cloud']
ACTIONS = ['Set up', 'Troubleshoot', 'Request', 'Replace', 'Configure', 'Reset', 'Move', 'Share', 'Update', 'Remove']
FILLER = ('This guide explains the steps for {t}. Open the settings, choose the option for {t} and follow the '
          'instructions on the screen. If it still fails, contact the service desk with a screenshot.')


def pg_available() -> bool:
    try:
        with socket.create_connection(('127.0.0.1', 5432), timeout=0.5):
            return True
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _drop_pg_schema(schema: str = PG_SCHEMA) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    admin = create_async_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS {schema} CASCADE'))
    await admin.dispose()


async def _open(database: str, tmp: Path | None, *, schema: str = PG_SCHEMA, fresh: bool = True) -> None:
    """The database of a run: made afresh (``fresh``), or a kept one opened as it is (``--keep``)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from pulse_live import db
    if database == 'sqlite':
        assert tmp is not None
        db.init(f'sqlite+aiosqlite:///{tmp / "pulse.db"}', schema='')
    else:
        if fresh:
            await _drop_pg_schema(schema)
            admin = create_async_engine(PG_URL)
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA {schema}'))
            await admin.dispose()
        db.init(PG_URL, schema=schema)
    if fresh:
        await db.create_all()


async def _articles_and_judged(count: int, judged: list[dict], rng: random.Random) -> dict[int, dict]:
    """2,000 articles (bulk insert), then the judged documents; returns per judged query the ids of its hits."""
    from sqlalchemy import func, insert, select

    from pulse_live import db
    from pulse_live.models import Article, Ticket, User, utcnow
    now = utcnow()
    async with db.engine().begin() as conn:
        author = (await conn.execute(select(User.id).where(User.role == 'agent').limit(1))).scalar_one()
        base = (await conn.execute(select(func.coalesce(func.max(Article.id), 0)))).scalar_one()
        rows = []
        for i in range(count):
            topic = TOPICS[i % len(TOPICS)]
            action = ACTIONS[(i // len(TOPICS)) % len(ACTIONS)]
            when = now - timedelta(days=rng.random() * 700)
            rows.append({'id': base + i + 1, 'title': f'{action} {topic} ({i // 200 + 1})',
                         'body': FILLER.format(t=topic), 'tags': [topic], 'visibility': 'public' if i % 3 else
                         'internal', 'status': 'published', 'author_id': author, 'version': 1, 'created_at': when,
                         'updated_at': when, 'helpful_yes': 0, 'helpful_no': 0, 'deflections': 0})
        await conn.execute(insert(Article), rows)
        template = dict((await conn.execute(select(Ticket.__table__).limit(1))).one()._mapping)  # a bulk ticket
        next_article = base + count
        next_ticket = (await conn.execute(select(func.max(Ticket.id)))).scalar_one()
        expected: dict[int, dict] = {}
        for n, q in enumerate(judged):
            ids: list[int] = []
            docs = [(title, q['query'] + ' ' + 'details follow', 300 + rng.random() * 300) for title in q['relevant']]
            docs += [(f'Question {n}-{d} from a colleague', q['distractor_text'], rng.random() * 100)
                     for d in range(10)]  # newer: a recency-only ranking would put them first
            for k, (title, body, age_days) in enumerate(docs):
                when = now - timedelta(days=age_days)
                if q['kind'] == 'article':
                    next_article += 1
                    await conn.execute(insert(Article).values(
                        id=next_article, title=title, body=body, tags=[], visibility='public', status='published',
                        author_id=author, version=1, created_at=when, updated_at=when, helpful_yes=0, helpful_no=0,
                        deflections=0))
                    new_id = next_article
                else:
                    next_ticket += 1
                    values = {**template, 'id': next_ticket, 'reference': f'JDG-{n:02d}-{k:02d}', 'title': title,
                              'description': body, 'created_at': when, 'updated_at': when, 'version': 1}
                    await conn.execute(insert(Ticket).values(**values))
                    new_id = next_ticket
                if k < len(q['relevant']):
                    ids.append(new_id)
            expected[n] = {'query': q['query'], 'kind': q['kind'], 'ids': set(ids)}
        if conn.dialect.name == 'postgresql':
            from sqlalchemy import text
            for name in ('kb_articles', 'tickets'):
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                        f'(SELECT max(id) FROM {name}))'))
    return expected


def _prefixes(query: str) -> list[str]:
    """What the box sees while the query is typed (the browser's debounce sends about every second letter)."""
    return [query[:i] for i in range(2, len(query) + 1, 2)] + ([query] if len(query) % 2 else [])


async def _timed(call) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def run_one(database: str, args) -> dict:
    from sqlalchemy import func, select

    from pulse_live import db
    from pulse_live.bus import MemoryBus, set_bus
    from pulse_live.models import SearchDocument, User
    from pulse_live.queries import search as search_queries
    from pulse_live.search import index
    from pulse_live.seed import bulk
    from pulse_live.services.catalog import ensure_catalog

    set_bus(MemoryBus())
    name = f'{database}_{args.tickets}_{args.events}_{args.articles}_{args.seed}'
    keep = Path(args.keep).resolve() if args.keep else None
    state = keep / f'{name}.json' if keep else None
    reuse = state is not None and state.exists()
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        tmp = keep / name if database == 'sqlite' else None
        if tmp is not None:
            if not reuse:
                shutil.rmtree(tmp, ignore_errors=True)  # a run that stopped before its index was built
            tmp.mkdir(exist_ok=True)
    else:
        tmp = Path(tempfile.mkdtemp(prefix='search-scale-')) if database == 'sqlite' else None
    schema = f'search_scale_{name}'.replace('postgresql', 'pg') if keep else PG_SCHEMA
    print(f'== {database}' + (f' (kept data in {tmp or schema}{", reused" if reuse else ""})' if keep else ''),
          flush=True)
    await _open(database, tmp, schema=schema, fresh=not reuse)
    try:
        judged = json.loads(JUDGED.read_text())['queries']
        if reuse:
            assert state is not None
            expected = {int(n): {**e, 'ids': set(e['ids'])} for n, e in json.loads(state.read_text()).items()}
        else:
            await ensure_catalog()
            started = time.perf_counter()
            await bulk.generate(tickets=args.tickets, events=args.events, seed=args.seed,
                                progress=lambda m: print(f'  {m}', flush=True))
            expected = await _articles_and_judged(args.articles, judged, random.Random(args.seed))
            print(f'  data made in {time.perf_counter() - started:.0f} s', flush=True)

        built: dict = {'documents': '(index kept as it was: --skip-reindex)'}
        build_s = 0.0
        if not (reuse and args.skip_reindex):
            started = time.perf_counter()
            async with db.engine().begin() as conn:
                built = await conn.run_sync(index.rebuild)
            build_s = time.perf_counter() - started
        if state is not None and not reuse:  # the data is kept once its index is built
            state.write_text(json.dumps({n: {**e, 'ids': sorted(e['ids'])} for n, e in expected.items()}))
        async with db.session() as s:
            docs = (await s.execute(select(func.count(SearchDocument.id)))).scalar_one()
            viewer = (await s.execute(select(User).where(User.role == 'agent').limit(1))).scalar_one()
        print(f'  index: {docs:,} documents {built["documents"]} built in {build_s:.1f} s', flush=True)

        typed = [p for q in judged for p in _prefixes(q['query'])] + [p for w in COMMON for p in _prefixes(w)]
        for text in typed[:10]:  # warm up caches and prepared statements
            await search_queries.search(viewer, text, per_group=5)
        typeahead = [await _timed(lambda t=text: search_queries.search(viewer, t, per_group=5)) for text in typed]
        for ms, text in sorted(zip(typeahead, typed, strict=True), reverse=True)[:args.slowest]:
            print(f'  slow keystroke {text!r}: {ms:.1f} ms', flush=True)
        full: list[float] = []
        for q in [*(j['query'] for j in judged), *COMMON]:
            full.append(await _timed(lambda q=q: search_queries.search(viewer, q, per_group=10)))
            full.append(await _timed(lambda q=q: search_queries.search(viewer, q, kinds=('message',), per_group=20)))
        precisions = []
        for e in expected.values():
            results = await search_queries.search(viewer, e['query'], kinds=(e['kind'],), per_group=5)
            top = [h.id for h in results.groups[0].hits]
            precisions.append(len(set(top) & e['ids']) / 5)
            if len(set(top) & e['ids']) < 5:
                print(f'  P@5 {len(set(top) & e["ids"]) / 5:.1f} for {e["query"]!r}', flush=True)
        result = {'database': database,
                  'typeahead_p50_ms': round(statistics.median(typeahead), 1),
                  'typeahead_p95_ms': round(percentile(typeahead, 0.95), 1),
                  'full_p95_ms': round(percentile(full, 0.95), 1),
                  'index_build_s': round(build_s, 1),
                  'precision_at_5': round(sum(precisions) / len(precisions), 3)}
        print(f'  typeahead ({len(typeahead)} keystrokes): p50 {result["typeahead_p50_ms"]} ms, '
              f'p95 {result["typeahead_p95_ms"]} ms, max {max(typeahead):.1f} ms; full page ({len(full)}): '
              f'p50 {statistics.median(full):.1f} ms, p95 {result["full_p95_ms"]} ms; '
              f'precision@5 {result["precision_at_5"]}', flush=True)
        return result
    finally:
        await db.dispose()
        if keep is None:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            if database == 'postgresql':
                await _drop_pg_schema()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--tickets', type=int, default=100_000)
    parser.add_argument('--events', type=int, default=1_000_000)
    parser.add_argument('--articles', type=int, default=2_000)
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--db', choices=['sqlite', 'postgresql', 'both'], default='both')
    parser.add_argument('--keep', metavar='DIR', help='keep the built data (SQLite files and the judged ids in DIR, '
                        'PostgreSQL in a schema named after the size) and reuse it on the next run of the same size; '
                        'the index is still rebuilt (and timed) unless --skip-reindex')
    parser.add_argument('--skip-reindex', action='store_true', help='with --keep: reuse the kept index as it is')
    parser.add_argument('--slowest', type=int, default=0, metavar='N', help='print the N slowest keystrokes')
    args = parser.parse_args()
    os.environ.setdefault('PULSE_DATA_DIR', tempfile.mkdtemp(prefix='search-scale-data-'))
    print(f'load average before: {os.getloadavg()}', flush=True)
    databases = ['sqlite', 'postgresql'] if args.db == 'both' else [args.db]
    results = []
    for database in databases:
        if database == 'postgresql' and not pg_available():
            print('PostgreSQL is not answering on 127.0.0.1:5432: skipped', flush=True)
            continue
        results.append(await run_one(database, args))
    print(f'load average after: {os.getloadavg()}', flush=True)
    print(json.dumps({'results': results}))


if __name__ == '__main__':
    asyncio.run(main())
