#!/usr/bin/env python3
"""Caller search by phone number at scale: ``queries.customers.search_people`` over many customers.

Inserts N customers (default 20,000) with valid numbers of several countries (stored as the services store them:
international display form and E.164, ``contact.check_phone``) into a fresh SQLite file, and into PostgreSQL too
when 127.0.0.1:5432 answers (database ``test``, schema ``phone_search`` of its own, dropped at the end). Then it
times, in-process, what an agent types into the caller search:

  full      a complete number, written nationally or internationally (E.164 equality / prefix)
  partial   the beginning of a number (``031 55``, ``+45 33 1``) or digits from its middle (``555 01``)
  parse     contact.phone_query alone (the libphonenumber work per keystroke, no database)

Usage (from the repository root):

    .venv/bin/python benchmarks/phone_search.py
    .venv/bin/python benchmarks/phone_search.py --customers 50000 --db sqlite

The last line is one JSON object: per database p50/p95 in ms of each kind.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PG_URL = 'postgresql+asyncpg://postgres@127.0.0.1:5432/test'
SCHEMA = 'phone_search'
FORMATS = [('CH', '+41 {a}{b} {c}{d}{e} {f}{g} {h}{i}', '3'), ('DK', '+45 {a}{b} {c}{d} {e}{f} {g}{h}', '3'),
           ('GB', '+44 20 {a}{b}{c}{d} {e}{f}{g}{h}', ''), ('US', '+1 {x}{b}{c} {d}{e}{f} {g}{h}{i}{a}', '')]


def _numbers(count: int, rng: random.Random) -> list[str]:
    from pulse_live import contact
    found: list[str] = []
    while len(found) < count:
        _, pattern, lead = rng.choice(FORMATS)
        digits = {k: str(rng.randint(0, 9)) for k in 'abcdefghi'}
        digits['a'] = lead or digits['a']
        digits['x'] = str(rng.randint(2, 9))
        text = pattern.format(**digits)
        if contact.normalise_phone(text):
            found.append(text)
    return found


async def _run(url: str, schema: str, customers: int, rounds: int) -> dict[str, dict[str, float]]:
    from sqlalchemy import insert, text

    from pulse_live import auth, contact, db
    from pulse_live.seed.demo import seed_people
    from pulse_live.models import Base, User
    from pulse_live.queries.customers import search_people
    if schema:
        db.init(PG_URL, schema='')
        async with db.engine().begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS {schema} CASCADE'))
            await conn.execute(text(f'CREATE SCHEMA {schema}'))
        await db.dispose()
    db.init(url, schema=schema)
    async with db.engine().begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    people = await seed_people(password_hash=auth.hash_password_sync('demo'))
    rng = random.Random(7)
    numbers = _numbers(customers, rng)
    rows = [{'email': f'c{i}@bulk.example', 'password_hash': 'x', 'role': 'customer',
             'organisation_id': people.orgs['acme'], 'display_name': f'Customer {i:05d}',
             'phone': contact.check_phone(n).display, 'phone_e164': contact.check_phone(n).e164, 'location': '',
             'department': ''} for i, n in enumerate(numbers)]
    async with db.engine().begin() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(insert(User.__table__), rows[start:start + 5000])
    anna = people.users['anna@pulse.demo']
    samples = rng.sample(numbers, rounds)
    typed = {
        'full': [n if i % 2 else n.replace('+41 ', '0') for i, n in enumerate(samples)],
        'partial': [n[:8] if i % 3 == 0 else n[4:10] if i % 3 == 1 else n.replace('+41 ', '0')[:6]
                    for i, n in enumerate(samples)],
    }
    result: dict[str, dict[str, float]] = {}
    for kind, texts in typed.items():
        times = []
        for t in texts:
            started = time.perf_counter()
            hits = await search_people(anna, t)
            times.append((time.perf_counter() - started) * 1000)
            if kind == 'full':
                assert hits and hits[0].matched == 'phone', (t, hits)
        result[kind] = _stats(times)
    times = []
    for t in typed['full'] + typed['partial']:
        started = time.perf_counter()
        contact.phone_query(t)
        times.append((time.perf_counter() - started) * 1000)
    result['parse'] = _stats(times)
    if schema:
        async with db.engine().begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS {schema} CASCADE'))
    await db.dispose()
    return result


def _stats(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {'p50': round(statistics.median(times), 2), 'p95': round(times[int(len(times) * 0.95) - 1], 2)}


def _pg_available() -> bool:
    try:
        with socket.create_connection(('127.0.0.1', 5432), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--customers', type=int, default=20_000)
    parser.add_argument('--rounds', type=int, default=60)
    parser.add_argument('--db', choices=['both', 'sqlite', 'postgresql'], default='both')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(PULSE_DATA_DIR=tmp, PULSE_STORAGE_SECRET='bench')
        out: dict[str, dict] = {}
        if args.db in ('both', 'sqlite'):
            out['sqlite'] = asyncio.run(_run(f'sqlite+aiosqlite:///{tmp}/phones.db', '', args.customers, args.rounds))
            print('sqlite', out['sqlite'])
        if args.db in ('both', 'postgresql') and _pg_available():
            out['postgresql'] = asyncio.run(_run(PG_URL, SCHEMA, args.customers, args.rounds))
            print('postgresql', out['postgresql'])
    print(json.dumps({'customers': args.customers, **out}))


if __name__ == '__main__':
    main()
