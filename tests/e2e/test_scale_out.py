"""Two app processes on PostgreSQL with the Redis bus: a change made through one process appears live in a
browser connected to the other, and presence crosses processes too."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from .conftest import E2E, Server, _free_port, _launch, _stop, header, post_message, reference

pytestmark = pytest.mark.e2e
PG_URL = 'postgresql+asyncpg://postgres@127.0.0.1:5432/test'


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5):
            return True
    except OSError:
        return False


def _cli(*args: str) -> list[str]:
    script = Path(sys.executable).parent / 'pulse-live'
    return [str(script) if script.exists() else sys.executable, *([] if script.exists() else ['-m', 'pulse_live.cli']),
            *args]


@pytest.fixture(scope='module')
def two_servers(tmp_path_factory):
    if not (_answers(5432) and _answers(6379)):
        pytest.skip('PostgreSQL (5432) and Redis (6379) must answer on 127.0.0.1 for the scale-out test')
    workdir = tmp_path_factory.mktemp('pulse-scale-out')
    schema = f'pulse_e2e_{os.getpid()}'
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    env.update(PULSE_DATA_DIR=str(workdir / 'data'), PULSE_DATABASE_URL=PG_URL, PULSE_DATABASE_SCHEMA=schema,
               PULSE_BUS_URL='redis://127.0.0.1:6379/0', PULSE_BUS_CHANNEL=f'pulse-e2e:{uuid.uuid4().hex}',
               PULSE_STORAGE_SECRET='shared-secret-for-both-processes', PULSE_MAIL_WORKER='false',
               PYTHONUNBUFFERED='1')
    seeded = subprocess.run(_cli('demo'), cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    servers = []
    try:
        for name in ('a', 'b'):
            port = _free_port()
            log_path = workdir / f'server-{name}.log'
            process = subprocess.Popen(_cli('serve', '--host', '127.0.0.1', '--port', str(port)), cwd=workdir,
                                       env=env, stdout=log_path.open('wb'), stderr=subprocess.STDOUT)
            servers.append(Server(url=f'http://127.0.0.1:{port}', log_path=log_path, process=process))
        for srv in servers:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(srv.url + '/login', timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert srv.process.poll() is None and time.monotonic() < deadline, srv.log_tail(100)
                time.sleep(0.25)
        yield servers
    finally:
        for srv in servers:
            _stop(srv.process)
        subprocess.run(['psql', '-h', '127.0.0.1', '-U', 'postgres', 'test',
                        '-c', f'DROP SCHEMA IF EXISTS {schema} CASCADE'],
                       capture_output=True, timeout=60)


async def test_live_message_and_presence_cross_processes(two_servers):
    server_a, server_b = two_servers
    async with async_playwright() as playwright:
        browser = await _launch(playwright)
        try:
            on_a, on_b = E2E(server=server_a, browser=browser), E2E(server=server_b, browser=browser)
            anna = await on_a.login('anna@pulse.demo')
            ben = await on_b.login('ben@pulse.demo')
            ref = reference(3)
            await on_a.open_ticket(anna, ref)
            await on_b.open_ticket(ben, ref)
            # presence: Ben (process B) shows up on Anna's page (process A)
            await expect(header(anna.page, ref).get_by_text('BO', exact=True)).to_be_visible(timeout=10_000)
            text = f'Served by process A, read on process B ({uuid.uuid4().hex[:6]})'
            await post_message(anna.page, text)
            await expect(ben.page.get_by_text(text, exact=True)).to_be_visible(timeout=10_000)
        finally:
            await browser.close()
