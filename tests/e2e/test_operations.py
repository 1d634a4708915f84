"""Operations against real server processes, as a load balancer, Prometheus and an attacker send it (raw HTTP):
/healthz, /readyz, /metrics and who may read it, JSON log lines with the request id; and the admins' "Retry all
failed" on the outbox page in Chromium."""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.async_api import expect

from .conftest import Server, _free_port, _server_command, _stop, screenshot

pytestmark = pytest.mark.e2e
TOKEN = 'e2e-metrics-token'


def _start(workdir: Path, **settings: str) -> Server:
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTEST_CURRENT_TEST', 'PULSE_DATABASE_URL', 'PULSE_BUS_URL')}
    env.update(PULSE_DATA_DIR=str(workdir / 'data'), PYTHONUNBUFFERED='1', PULSE_SMTP_PORT=str(_free_port()),
               **settings)
    log_path = workdir / 'server.log'
    command = [c for c in _server_command(port) if c != '--demo']  # an empty installation starts in seconds
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log_path.open('wb'), stderr=subprocess.STDOUT)
    server = Server(url=f'http://127.0.0.1:{port}', log_path=log_path, process=process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(server.url + '/healthz', timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f'server did not start:\n{server.log_tail(80)}')
        time.sleep(0.25)


@pytest.fixture(scope='module')
def open_server(tmp_path_factory):
    """No metrics token (loopback only), JSON logs."""
    server = _start(tmp_path_factory.mktemp('ops-open'), PULSE_LOG_FORMAT='json')
    yield server
    _stop(server.process)


@pytest.fixture(scope='module')
def token_server(tmp_path_factory):
    server = _start(tmp_path_factory.mktemp('ops-token'), PULSE_METRICS_TOKEN=TOKEN)
    yield server
    _stop(server.process)


def raw(server: Server, request_head: str) -> tuple[int, dict[str, str], bytes]:
    """Send the request bytes as written and read the whole answer (Connection: close)."""
    port = int(server.url.rsplit(':', 1)[1])
    with socket.create_connection(('127.0.0.1', port), timeout=10) as sock:
        sock.sendall(request_head.replace('\n', '\r\n').encode() + b'\r\n')
        data = b''
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def get(path: str, *extra_headers: str) -> str:
    return '\n'.join([f'GET {path} HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', *extra_headers, ''])


def test_health_and_readiness_answer_without_a_session(open_server):
    status, headers, body = raw(open_server, get('/healthz'))
    assert status == 200 and json.loads(body) == {'status': 'ok'} and 'set-cookie' not in headers
    status, headers, body = raw(open_server, get('/readyz'))
    ready = json.loads(body)
    assert status == 200 and ready['status'] == 'ready' and 'set-cookie' not in headers
    assert {name for name, check in ready['checks'].items() if check['ok']} == {'database', 'bus', 'attachments'}
    assert ready['checks']['smtp'] == {'ok': False, 'error': 'ConnectionRefusedError', 'required': False,
                                       'ms': ready['checks']['smtp']['ms']}


def test_metrics_only_to_direct_loopback_callers_without_a_token(open_server):
    assert raw(open_server, get('/login'))[0] == 200  # one timed request
    status, headers, body = raw(open_server, get('/metrics'))
    text = body.decode()
    assert status == 200 and headers['content-type'].startswith('text/plain')
    for name in ('pulse_live_connected_clients', 'pulse_live_events_published_total',
                 'pulse_live_event_delivery_seconds_bucket', 'pulse_live_outbox_pending',
                 'pulse_live_outbox_oldest_pending_age_seconds', 'pulse_live_mails_total',
                 'pulse_live_login_failures_total', 'pulse_live_http_request_seconds_bucket',
                 'pulse_live_db_pool_connections'):
        assert name in text, name
    # through a proxy (it adds the client's address), or claiming to be: refused
    for forwarded in ('X-Forwarded-For: 203.0.113.50', 'Forwarded: for=203.0.113.50', 'X-Real-IP: 203.0.113.50'):
        status, _, body = raw(open_server, get('/metrics', forwarded))
        assert status == 403 and b'pulse_live' not in body
    started = time.perf_counter()
    scrapes = 20
    for _ in range(scrapes):
        assert raw(open_server, get('/metrics'))[0] == 200
    print(f'/metrics scrape: {(time.perf_counter() - started) / scrapes * 1000:.1f} ms per request (with connect)')


def test_metrics_need_the_token_when_one_is_set(token_server):
    for authorization in ('', 'Authorization: Bearer wrong', 'Authorization: Basic ZTJlOmUyZQ==',
                          f'Authorization: Bearer {TOKEN}x', f'Authorization: Bearer {TOKEN[:-1]}'):
        status, headers, body = raw(token_server, get('/metrics', *([authorization] if authorization else [])))
        assert status == 401 and headers['www-authenticate'] == 'Bearer' and b'pulse_live' not in body
    status, _, body = raw(token_server, get('/metrics', f'Authorization: Bearer {TOKEN}'))
    assert status == 200 and b'pulse_live_outbox_pending' in body


def _upload_refused(server: Server, *extra_headers: str) -> dict[str, str]:
    status, headers, _ = raw(server, '\n'.join([
        'POST /_nicegui/client/not-a-page/upload/1 HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close',
        *extra_headers, 'Content-Type: multipart/form-data; boundary=x', 'Content-Length: 0', '']))
    assert status == 403  # logged as a refusal (pulse_live.security) inside the request
    return headers


def test_json_log_lines_carry_the_request_id(open_server):
    given = _upload_refused(open_server, 'X-Request-ID: e2e-upload-7')
    fresh = _upload_refused(open_server)
    assert given['x-request-id'] == 'e2e-upload-7' and len(fresh['x-request-id']) == 16
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(line) for line in open_server.log_path.read_text().splitlines()
                 if line.startswith('{')]
        refusals = [line for line in lines if line['logger'] == 'pulse_live.security']
        if len(refusals) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [line['request_id'] for line in refusals[-2:]] == ['e2e-upload-7', fresh['x-request-id']]
    assert all('not-a-page' in line['message'] and line['level'] == 'WARNING' for line in refusals[-2:])
    assert lines and all({'time', 'level', 'logger', 'message', 'request_id', 'client_id'} <= set(line)
                         for line in lines)
    assert not [line for line in open_server.log_path.read_text().splitlines() if line and not line.startswith('{')
                and 'Pulse Live is running' not in line and 'Demo logins' not in line]


