#!/usr/bin/env python3
"""Error reports in a burst: N events from the real ``sentry-sdk`` in several processes → grouped tickets.

    .venv/bin/python benchmarks/intake_errors.py                       # 10,000 events, 4 sender processes
    .venv/bin/python benchmarks/intake_errors.py --events 2000 --senders 2 --fingerprints 10
    .venv/bin/python benchmarks/intake_errors.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

A server process (``pulse-live serve``) on a fresh data directory, one reporting source; the senders import and
initialise ``sentry_sdk`` with the source's DSN, wait for "go", then raise and capture their share of the events
(spread over ``--fingerprints`` distinct exception sites) and flush. Timed from "go" until the database counts every
event (the server writes repeat counts in batches). Checked: tickets made = distinct fingerprints.
The last line is one JSON object: error_events, error_events_per_s, error_fingerprints, error_tickets (+ detail).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENDER = textwrap.dedent('''
    import sys, sentry_sdk
    dsn, count, fingerprints, offset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    sentry_sdk.init(dsn=dsn, release='bench@1.0', environment='benchmark', auto_session_tracking=False,
                    transport_queue_size=count + 10, default_integrations=False)

    def make_site(k):
        # one distinct exception site (type + function) per fingerprint
        kind = type(f'BenchError{k}', (Exception,), {})
        def fail(n):
            raise kind(f'site {k} failed on item {n}')
        fail.__name__ = f'site_{k}'
        fail.__qualname__ = f'site_{k}'
        return fail
    sites = [make_site(k) for k in range(fingerprints)]
    print('ready', flush=True)
    sys.stdin.readline()
    for i in range(count):
        try:
            sites[(offset + i) % fingerprints](i)
        except Exception as e:
            sentry_sdk.capture_exception(e)
    sentry_sdk.flush(timeout=120)
    import time
    print('sent', time.process_time(), flush=True)
''')


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


async def _prepare(env: dict[str, str], base: str) -> str:
    """Schema, people, one source with a rate limit that lets the burst through; returns its DSN."""
    os.environ.update(env)
    from sqlalchemy import select

    from pulse_live import db
    from pulse_live.bus import MemoryBus, set_bus
    from pulse_live.config import get_settings, reset_settings
    from pulse_live.models import Queue, User
    from pulse_live.seed.demo import seed_people
    from pulse_live.services import error_sources
    reset_settings()
    set_bus(MemoryBus())
    db.init(get_settings().resolved_database_url())
    people = await seed_people(password_hash='x')
    async with db.session() as s:
        admin = (await s.execute(select(User).where(User.role == 'admin'))).scalars().first()
        queue_id = (await s.execute(select(Queue.id).order_by(Queue.id))).scalars().first()
    assert admin is not None
    org_id = next(i for k, i in people.orgs.items() if k != 'provider')
    source = await error_sources.create_source(actor=admin, name='Benchmark app', organisation_id=org_id,
                                               queue_id=queue_id, rate_limit_per_minute=1_000_000)
    await db.dispose()
    return error_sources.dsn(source, base)


async def _counts(env: dict[str, str]) -> tuple[int, int, int]:
    from sqlalchemy import func, select

    from pulse_live import db
    from pulse_live.config import get_settings
    from pulse_live.models import Channel, ErrorGroup, Ticket
    os.environ.update(env)
    db.init(get_settings().resolved_database_url())
    try:
        async with db.session() as s:
            events = (await s.execute(select(func.coalesce(func.sum(ErrorGroup.count), 0)))).scalar_one()
            groups = (await s.execute(select(func.count(ErrorGroup.id)))).scalar_one()
            tickets = (await s.execute(select(func.count(Ticket.id))
                                       .where(Ticket.channel == Channel.ERROR_REPORT.value))).scalar_one()
    finally:
        await db.dispose()
    return int(events), int(groups), int(tickets)


def _wait_for_server(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f'the server exited with {process.returncode}')
        try:
            with urllib.request.urlopen(url + '/login', timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError('the server did not answer')


def run(n: int = 10_000, *, senders: int = 4, fingerprints: int = 20, database_url: str = '') -> dict:
    """Send ``n`` events from ``senders`` sentry-sdk processes over ``fingerprints`` sites; the figures."""
    tmp = Path(tempfile.mkdtemp(prefix='pulse-errors-bench-'))
    port = free_port()
    base = f'http://127.0.0.1:{port}'
    env = {'PULSE_DATA_DIR': str(tmp / 'data'), 'PULSE_BASE_URL': base, 'PULSE_MAIL_WORKER': 'false',
           'PULSE_MAIL_INTAKE_WORKER': 'false', 'PULSE_STORAGE_SECRET': 'bench',
           'PULSE_DATABASE_URL': database_url or f'sqlite+aiosqlite:///{tmp}/data/pulse.db'}
    if database_url:
        env['PULSE_DATABASE_SCHEMA'] = f'pulse_errors_bench_{os.getpid()}'
        _pg_schema(database_url, env['PULSE_DATABASE_SCHEMA'], create=True)
    child_env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'} | env
    cli = Path(sys.executable).parent / 'pulse-live'
    command = [str(cli)] if cli.exists() else [sys.executable, '-m', 'pulse_live.cli']
    (tmp / 'data').mkdir(parents=True, exist_ok=True)
    subprocess.run([*command, 'migrate'], env=child_env, cwd=tmp, check=True, capture_output=True)
    dsn = asyncio.run(_prepare(env, base))
    log = (tmp / 'server.log').open('wb')
    server = subprocess.Popen([*command, 'serve', '--host', '127.0.0.1', '--port', str(port)], env=child_env,
                              cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    procs: list[subprocess.Popen] = []
    try:
        _wait_for_server(base, server)
        script = tmp / 'sender.py'
        script.write_text(SENDER)
        shares = [n // senders + (1 if i < n % senders else 0) for i in range(senders)]
        for i, share in enumerate(shares):
            procs.append(subprocess.Popen([sys.executable, str(script), dsn, str(share), str(fingerprints),
                                           str(i * 7)], env=child_env, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True))
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == 'ready'
        start = time.perf_counter()
        cpu_start = cpu_seconds(server.pid)
        for p in procs:
            assert p.stdin is not None
            p.stdin.write('go\n')
            p.stdin.flush()
        sender_cpu_s = 0.0
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline().split()
            sender_cpu_s += float(line[1]) if len(line) == 2 and line[0] == 'sent' else 0.0
            p.wait(timeout=600)
        sent_s = time.perf_counter() - start
        events = groups = tickets = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events, groups, tickets = asyncio.run(_counts(env))
            if events >= n:
                break
            time.sleep(0.05)
        counted_s = time.perf_counter() - start
        server_cpu_s = cpu_seconds(server.pid) - cpu_start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if database_url:
            _pg_schema(database_url, env['PULSE_DATABASE_SCHEMA'], create=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return {'error_events': events, 'error_events_per_s': round(events / counted_s, 1),
            'error_fingerprints': groups, 'error_tickets': tickets, 'error_fingerprints_sent': fingerprints,
            'error_server_cpu_ms_per_event': round(server_cpu_s * 1000 / max(events, 1), 3),
            'error_server_capacity_per_cpu_s': round(events / server_cpu_s, 1) if server_cpu_s else None,
            'error_sender_cpu_ms_per_event': round(sender_cpu_s * 1000 / max(n, 1), 3),
            'error_senders': senders, 'error_send_s': round(sent_s, 2), 'error_counted_s': round(counted_s, 2),
            'error_database': 'postgresql' if database_url else 'sqlite'}


def _pg_schema(url: str, schema: str, *, create: bool) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(url.replace('postgresql+asyncpg', 'postgresql'))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS {schema} CASCADE' + (f'; CREATE SCHEMA {schema}' if create
                                                                           else ''))
        finally:
            await conn.close()
    asyncio.run(go())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--events', type=int, default=10_000)
    parser.add_argument('--senders', type=int, default=4)
    parser.add_argument('--fingerprints', type=int, default=20)
    parser.add_argument('--database-url', default='')
    args = parser.parse_args()
    figures = run(args.events, senders=args.senders, fingerprints=args.fingerprints, database_url=args.database_url)
    print(f'{figures["error_events"]} error events from {args.senders} sentry-sdk processes in '
          f'{figures["error_counted_s"]} s: {figures["error_events_per_s"]} events/s '
          f'(all sent after {figures["error_send_s"]} s)')
    print(f'server: {figures["error_server_cpu_ms_per_event"]} ms CPU per event '
          f'(≈ {figures["error_server_capacity_per_cpu_s"]} events per CPU second); the sentry-sdk senders: '
          f'{figures["error_sender_cpu_ms_per_event"]} ms CPU per event, on the same 2 cores')
    print(f'{figures["error_fingerprints"]} fingerprints → {figures["error_tickets"]} tickets '
          f'({args.fingerprints} sites raised)')
    print(json.dumps(figures))
    ok = figures['error_events'] == args.events and figures['error_tickets'] == figures['error_fingerprints'] \
        == args.fingerprints
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
