#!/usr/bin/env python3
"""Error reports in a burst: N events from the real ``sentry-sdk`` in several processes → grouped tickets.

    .venv/bin/python benchmarks/intake_errors.py                       # 10,000 events, 4 sender processes
    .venv/bin/python benchmarks/intake_errors.py --events 2000 --senders 2 --fingerprints 10
    .venv/bin/python benchmarks/intake_errors.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

A server process (``pulse-live serve``) on a fresh data directory, one reporting source; the senders import and
initialise ``sentry_sdk`` with the source's DSN, wait for "go", then raise and capture their share of the events
(spread over ``--fingerprints`` distinct exception sites) and flush. ``--sdk production`` (the default) configures
the SDK as production services commonly do — no local variables, no source lines per frame; ``--sdk default``
keeps the SDK's defaults; the output says which. Timed from "go" until the database counts every
event (the server writes repeat counts in batches). Checked: tickets made = distinct fingerprints.
The last line is one JSON object: error_events, error_events_per_s, error_fingerprints, error_tickets (+ detail).
"""
from __future__ import annotations

import argparse
import ast
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
# how the senders configure sentry-sdk (printed with the figures). "default": the SDK's defaults. "production": what
# a production service commonly sets — no local variables in stack frames (they may hold personal data, and
# serialising every frame's locals is the SDK's largest cost per event) and no source lines read from disk per frame
SDK_PROFILES: dict[str, dict] = {
    'default': {},
    'production': {'include_local_variables': False, 'include_source_context': False},
}
sys.path.insert(0, str(ROOT))

# the exception sites both ways of sending raise: one distinct type and function per fingerprint
SITES = """
def make_site(k):
    kind = type(f'BenchError{k}', (Exception,), {})
    def fail(n):
        raise kind(f'site {k} failed on item {n}')
    fail.__name__ = f'site_{k}'
    fail.__qualname__ = f'site_{k}'
    return fail
sites = [make_site(k) for k in range(fingerprints)]
"""

# the events are made by the real sentry-sdk: a transport that is the SDK's own HTTP transport in every respect
# (envelope, serialisation, gzip, the X-Sentry-Auth and User-Agent headers) except that it records each request
# instead of posting it. What is recorded is replayed in the burst by a light HTTP/1.1 client, so the burst measures
# the server and not the SDK's per-event CPU, which is reported on its own (error_sdk_capture_cpu_ms_per_event).
CAPTURE = textwrap.dedent("""
    import json, pickle, sys, time, sentry_sdk
    from sentry_sdk.transport import HttpTransport

    class _Answer:  # what the SDK's transport reads of a response
        status = 200
        headers: dict = {}
        def close(self): pass

    recorded = []
    class RecordingTransport(HttpTransport):
        def _request(self, method, endpoint_type, body, headers):
            recorded.append((str(self._auth.get_api_url(endpoint_type)), dict(headers), bytes(body)))
            return _Answer()

    dsn, out = sys.argv[1], sys.argv[6]
    count, fingerprints, offset = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    sentry_sdk.init(dsn=dsn, release='bench@1.0', environment='benchmark', auto_session_tracking=False,
                    transport_queue_size=count + 10, default_integrations=False, transport=RecordingTransport,
                    **json.loads(sys.argv[5]))

    SITES
    cpu_at_start = time.process_time()  # import and init are not the events' cost
    for i in range(count):
        try:
            sites[(offset + i) % fingerprints](i)
        except Exception as e:
            sentry_sdk.capture_exception(e)
    sentry_sdk.flush(timeout=120)
    cpu = time.process_time() - cpu_at_start
    with open(out, 'wb') as f:
        pickle.dump(recorded, f)
    print('captured', len(recorded), cpu, flush=True)
""").replace('SITES\n', SITES.lstrip())

