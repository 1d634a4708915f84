#!/usr/bin/env python3
"""REST API latency: list, get, create and message requests against a real ``pulse-live serve`` with the demo data.

    .venv/bin/python benchmarks/intake_api.py [--n 200] [--database-url postgresql+asyncpg://…]

Starts the server (fresh temporary data directory, SQLite unless ``--database-url``; the mail workers off; the rate
limit lifted), makes a write token for the demo agent Anna through the service (as the profile page does), then
sends requests one after another over one keep-alive connection (a script's usual pattern) and measures each from
send to full answer. ``run(base_url, token, n)`` can be pointed at any running server. The last line of output is
one JSON object: ``api_p95_ms`` (every request), ``api_list_p95_ms`` (GET /tickets, 25 rows), ``api_create_p95_ms``
(POST /tickets), ``api_get_p95_ms``, ``api_message_p95_ms``, ``api_p50_ms``, ``requests``, and the machine's load
average while it ran (``load_avg_1m``: other work on the same cores stretches every figure).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


def run(base_url: str, token: str, n: int = 200) -> dict:
    """``n`` requests of each kind against ``base_url`` (the server's root) with ``token``; p95s in milliseconds."""
    timings: dict[str, list[float]] = {'list': [], 'get': [], 'create': [], 'message': []}
    headers = {'Authorization': f'Bearer {token}'}
    with httpx.Client(base_url=base_url.rstrip('/') + '/api/v1', headers=headers, timeout=30) as api:
        def timed(kind: str, method: str, path: str, **kwargs) -> httpx.Response:
            start = time.perf_counter()
            answer = api.request(method, path, **kwargs)
            elapsed = (time.perf_counter() - start) * 1000
            if answer.status_code >= 400:
                raise RuntimeError(f'{method} {path}: {answer.status_code} {answer.text[:300]}')
            timings[kind].append(elapsed)
            return answer
        for _ in range(10):  # warm up: connections, caches
            api.get('/tickets')
        references = []
        for i in range(n):
            created = timed('create', 'POST', '/tickets', json={'title': f'API benchmark ticket {i}',
                                                                'description': 'Made by benchmarks/intake_api.py'})
            references.append(created.json()['reference'])
            timed('list', 'GET', '/tickets', params={'status': 'active', 'limit': 25, 'offset': (i % 4) * 25})
            timed('get', 'GET', f'/tickets/{references[i // 2]}')
            timed('message', 'POST', f'/tickets/{references[i // 2]}/messages', json={'body': f'Update {i}'})
    every = [t for values in timings.values() for t in values]
    return {'api_p95_ms': _p(every, 0.95), 'api_list_p95_ms': _p(timings['list'], 0.95),
            'api_create_p95_ms': _p(timings['create'], 0.95), 'api_get_p95_ms': _p(timings['get'], 0.95),
            'api_message_p95_ms': _p(timings['message'], 0.95), 'api_p50_ms': round(statistics.median(every), 2),
            'requests': len(every)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


async def _make_token(env: dict[str, str]) -> str:
    os.environ.update(env)
    from sqlalchemy import select

    from pulse_live import db
    from pulse_live.config import get_settings, reset_settings
    from pulse_live.models import User
    from pulse_live.services import api_tokens
    reset_settings()
    db.init(get_settings().resolved_database_url())
    try:
        async with db.session() as s:
            anna = (await s.execute(select(User).where(User.email == 'anna@pulse.demo'))).scalar_one()
        new = await api_tokens.create_token(actor=anna, name='benchmark', scope='write', expires_in_days=1)
    finally:
        await db.dispose()
    return new.secret


def _pg_schema(url: str, name: str, *, create: bool) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(url.replace('postgresql+asyncpg', 'postgresql'))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS {name} CASCADE' + (f'; CREATE SCHEMA {name}' if create else ''))
        finally:
            await conn.close()
    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=200, help='requests of each kind (list, get, create, message)')
    parser.add_argument('--database-url', default='', help='PostgreSQL URL (default: SQLite in a temp directory)')
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='pulse-api-bench-'))
    port = _free_port()
    base = f'http://127.0.0.1:{port}'
    env = {'PULSE_DATA_DIR': str(tmp / 'data'), 'PULSE_BASE_URL': base, 'PULSE_MAIL_WORKER': 'false',
           'PULSE_MAIL_INTAKE_WORKER': 'false', 'PULSE_STORAGE_SECRET': 'bench',
           'PULSE_API_RATE_PER_MINUTE': '1000000', 'PULSE_API_AUTH_FAILURES_PER_MINUTE': '1000000',
           'PULSE_DATABASE_URL': args.database_url or f'sqlite+aiosqlite:///{tmp}/data/pulse.db'}
    if args.database_url:
        env['PULSE_DATABASE_SCHEMA'] = f'pulse_api_bench_{os.getpid()}'
        _pg_schema(args.database_url, env['PULSE_DATABASE_SCHEMA'], create=True)
    child_env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'} | env
    cli = Path(sys.executable).parent / 'pulse-live'
    command = [str(cli)] if cli.exists() else [sys.executable, '-m', 'pulse_live.cli']
    (tmp / 'data').mkdir(parents=True, exist_ok=True)
    subprocess.run([*command, 'migrate'], env=child_env, cwd=tmp, check=True, capture_output=True)
    subprocess.run([*command, 'demo'], env=child_env, cwd=tmp, check=True, capture_output=True)
    token = asyncio.run(_make_token(env))
    log = (tmp / 'server.log').open('wb')
    server = subprocess.Popen([*command, 'serve', '--host', '127.0.0.1', '--port', str(port)], env=child_env,
                              cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the server did not start; see ' + str(tmp / 'server.log'))
            try:
                with urllib.request.urlopen(base + '/login', timeout=2):
                    break
            except OSError:
                time.sleep(0.25)
        load_before = os.getloadavg()[0]
        figures = run(base, token, args.n)
        figures['load_avg_1m'] = round((load_before + os.getloadavg()[0]) / 2, 2)  # 2 cores shared: context
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
        if args.database_url:
            _pg_schema(args.database_url, env['PULSE_DATABASE_SCHEMA'], create=False)
    figures['database'] = 'postgresql' if args.database_url else 'sqlite'
    for name, value in figures.items():
        print(f'{name}: {value}')
    print(json.dumps(figures))


if __name__ == '__main__':
    main()
