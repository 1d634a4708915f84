"""Limits and token revocation hold across processes: the API's rate limit per token and the error ingest's per source
are one bucket in Redis for every process (two limiters here, and two real server processes below), a token revoked
or an account deactivated in one process is refused in the other at once, and API requests never get a browser
session (no cookie: NiceGUI's session middleware is not in their way)."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.bus import MemoryBus, set_bus
from pulse_live.bus.redis import RedisBus
from pulse_live.models import ErrorSource, Organisation, Queue, User
from pulse_live.rate_limit import Limiter
from pulse_live.services import api_tokens, error_sources
from tests.factories import deactivate_customer

REDIS_URL = 'redis://127.0.0.1:6379/0'


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not _answers(6379), reason='Redis is not answering on 127.0.0.1:6379')


@needs_redis
async def test_two_processes_limiters_share_one_bucket_in_redis():
    prefix = f'pulse-test-{uuid.uuid4().hex}'
    first, second = Limiter(REDIS_URL, prefix), Limiter(REDIS_URL, prefix)  # as two processes would have them
    try:
        waits = []
        for _ in range(15):
            waits.append(await first.take('api:token', 10))
            waits.append(await second.take('api:token', 10))
        assert sum(1 for w in waits if w == 0) == 10  # ten a minute for the token, not ten per process
        assert all(w > 0 for w in waits[-10:])
        assert await second.wait('api:token', 10) > 0 and await first.take('api:other-token', 10) == 0
    finally:
        await first.close()
        await second.close()


@needs_redis
async def test_leases_never_let_processes_pass_the_limit_together():
    prefix = f'pulse-test-{uuid.uuid4().hex}'
    limiters = [Limiter(REDIS_URL, prefix) for _ in range(3)]  # rate 300: each takes leases of 3 units
    try:
        stored, started = 0, time.monotonic()
        for _ in range(150):
            for limiter in limiters:
                taken, _wait = await limiter.take_up_to('errors:7', 300, 1)
                stored += taken
        refilled = (time.monotonic() - started) * 300 / 60  # the bucket refills 5 a second meanwhile
        # 450 events offered at once: at most the 300 of the minute (and what refilled) are stored; a lease a
        # process still holds (at most 2 units each) is the only thing that may stay unused
        assert 300 - 3 * 2 <= stored <= 300 + refilled
    finally:
        for limiter in limiters:
            await limiter.close()


async def test_without_redis_answering_the_limit_is_kept_in_the_process(caplog):
    limiter = Limiter('redis://127.0.0.1:1/0', 'pulse-test')  # nothing listens there
    assert [await limiter.take('api:token', 3) == 0 for _ in range(5)] == [True, True, True, False, False]
    assert 'rate limits kept per process' in caplog.text
    await limiter.close()


@needs_redis
async def test_a_revoked_token_is_refused_by_the_other_process_at_once(people):
    channel = f'pulse-test-{uuid.uuid4().hex}'
    here, there = RedisBus(REDIS_URL, channel), RedisBus(REDIS_URL, channel)
    await here.start()
    await there.start()
    set_bus(here)
    other_process = api_tokens.TokenCache(bus=there)
    try:
        carl, eva, admin = (people.users[e] for e in ('carl@acme.demo', 'eva@acme.demo', 'admin@pulse.demo'))
        carls = await api_tokens.create_token(actor=carl, name='sync', scope='read', expires_in_days=5)
        evas = await api_tokens.create_token(actor=eva, name='sync', scope='read', expires_in_days=5)
        for new in (carls, evas):
            assert (await api_tokens.authenticate(new.secret, tokens=other_process))[0].id == new.token.user_id
        assert len(other_process) == 2  # trusted there without a query, until something ends them

        await api_tokens.revoke_token(actor=carl, token_id=carls.token.id)
        await deactivate_customer(admin, eva)
        deadline = time.monotonic() + 5
        while len(other_process) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        with pytest.raises(api_tokens.TokenRefused, match='revoked'):
            await api_tokens.authenticate(carls.secret, tokens=other_process)
        with pytest.raises(api_tokens.TokenRefused, match='not active'):
            await api_tokens.authenticate(evas.secret, tokens=other_process)
    finally:
        set_bus(MemoryBus())
        await here.stop()
        await there.stop()


# --- two real server processes sharing Redis and one database -------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


async def _seed(url: str) -> dict[str, str]:
    from tests.factories import make_people
    set_bus(MemoryBus())
    db.init(url)
    try:
        people = await make_people()
        anna = people.users['anna@pulse.demo']
        token = await api_tokens.create_token(actor=anna, name='two processes', scope='write', expires_in_days=1)
        async with db.session() as s:
            org = (await s.execute(select(Organisation.id).where(Organisation.name == 'ACME Corp'))).scalar_one()
            queue = (await s.execute(select(Queue.id).order_by(Queue.id))).scalars().first()
            admin = (await s.execute(select(User).where(User.email == 'admin@pulse.demo'))).scalar_one()
        source = await error_sources.create_source(actor=admin, name='Shop (two processes)', organisation_id=org,
                                                   queue_id=queue, rate_limit_per_minute=4)
        async with db.session() as s:
            row = await s.get(ErrorSource, source.id)
            assert row is not None
            return {'token': token.secret, 'source_id': str(row.id), 'key': row.public_key}
    finally:
        await db.dispose()


@pytest.fixture(scope='module')
def two_processes(tmp_path_factory):
    if not _answers(6379):
        pytest.skip('Redis is not answering on 127.0.0.1:6379')
    workdir = tmp_path_factory.mktemp('two-processes')
    (workdir / 'data').mkdir()
    url = f'sqlite+aiosqlite:///{workdir}/data/pulse.db'
    env = {k: v for k, v in os.environ.items() if not k.startswith('PULSE_') and k != 'PYTEST_CURRENT_TEST'}
    env.update(PULSE_DATA_DIR=str(workdir / 'data'), PULSE_DATABASE_URL=url, PULSE_STORAGE_SECRET='test',
               PULSE_MAIL_WORKER='false', PULSE_MAIL_INTAKE_WORKER='false', PULSE_ESCALATION_WORKER='false',
               PULSE_BUS_URL=REDIS_URL, PULSE_BUS_CHANNEL=f'pulse-test-{uuid.uuid4().hex}',
               PULSE_API_RATE_PER_MINUTE='6', PULSE_ERROR_KEY_CACHE_S='0', PYTHONUNBUFFERED='1')
    cli = Path(sys.executable).parent / 'pulse-live'
    command = [str(cli)] if cli.exists() else [sys.executable, '-m', 'pulse_live.cli']
    subprocess.run([*command, 'migrate'], env=env, cwd=workdir, check=True, capture_output=True)
    seeded = asyncio.run(_seed(url))
    servers, bases = [], []
    for i in range(2):
        port = _free_port()
        bases.append(f'http://127.0.0.1:{port}')
        with (workdir / f'server{i}.log').open('wb') as log:
            servers.append(subprocess.Popen([*command, 'serve', '--host', '127.0.0.1', '--port', str(port)],
                                            env={**env, 'PULSE_BASE_URL': bases[-1]}, cwd=workdir, stdout=log,
                                            stderr=subprocess.STDOUT))
    try:
        for base, process in zip(bases, servers, strict=True):
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail('a server did not start:\n' + '\n'.join(
                        (workdir / f'server{i}.log').read_text(errors='replace')[-3000:] for i in range(2)))
                try:
                    with urllib.request.urlopen(base + '/login', timeout=2):
                        break
                except OSError:
                    time.sleep(0.25)
        yield {'bases': bases, **seeded}
    finally:
        for process in servers:
            process.terminate()
        for process in servers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def test_the_api_limit_per_token_holds_across_two_server_processes(two_processes):
    headers = {'Authorization': f'Bearer {two_processes["token"]}'}
    answers = []
    with httpx.Client(timeout=30) as client:
        for i in range(10):
            answers.append(client.get(two_processes['bases'][i % 2] + '/api/v1/me', headers=headers))
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 6 and codes[:6] == [200] * 6, codes  # six a minute over both processes
    refused = answers[-1]
    assert refused.headers['content-type'] == 'application/problem+json' and int(refused.headers['retry-after']) >= 1
    for answer in answers:  # an API client never gets a browser session
        assert 'set-cookie' not in answer.headers
        assert answer.headers['x-content-type-options'] == 'nosniff'


def test_the_ingest_limit_per_source_holds_across_two_server_processes(two_processes):
    event = {'event_id': uuid.uuid4().hex, 'level': 'error', 'platform': 'python',
             'exception': {'values': [{'type': 'ValueError', 'value': 'bad basket',
                                       'stacktrace': {'frames': [{'module': 'shop', 'function': 'checkout',
                                                                  'in_app': True}]}}]}}
    body = b'\n'.join([json.dumps({'event_id': event['event_id']}).encode(), json.dumps({'type': 'event'}).encode(),
                       json.dumps(event).encode()])
    headers = {'X-Sentry-Auth': f'Sentry sentry_key={two_processes["key"]}, sentry_version=7'}
    with httpx.Client(timeout=30) as client:
        codes = [client.post(f'{two_processes["bases"][i % 2]}/api/{two_processes["source_id"]}/envelope/',
                             content=body, headers=headers).status_code for i in range(10)]
    assert codes.count(200) == 4 and set(codes) == {200, 429}, codes  # four a minute over both processes
