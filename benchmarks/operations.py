"""Operations figures: backup / restore / check of the demo data (SQLite, and PostgreSQL when it answers), and the
cost of /metrics, /readyz and /healthz on a running server.

    .venv/bin/python benchmarks/operations.py                  # demo of 60 tickets + 20 files of 200 KiB
    .venv/bin/python benchmarks/operations.py --tickets 200 --files 50 --scrapes 500

Everything runs in a fresh temporary directory (the caller's PULSE_* variables are dropped); PostgreSQL gets its own
schema and restore database, dropped at the end. The last line is one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

PG = 'postgresql+asyncpg://postgres@127.0.0.1:5432/test'
CLI = [sys.executable, '-m', 'pulse_live.cli']


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith('PULSE_') and k != 'PYTEST_CURRENT_TEST'}
    env.update(PULSE_DATA_DIR=str(data), PYTHONUNBUFFERED='1', **extra)
    return env


def _run(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f'pulse-live {" ".join(args)} failed:\n{result.stdout}\n{result.stderr[-3000:]}')
    return time.perf_counter() - started, result.stdout


ADD_FILES = '''
import asyncio, os, random
from sqlalchemy import select
from pulse_live import db
from pulse_live.config import get_settings
from pulse_live.models import Ticket, User
from pulse_live.services import chatter
from pulse_live.storage import UploadedFile
async def main(n, size):
    db.init(get_settings().resolved_database_url())
    async with db.session() as s:
        anna = (await s.execute(select(User).where(User.email == 'anna@pulse.demo'))).scalar_one()
        ids = list((await s.execute(select(Ticket.id).where(Ticket.status != 'closed').order_by(Ticket.id))).scalars())
    for i in range(n):
        await chatter.post_message(actor=anna, ticket_id=ids[i % len(ids)], body=f'file {i}',
                                   files=[UploadedFile(f'log-{i}.bin', 'application/octet-stream', os.urandom(size))])
    await db.dispose()
import sys; asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
'''


def round_trip(name: str, source: dict[str, str], target: dict[str, str], archive: Path, args) -> dict:
    seed_s, _ = _run(source, 'demo', '--tickets', str(args.tickets))
    subprocess.run([sys.executable, '-c', ADD_FILES, str(args.files), str(args.file_kib * 1024)], env=source,
                   check=True, timeout=600)
    backup_s, out = _run(source, 'backup', str(archive))
    restore_s, _ = _run(target, 'restore', str(archive))
    check_s, _ = _run(target, 'check', '--deep')
    figures = {'database': name, 'seed_s': round(seed_s, 1), 'backup_s': round(backup_s, 2),
               'archive_kib': round(archive.stat().st_size / 1024, 1), 'restore_s': round(restore_s, 2),
               'check_deep_s': round(check_s, 2), 'backup_said': out.strip()}
    print(json.dumps(figures), flush=True)
    return figures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def endpoint_costs(env: dict[str, str], scrapes: int, workdir: Path) -> dict:
    port = _free_port()
    process = subprocess.Popen([*CLI, 'serve', '--port', str(port)], env=env, cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + '/healthz', timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        figures = {}
        for path in ('/metrics', '/readyz', '/healthz'):
            times, size = [], 0
            for _ in range(scrapes):
                started = time.perf_counter()
                size = len(urllib.request.urlopen(base + path, timeout=10).read())
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            figures[path] = {'p50_ms': round(statistics.median(times), 2),
                             'p95_ms': round(times[int(len(times) * 0.95) - 1], 2), 'bytes': size}
        print(json.dumps({'endpoints': figures}), flush=True)
        return figures
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--tickets', type=int, default=60)
    parser.add_argument('--files', type=int, default=20)
    parser.add_argument('--file-kib', type=int, default=200)
    parser.add_argument('--scrapes', type=int, default=200)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix='pulse-ops-bench-') as tmp:
        work = Path(tmp)
        runs.append(round_trip('sqlite', _env(work / 'sqlite-a'), _env(work / 'sqlite-b'), work / 'sqlite.tar.gz',
                               args))
        endpoints = endpoint_costs(_env(work / 'sqlite-a'), args.scrapes, work)
        tag = f'bench_{os.getpid()}_{uuid.uuid4().hex[:6]}'
        psql = ['psql', '-h', '127.0.0.1', '-U', 'postgres', '-q', 'test', '-c']
        try:
            subprocess.run([*psql, f'CREATE DATABASE {tag}'], check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.CalledProcessError):
            print('PostgreSQL not answering: SQLite only', flush=True)
        else:
            try:
                runs.append(round_trip(
                    'postgresql', _env(work / 'pg-a', PULSE_DATABASE_URL=PG, PULSE_DATABASE_SCHEMA=tag),
                    _env(work / 'pg-b', PULSE_DATABASE_URL=PG.rsplit('/', 1)[0] + f'/{tag}',
                         PULSE_DATABASE_SCHEMA=tag), work / 'pg.tar.gz', args))
            finally:
                subprocess.run([*psql, f'DROP SCHEMA IF EXISTS {tag} CASCADE'], capture_output=True, timeout=60)
                subprocess.run([*psql, f'DROP DATABASE IF EXISTS {tag} WITH (FORCE)'], capture_output=True,
                               timeout=60)
    load = os.getloadavg()
    print(json.dumps({'tickets': args.tickets, 'files': args.files, 'file_kib': args.file_kib, 'runs': runs,
                      'endpoints': endpoints, 'load_avg': [round(x, 2) for x in load]}))


if __name__ == '__main__':
    main()
