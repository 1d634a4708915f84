"""Error reports end to end: the real ``sentry-sdk`` in a subprocess raising exceptions, against a real server process
(``pulse-live serve``), on SQLite and on PostgreSQL; raw HTTP for what an SDK never sends (bad keys, floods,
malformed bodies). The test process reads and administers the same database through the services."""
from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.bus import MemoryBus, set_bus
from pulse_live.models import ErrorGroup, ErrorSource, ResolutionCode, Service, Status, Ticket, TicketEvent, User
from pulse_live.services import error_sources, tickets
from tests.conftest import PG_URL, pg_available

START_TIMEOUT_S = 60
SDK_SCRIPT = textwrap.dedent('''
    import sys, sentry_sdk
    dsn, scenario = sys.argv[1], sys.argv[2]
    sentry_sdk.init(dsn=dsn, release='shop@1.2.3', environment='production', auto_session_tracking=False)
    sentry_sdk.set_user({'id': '42', 'email': 'buyer@example.com'})
    sentry_sdk.set_tag('region', 'eu')

    def checkout(n):
        raise ValueError(f'bad basket {n}')

    def pay():
        return {}['card']

    def gateway(kind):
        raise kind('gateway down')

    def capture(fn, *args, fingerprint=None):
        try:
            fn(*args)
        except Exception as e:
            if fingerprint:
                with sentry_sdk.new_scope() as scope:
                    scope.fingerprint = fingerprint
                    sentry_sdk.capture_exception(e)
            else:
                sentry_sdk.capture_exception(e)

    if scenario == 'same':
        capture(checkout, 1)
        capture(checkout, 2)
    elif scenario == 'other':
        capture(pay)
    elif scenario == 'fingerprint':
        capture(gateway, TimeoutError, fingerprint=['payment-gateway'])
        capture(gateway, ConnectionError, fingerprint=['payment-gateway'])
    elif scenario == 'once':
        capture(checkout, 0)
    elif scenario.startswith('burst'):
        for i in range(int(scenario[5:])):
            capture(checkout, i)
    sentry_sdk.flush(timeout=20)
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@dataclass
class IngestServer:
    base: str
    database_url: str
    schema: str
    kind: str
    process: subprocess.Popen
    log_path: Path
    script: Path

    def log_tail(self, lines: int = 40) -> str:
        return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])


def _pg_schema(name: str, *, create: bool) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_URL.replace('postgresql+asyncpg', 'postgresql'))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS {name} CASCADE' + (f'; CREATE SCHEMA {name}' if create else ''))
        finally:
            await conn.close()
    asyncio.run(go())


async def _seed(url: str, schema: str) -> None:
    from tests.factories import make_people
    set_bus(MemoryBus())
    db.init(url, schema=schema)
    try:
        await make_people()
    finally:
        await db.dispose()


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def ingest_server(request, tmp_path_factory) -> IngestServer:
    """A real server on a migrated database holding the tests' data set (tests/factories.py)."""
    kind = request.param
    workdir = tmp_path_factory.mktemp(f'errors-{kind}')
    schema = ''
    if kind == 'postgresql':
        if not pg_available():
            pytest.skip('PostgreSQL is not answering on 127.0.0.1:5432')
        schema = f'pulse_errsdk_{os.getpid()}'
        _pg_schema(schema, create=True)
        url = PG_URL
    else:
        url = f'sqlite+aiosqlite:///{workdir}/data/pulse.db'
    port = _free_port()
    base = f'http://127.0.0.1:{port}'
    env = {k: v for k, v in os.environ.items() if not k.startswith('PULSE_') and k != 'PYTEST_CURRENT_TEST'}
    env.update(PULSE_DATA_DIR=str(workdir / 'data'), PULSE_DATABASE_URL=url, PULSE_DATABASE_SCHEMA=schema,
               PULSE_BASE_URL=base, PULSE_STORAGE_SECRET='test', PULSE_MAIL_WORKER='false',
               PULSE_MAIL_INTAKE_WORKER='false', PULSE_ERROR_KEY_CACHE_S='0', PULSE_ERROR_FLUSH_S='0.1',
               PYTHONUNBUFFERED='1')
    cli = Path(sys.executable).parent / 'pulse-live'
    command = [str(cli)] if cli.exists() else [sys.executable, '-m', 'pulse_live.cli']
    (workdir / 'data').mkdir()
    subprocess.run([*command, 'migrate'], env=env, cwd=workdir, check=True, capture_output=True)
    asyncio.run(_seed(url, schema))
    log_path = workdir / 'server.log'
    with log_path.open('wb') as log:
        process = subprocess.Popen([*command, 'serve', '--host', '127.0.0.1', '--port', str(port)], env=env,
                                   cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    script = workdir / 'reporter.py'
    script.write_text(SDK_SCRIPT)
    server = IngestServer(base, url, schema, kind, process, log_path, script)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f'the server did not start:\n{server.log_tail()}', pytrace=False)
        try:
            with urllib.request.urlopen(base + '/login', timeout=2):
                break
        except OSError:
            time.sleep(0.25)
    yield server
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    if schema:
        _pg_schema(schema, create=False)


@pytest.fixture
async def served(ingest_server) -> IngestServer:
    """The test reads and writes the server's database through the services."""
    set_bus(MemoryBus())
    db.init(ingest_server.database_url, schema=ingest_server.schema)
    yield ingest_server
    await db.dispose()


async def _user(email: str) -> User:
    async with db.session() as s:
        return (await s.execute(select(User).where(User.email == email))).scalar_one()


async def _new_source(name: str, *, rate: int | None = None) -> ErrorSource:
    from pulse_live.models import Organisation, Queue
    admin = await _user('admin@pulse.demo')
    async with db.session() as s:
        org = (await s.execute(select(Organisation.id).where(Organisation.name == 'ACME Corp'))).scalar_one()
        queue = (await s.execute(select(Queue.id).where(Queue.name == '2nd level'))).scalar_one()
        service = (await s.execute(select(Service.id).where(Service.name == 'Website'))).scalar_one()
    return await error_sources.create_source(actor=admin, name=name, organisation_id=org, queue_id=queue,
                                             service_id=service, rate_limit_per_minute=rate)


def _report(server: IngestServer, source: ErrorSource, scenario: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    done = subprocess.run([sys.executable, str(server.script), error_sources.dsn(source, server.base), scenario],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def _groups(source_id: int) -> list[ErrorGroup]:
    async with db.session() as s:
        return list((await s.execute(select(ErrorGroup).where(ErrorGroup.source_id == source_id)
                                     .order_by(ErrorGroup.id))).scalars())


async def _until(read: Callable, check: Callable, timeout: float = 15):
    """Read until the check holds (the server writes repeat counts every 0.1 s here); the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if check(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


def _auth(source: ErrorSource) -> dict[str, str]:
    return {'X-Sentry-Auth': f'Sentry sentry_key={source.public_key}, sentry_version=7, sentry_client=test/1'}


def _envelope(event: dict) -> bytes:
    return b'{}\n' + json.dumps({'type': 'event'}).encode() + b'\n' + json.dumps(event).encode() + b'\n'


EVENT = {'exception': {'values': [{'type': 'RawError', 'value': 'raw', 'stacktrace': {'frames': [
    {'module': 'raw.app', 'function': 'handler', 'lineno': 1, 'in_app': True}]}}]}}


async def test_same_exception_twice_is_one_ticket_counting_two_and_another_a_second_ticket(served):
    source = await _new_source('Shop (same)')
    await asyncio.to_thread(_report, served, source, 'same')
    groups = await _until(lambda: _groups(source.id), lambda g: len(g) == 1 and g[0].count == 2)
    assert [(g.title, g.count) for g in groups] == [('ValueError: bad basket 1', 2)]
    group = groups[0]
    assert group.culprit == '__main__ in checkout'
    assert group.last_event['release'] == 'shop@1.2.3' and group.last_event['environment'] == 'production'
    assert group.last_event['user'] == {'id': '42', 'email': 'buyer@example.com'}
    assert group.last_event['tags']['region'] == 'eu'
    assert group.last_event['exceptions'][0]['value'] == 'bad basket 2'  # the latest event's context
    assert [f['function'] for f in group.last_event['exceptions'][0]['frames']][-1] == 'checkout'
    async with db.session() as s:
        ticket = await s.get(Ticket, group.ticket_id)
    assert ticket is not None and ticket.channel == 'error_report' and ticket.title == 'ValueError: bad basket 1'

    await asyncio.to_thread(_report, served, source, 'other')
    groups = await _until(lambda: _groups(source.id), lambda g: len(g) == 2)
    assert [g.title for g in groups] == ['ValueError: bad basket 1', "KeyError: 'card'"]
    assert groups[1].ticket_id not in (None, group.ticket_id)


async def test_the_sdks_fingerprint_groups_different_exceptions(served):
    source = await _new_source('Shop (fingerprint)')
    await asyncio.to_thread(_report, served, source, 'fingerprint')
    groups = await _until(lambda: _groups(source.id), lambda g: len(g) == 1 and g[0].count == 2)
    assert len(groups) == 1 and groups[0].count == 2
    assert groups[0].grouping.startswith('custom\npayment-gateway')


async def test_a_resolved_error_that_happens_again_reopens_its_ticket(served):
    source = await _new_source('Shop (regression)')
    await asyncio.to_thread(_report, served, source, 'once')
    [group] = await _until(lambda: _groups(source.id), lambda g: len(g) == 1 and g[0].ticket_id is not None)
    anna = await _user('anna@pulse.demo')
    async with db.session() as s:
        ticket = await s.get(Ticket, group.ticket_id)
        code = (await s.execute(select(ResolutionCode.id).limit(1))).scalar_one()
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version, status='resolved',
                                resolution_code_id=code, resolution_text='Fixed in 1.2.4')
    await asyncio.to_thread(_report, served, source, 'once')

    async def status():
        async with db.session() as s:
            return (await s.get(Ticket, group.ticket_id)).status
    assert await _until(status, lambda v: v == Status.OPEN) == Status.OPEN
    async with db.session() as s:
        last = (await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == group.ticket_id)
                                .order_by(TicketEvent.id.desc()).limit(1))).scalar_one()
    assert 'Regression' in last and 'Error reports: Shop (regression)' in last


async def test_unknown_key_401_revoked_403_wrong_source_401(served):
    source = await _new_source('Shop (keys)')
    url = f'{served.base}/api/{source.id}/envelope/'
    async with httpx.AsyncClient() as client:
        unknown = await client.post(url, content=_envelope(EVENT),
                                    headers={'X-Sentry-Auth': 'Sentry sentry_key=0123456789abcdef'})
        missing = await client.post(url, content=_envelope(EVENT))
        elsewhere = await client.post(f'{served.base}/api/{source.id + 1000}/envelope/', content=_envelope(EVENT),
                                      headers=_auth(source))
        by_query = await client.post(f'{url}?sentry_key={source.public_key}&sentry_version=7',
                                     content=_envelope(EVENT))
        in_the_envelope = await client.post(url, content=json.dumps({'dsn': error_sources.dsn(source, served.base)})
                                            .encode() + _envelope(EVENT)[2:])
        await error_sources.revoke_source(actor=await _user('admin@pulse.demo'), source_id=source.id)
        revoked = await client.post(url, content=_envelope(EVENT), headers=_auth(source))
        store_revoked = await client.post(f'{served.base}/api/{source.id}/store/', content=json.dumps(EVENT),
                                          headers=_auth(source))
    assert (unknown.status_code, missing.status_code, elsewhere.status_code) == (401, 401, 401)
    assert 'Unknown key' in unknown.json()['detail'] and 'No key' in missing.json()['detail']
    assert by_query.status_code == 200 and in_the_envelope.status_code == 200  # browser SDKs: the DSN in the header
    assert (revoked.status_code, store_revoked.status_code) == (403, 403)
    assert 'revoked' in revoked.json()['detail']
    groups = await _until(lambda: _groups(source.id), lambda g: len(g) == 1 and g[0].count == 2)
    assert [g.count for g in groups] == [2]  # only the reports with the valid key


async def test_a_flood_is_refused_with_429_and_counted_not_stored(served):
    source = await _new_source('Shop (flood)', rate=5)
    async with httpx.AsyncClient() as client:
        answers = [await client.post(f'{served.base}/api/{source.id}/envelope/', content=_envelope(EVENT),
                                     headers=_auth(source)) for _ in range(12)]
    codes = [a.status_code for a in answers]
    # the window is per minute: a minute boundary in the middle may let a few more through
    assert codes[:1] == [200] and 429 in codes and set(codes) == {200, 429}
    limited = [a for a in answers if a.status_code == 429]
    assert 'at most 5 a minute' in limited[0].json()['detail'] and int(limited[0].headers['retry-after']) >= 1

    async def read():
        async with db.session() as s:
            row = await s.get(ErrorSource, source.id)
            await s.refresh(row)
            return row.rate_limited, sum(g.count for g in await _groups(source.id))
    refused, stored = await _until(read, lambda v: v[0] == len(limited) and v[1] == 12 - len(limited))
    assert (refused, stored) == (len(limited), 12 - len(limited))

    # the SDK honours the 429: a burst ends with nothing more than the limit stored, and the refusals counted
    await asyncio.to_thread(_report, served, source, 'burst30')
    refused_after, stored_after = await _until(read, lambda v: v[0] > refused)
    assert refused_after > refused and stored_after <= stored + 5


async def test_gzip_and_deflate_bodies_and_the_store_endpoint(served):
    source = await _new_source('Shop (encodings)')
    url = f'{served.base}/api/{source.id}'
    async with httpx.AsyncClient() as client:
        zipped = await client.post(f'{url}/envelope/', content=gzip.compress(_envelope(EVENT)),
                                   headers={**_auth(source), 'Content-Encoding': 'gzip'})
        import zlib
        deflated = await client.post(f'{url}/envelope/', content=zlib.compress(_envelope(EVENT)),
                                     headers={**_auth(source), 'Content-Encoding': 'deflate'})
        stored = await client.post(f'{url}/store/', content=gzip.compress(json.dumps(EVENT).encode()),
                                   headers={**_auth(source), 'Content-Encoding': 'gzip'})
        preflight = await client.options(f'{url}/envelope/')
    assert [r.status_code for r in (zipped, deflated, stored)] == [200, 200, 200]
    assert preflight.status_code == 200 and preflight.headers['access-control-allow-origin'] == '*'
    groups = await _until(lambda: _groups(source.id), lambda g: len(g) == 1 and g[0].count == 3)
    assert [g.count for g in groups] == [3]


async def test_malformed_reports_get_a_clear_4xx_never_a_500(served):
    source = await _new_source('Shop (malformed)')
    url = f'{served.base}/api/{source.id}/envelope/'
    bomb = gzip.compress(b'\0' * 40_000_000)
    cases = [
        (b'', {}, 400), (b'garbage', {}, 400), (b'{}\n{"type":"event","length":99}\n{}', {}, 400),
        (b'{}\n{"type":"event"}\n{"a":', {}, 400), (b'{}\n{"type":"event"}\n"text"', {}, 400),
        (b'{}\n' + b'{"type":"session"}\n{}\n' * 101, {}, 400),
        (b'not gzip at all', {'Content-Encoding': 'gzip'}, 400), (bomb, {'Content-Encoding': 'gzip'}, 413),
        (b'{}', {'Content-Encoding': 'zstd'}, 415), (b'x' * (2 * 1024 * 1024), {}, 413),
        (b'\xff\xfe\x00', {}, 400),
    ]
    async with httpx.AsyncClient(timeout=30) as client:
        for body, headers, status in cases:
            answer = await client.post(url, content=body, headers={**_auth(source), **headers})
            assert answer.status_code == status, (body[:40], answer.text)
            assert answer.headers['content-type'] == 'application/json' and answer.json()['detail']
        not_a_source = await client.post(f'{served.base}/api/abc/envelope/', content=_envelope(EVENT),
                                         headers=_auth(source))
        wrong_method = await client.get(url)
        only_sessions = await client.post(url, content=b'{}\n{"type":"session"}\n{"sid":"x"}\n',
                                          headers=_auth(source))
    assert not_a_source.status_code == 400 and wrong_method.status_code == 405
    assert only_sessions.status_code == 200
    assert await _groups(source.id) == []
    assert served.process.poll() is None


async def test_many_reports_of_a_new_error_at_once_make_one_ticket(served):
    source = await _new_source('Shop (parallel)')
    event = {'exception': {'values': [{'type': 'ParallelError', 'value': 'at once'}]}}
    async with httpx.AsyncClient() as client:
        answers = await asyncio.gather(*(client.post(f'{served.base}/api/{source.id}/envelope/',
                                                     content=_envelope(event), headers=_auth(source))
                                         for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    groups = await _until(lambda: _groups(source.id), lambda g: len(g) == 1 and g[0].count == 20)
    assert [g.count for g in groups] == [20]
    async with db.session() as s:
        made = (await s.execute(select(Ticket.id).where(Ticket.title == 'ParallelError: at once'))).scalars().all()
    assert len(made) == 1