async def test_admin_retries_all_failed_mails_on_the_outbox_page(e2e):
    data = e2e.server.log_path.parent / 'data' / 'pulse.db'
    conn = sqlite3.connect(data, timeout=30)
    with conn:
        for i in range(3):
            conn.execute(
                "INSERT INTO mail_outbox (to_addr, subject, body_text, body_html, message_id, \"references\", kind, "
                "status, attempts, next_attempt_at, last_error, last_failure, created_at) VALUES (?, 'PL-E2E', '', '', "
                "?, '', 'update', 'dead', 8, datetime('now'), 'SMTPRecipientsRefused: (550, no such user)', "
                "'refused', datetime('now'))", (f'gone{i}@example.org', f'<e2e-dead-{i}-{time.time()}@pulse-live>'))
    conn.close()
    ada = await e2e.login('admin@pulse.demo')
    page = ada.page
    await page.goto(e2e.url + '/admin/outbox?status=dead')
    for i in range(3):
        await expect(page.get_by_text(f'gone{i}@example.org')).to_be_visible()
    await screenshot(page, 'outbox-failed-before-retry-all.png')
    await page.get_by_role('button', name='Retry all failed').click()
    await expect(page.get_by_text('3 failed mails queued for the next round')).to_be_visible()
    await screenshot(page, 'outbox-after-retry-all.png')
    conn = sqlite3.connect(data, timeout=30)
    rows = conn.execute("SELECT status, attempts FROM mail_outbox WHERE subject = 'PL-E2E'").fetchall()
    conn.close()
    # queued again with a fresh set of attempts (sent, or pending a retry: the server has no mail server to reach)
    assert len(rows) == 3 and all(status in ('pending', 'sent') and attempts <= 1 for status, attempts in rows)