# the burst: the recorded requests over keep-alive connections, each connection one request at a time (as an SDK's
# transport sends), timed by the parent from "go"; prints the answers' status counts and its own CPU time
CLIENT = textwrap.dedent("""
    import asyncio, collections, pickle, re, sys, time
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    host, port, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    requests = []
    for name in sys.argv[4:]:
        with open(name, 'rb') as f:
            for url, headers, body in pickle.load(f):
                path = '/' + url.split('://', 1)[1].split('/', 1)[1]
                head = ''.join(f'{k}: {v}\\r\\n' for k, v in headers.items())
                requests.append(f'POST {path} HTTP/1.1\\r\\nHost: {host}:{port}\\r\\n{head}'
                                f'Content-Length: {len(body)}\\r\\n\\r\\n'.encode('latin-1') + body)
    statuses = collections.Counter()
    LENGTH = re.compile(rb'(?i)\\r\\ncontent-length:\\s*(\\d+)')

    class Connection(asyncio.Protocol):
        def __init__(self, queue, done):
            self.queue, self.done, self.buffer = queue, done, b''
        def connection_made(self, transport):
            self.transport = transport
            self.next()
        def next(self):
            if self.queue:
                self.transport.write(self.queue.pop())
            else:
                self.transport.close()
        def data_received(self, data):
            self.buffer += data
            while True:
                end = self.buffer.find(b'\\r\\n\\r\\n')
                if end < 0:
                    return
                m = LENGTH.search(self.buffer, 0, end + 2)
                size = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buffer) < size:
                    return
                statuses[int(self.buffer[9:12])] += 1
                self.buffer = self.buffer[size:]
                self.next()
        def connection_lost(self, exc):
            if not self.done.done():
                self.done.set_result(exc)

    async def main():
        loop = asyncio.get_running_loop()
        queues = [requests[i::connections][::-1] for i in range(connections)]
        print('ready', flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        cpu = time.process_time()
        waits = []
        for q in queues:
            done = loop.create_future()
            await loop.create_connection(lambda q=q, done=done: Connection(q, done), host, port)
            waits.append(done)
        await asyncio.gather(*waits)
        print('sent', time.process_time() - cpu, dict(statuses), flush=True)
    asyncio.run(main())
""")

# the way of the first version of this benchmark, kept for comparison (--mode sdk): the SDK processes post
# themselves, each over its own keep-alive connection, and share the two cores with the server
SENDER = textwrap.dedent('''
    import json, sys, time, sentry_sdk
    dsn, count, fingerprints, offset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    sentry_sdk.init(dsn=dsn, release='bench@1.0', environment='benchmark', auto_session_tracking=False,
                    transport_queue_size=count + 10, default_integrations=False, **json.loads(sys.argv[5]))

    SITES
    print('ready', flush=True)
    sys.stdin.readline()
    cpu_at_go = time.process_time()  # import and init are not the events' cost
    for i in range(count):
        try:
            sites[(offset + i) % fingerprints](i)
        except Exception as e:
            sentry_sdk.capture_exception(e)
    sentry_sdk.flush(timeout=120)
    print('sent', time.process_time() - cpu_at_go, flush=True)
''').replace('SITES\n', SITES.lstrip())


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


