"""Schemathesis fuzzes the API against its own schema, as a staff token and as a customer token, on SQLite and on
PostgreSQL, on a real server process: no 500, every response conforms to the schema (status, content type,
headers, body). Valid and invalid data; a bounded number of examples per operation."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

from tests.conftest import PG_URL, pg_available

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = int(os.environ.get('PULSE_FUZZ_EXAMPLES', '8'))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _pg_schema(name: str, drop: bool) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_URL.replace('postgresql+asyncpg', 'postgresql'))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS {name} CASCADE' + ('' if drop else f'; CREATE SCHEMA {name}'))
        finally:
            await conn.close()
    asyncio.run(run())


@pytest.fixture(params=['sqlite', 'postgresql'])
def fuzz_server(request, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ('PYTEST_CURRENT_TEST', 'PULSE_BUS_URL')}
    env.update(PULSE_DATA_DIR=str(tmp_path / 'data'), PULSE_STORAGE_SECRET='fuzz', PULSE_API_RATE_PER_MINUTE='1000000',
               PULSE_API_AUTH_FAILURES_PER_MINUTE='1000000',
               PULSE_MAIL_WORKER='false', PULSE_MAIL_INTAKE_WORKER='false', PYTHONPATH=str(REPO))
    schema_name = f'pulse_fuzz_{os.getpid()}'
    if request.param == 'postgresql':
        if not pg_available():
            pytest.skip('PostgreSQL is not answering on 127.0.0.1:5432')
        _pg_schema(schema_name, drop=False)
        env.update(PULSE_DATABASE_URL=PG_URL, PULSE_DATABASE_SCHEMA=schema_name)
    else:
        env.update(PULSE_DATABASE_URL=f'sqlite+aiosqlite:///{tmp_path / "data" / "pulse.db"}')
    port, tokens = _free_port(), tmp_path / 'tokens.json'
    log = (tmp_path / 'server.log').open('wb')
    process = subprocess.Popen([sys.executable, '-m', 'tests.unit.api.fuzz_server', str(port), str(tokens)],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not tokens.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail('the fuzz server did not start:\n' + (tmp_path / 'server.log').read_text()[-3000:])
            time.sleep(0.1)
        yield f'http://127.0.0.1:{port}', json.loads(tokens.read_text()), tmp_path / 'server.log'
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        if request.param == 'postgresql':
            _pg_schema(schema_name, drop=True)


# the checks that judge one response on its own (not the stateful ones, nor "positive data acceptance", which
# expects random ids to exist)
CHECKS = [not_a_server_error, openapi_checks.status_code_conformance, openapi_checks.content_type_conformance,
          openapi_checks.response_headers_conformance, openapi_checks.response_schema_conformance,
          openapi_checks.negative_data_rejection]


def _fuzz(strategy, base_url: str, headers: dict[str, str]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
    run()


def test_the_api_holds_to_its_schema(fuzz_server):
    import httpx
    base, tokens, log_path = fuzz_server
    spec = httpx.get(f'{base}/api/v1/openapi.json').json()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    for who in ('staff', 'customer'):
        headers = {'Authorization': f'Bearer {tokens[who]}'}
        for result in schema.get_all_operations():
            operation = result.ok()
            runs = [(mode.value, operation.as_strategy(generation_mode=mode))
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
            if '{reference}' in operation.path:  # also on a ticket that exists (the caller's own: Carl's)
                runs.append(('existing ticket', operation.as_strategy(
                    path_parameters={'reference': tokens['references']['carl@acme.demo']})))
            for mode, strategy in runs:
                try:
                    _fuzz(strategy, f'{base}/api/v1', headers)
                except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - gathered, reported together below
                    failures.append(f'{who} {mode} {operation.label}: {str(e)[:1500]}')
    log = log_path.read_text(errors='replace')
    assert 'Traceback' not in log, log[-4000:]
    assert not failures, '\n\n'.join(failures)