def _capture(script: Path, dsn: str, n: int, senders: int, fingerprints: int, sdk: str, env: dict[str, str],
             out: Path) -> tuple[list[Path], float]:
    """``n`` events captured by sentry-sdk in ``senders`` processes (in parallel, before the server starts): the
    recorded files and the SDK's CPU seconds for them (capture_exception, serialisation, gzip; no HTTP)."""
    shares = [n // senders + (1 if i < n % senders else 0) for i in range(senders)]
    files = [out / f'recorded-{i}.pickle' for i in range(senders)]
    procs = [subprocess.Popen([sys.executable, str(script), dsn, str(share), str(fingerprints), str(i * 7),
                               json.dumps(SDK_PROFILES[sdk]), str(files[i])], env=env, stdout=subprocess.PIPE,
                              text=True) for i, share in enumerate(shares)]
    cpu = 0.0
    for p, share in zip(procs, shares, strict=True):
        assert p.stdout is not None
        line = p.stdout.readline().split()
        if p.wait(timeout=600) != 0 or len(line) != 3 or line[0] != 'captured' or int(line[1]) != share:
            raise RuntimeError(f'capturing with sentry-sdk failed: {line}')
        cpu += float(line[2])
    return files, cpu


def run(n: int = 10_000, *, senders: int = 4, fingerprints: int = 20, database_url: str = '',
        sdk: str = 'production', mode: str = 'replay', connections: int = 8) -> dict:
    """``n`` events of ``fingerprints`` sites from the real sentry-sdk (``senders`` processes) → the figures.

    ``mode='replay'``: captured first, then sent in a burst by one light client over ``connections`` keep-alive
    connections; ``mode='sdk'``: the SDK processes post themselves during the burst (their CPU shares the cores)."""
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
    capture_cpu_s = None
    files: list[Path] = []
    if mode == 'replay':
        (tmp / 'capture.py').write_text(CAPTURE)
        files, capture_cpu_s = _capture(tmp / 'capture.py', dsn, n, senders, fingerprints, sdk, child_env, tmp)
    log = (tmp / 'server.log').open('wb')
    server = subprocess.Popen([*command, 'serve', '--host', '127.0.0.1', '--port', str(port)], env=child_env,
                              cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    procs: list[subprocess.Popen] = []
    statuses: dict = {}
    try:
        _wait_for_server(base, server)
        if mode == 'replay':
            (tmp / 'client.py').write_text(CLIENT)
            procs.append(subprocess.Popen([sys.executable, str(tmp / 'client.py'), '127.0.0.1', str(port),
                                           str(connections), *map(str, files)], env=child_env,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        else:
            script = tmp / 'sender.py'
            script.write_text(SENDER)
            shares = [n // senders + (1 if i < n % senders else 0) for i in range(senders)]
            for i, share in enumerate(shares):
                procs.append(subprocess.Popen([sys.executable, str(script), dsn, str(share), str(fingerprints),
                                               str(i * 7), json.dumps(SDK_PROFILES[sdk])], env=child_env,
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
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
            line = p.stdout.readline().split(maxsplit=2)
            if len(line) >= 2 and line[0] == 'sent':
                sender_cpu_s += float(line[1])
                if len(line) == 3:
                    statuses = {int(k): v for k, v in ast.literal_eval(line[2]).items()}
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
        load = os.getloadavg()[0]
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
    figures = {'error_events': events, 'error_events_per_s': round(events / counted_s, 1),
               'error_fingerprints': groups, 'error_tickets': tickets, 'error_fingerprints_sent': fingerprints,
               'error_mode': mode,
               'error_server_cpu_ms_per_event': round(server_cpu_s * 1000 / max(events, 1), 3),
               'error_server_capacity_per_cpu_s': round(events / server_cpu_s, 1) if server_cpu_s else None,
               'error_sdk_processes': senders, 'error_send_s': round(sent_s, 2),
               'error_counted_s': round(counted_s, 2), 'error_sdk_profile': sdk,
               'error_sdk_options': SDK_PROFILES[sdk], 'load_avg_1m': round(load, 2),
               'error_database': 'postgresql' if database_url else 'sqlite'}
    if mode == 'replay':
        figures |= {'error_connections': connections, 'error_http_statuses': statuses,
                    'error_client_cpu_ms_per_event': round(sender_cpu_s * 1000 / max(n, 1), 3),
                    'error_sdk_capture_cpu_ms_per_event': round((capture_cpu_s or 0) * 1000 / max(n, 1), 3)}
    else:
        figures['error_sender_cpu_ms_per_event'] = round(sender_cpu_s * 1000 / max(n, 1), 3)
    return figures


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
    parser.add_argument('--senders', type=int, default=4, help='sentry-sdk processes making the events')
    parser.add_argument('--fingerprints', type=int, default=20)
    parser.add_argument('--mode', choices=('replay', 'sdk'), default='replay',
                        help='replay (default): capture with sentry-sdk first, then a light client sends the burst; '
                             'sdk: the sentry-sdk processes post during the burst themselves')
    parser.add_argument('--connections', type=int, default=8, help='keep-alive connections of the replay client')
    parser.add_argument('--database-url', default='')
    parser.add_argument('--sdk', choices=sorted(SDK_PROFILES), default='production',
                        help='how the senders configure sentry-sdk (default: production, see SDK_PROFILES)')
    args = parser.parse_args()
    figures = run(args.events, senders=args.senders, fingerprints=args.fingerprints, database_url=args.database_url,
                  sdk=args.sdk, mode=args.mode, connections=args.connections)
    if args.mode == 'replay':
        print(f'{figures["error_events"]} error events made by sentry-sdk in {args.senders} processes, sent in a '
              f'burst over {args.connections} keep-alive connections: {figures["error_events_per_s"]} events/s from '
              f'the first send until all were counted ({figures["error_counted_s"]} s; all answered after '
              f'{figures["error_send_s"]} s; answers {figures["error_http_statuses"]})')
        print(f'server: {figures["error_server_cpu_ms_per_event"]} ms CPU per event '
              f'(≈ {figures["error_server_capacity_per_cpu_s"]} events per CPU second); the replaying client: '
              f'{figures["error_client_cpu_ms_per_event"]} ms CPU per event on the same 2 cores')
        print(f'sentry-sdk itself, measured apart (before the burst, not in the events/s): '
              f'{figures["error_sdk_capture_cpu_ms_per_event"]} ms CPU per event to capture, serialise and gzip '
              f'(an application pays this in its own process)')
    else:
        print(f'{figures["error_events"]} error events from {args.senders} sentry-sdk processes in '
              f'{figures["error_counted_s"]} s: {figures["error_events_per_s"]} events/s '
              f'(all sent after {figures["error_send_s"]} s)')
        print(f'server: {figures["error_server_cpu_ms_per_event"]} ms CPU per event '
              f'(≈ {figures["error_server_capacity_per_cpu_s"]} events per CPU second); the sentry-sdk senders: '
              f'{figures["error_sender_cpu_ms_per_event"]} ms CPU per event, on the same 2 cores')
    print(f'sentry-sdk configured "{args.sdk}": {SDK_PROFILES[args.sdk] or "its defaults"}; load average (1 min) '
          f'{figures["load_avg_1m"]} (at the end of the burst)')
    print(f'{figures["error_fingerprints"]} fingerprints → {figures["error_tickets"]} tickets '
          f'({args.fingerprints} sites raised)')
    print(json.dumps(figures))
    ok = figures['error_events'] == args.events and figures['error_tickets'] == figures['error_fingerprints'] \
        == args.fingerprints
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
