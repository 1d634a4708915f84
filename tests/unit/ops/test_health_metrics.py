"""/healthz, /readyz and /metrics as a caller sees them (through the ASGI middleware that answers them in front of
the app), what the metrics count, and the JSON log lines with their request id."""
import asyncio
import io
import json
import logging

import httpx
import pytest
from prometheus_client import generate_latest

from pulse_live import auth, db
from pulse_live.bus import MemoryBus, get_bus, set_bus
from pulse_live.bus.redis import RedisBus
from pulse_live.config import reset_settings
from pulse_live.errors import LoginRefused
from pulse_live.events import TicketChanged
from pulse_live.ops import http as ops_http
from pulse_live.ops import logs, metrics

app_log = logging.getLogger('pulse_live.test_app')


async def _inner_app(scope, receive, send):
    """Stands for the app behind the middleware: logs a line, answers 200."""
    app_log.warning('inside the request')
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': b'page'})


def _client(client_host: str = '127.0.0.1') -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=ops_http.OpsMiddleware(_inner_app), client=(client_host, 40000))
    return httpx.AsyncClient(transport=transport, base_url='http://pulse.test')


def _sample(name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_healthz_answers_without_the_database():
    await db.dispose()  # no database at all: the process lives, that is all /healthz says
    async with _client('203.0.113.9') as client:
        response = await client.get('/healthz')
    assert response.status_code == 200 and response.json() == {'status': 'ok'}
    assert 'set-cookie' not in response.headers


async def test_readyz_ready_with_smtp_down_reported_but_not_failing(database, monkeypatch):
    monkeypatch.setenv('PULSE_SMTP_PORT', '1')  # nothing listens there
    reset_settings()
    async with _client() as client:
        response = await client.get('/readyz')
    body = response.json()
    assert response.status_code == 200 and body['status'] == 'ready' and body['failing'] == []
    assert body['checks']['database']['ok'] and body['checks']['bus']['ok'] and body['checks']['attachments']['ok']
    assert body['checks']['smtp'] == {'ok': False, 'error': 'ConnectionRefusedError', 'required': False,
                                      'ms': body['checks']['smtp']['ms']}


async def test_readyz_names_an_unreachable_database(monkeypatch):
    db.init('postgresql+asyncpg://postgres@127.0.0.1:1/nowhere')
    try:
        async with _client() as client:
            response = await client.get('/readyz')
    finally:
        await db.dispose()
    assert response.status_code == 503
    assert response.json()['failing'] == ['database'] and response.json()['status'] == 'not ready'


async def test_readyz_names_a_bus_that_lost_redis_and_an_attachment_folder_it_cannot_write(database, tmp_path,
                                                                                          monkeypatch):
    not_a_folder = tmp_path / 'data-is-a-file'
    not_a_folder.write_text('x')
    monkeypatch.setenv('PULSE_DATA_DIR', str(not_a_folder))
    reset_settings()
    bus = RedisBus('redis://127.0.0.1:1/0')  # never reached its server
    set_bus(bus)
    try:
        async with _client() as client:
            response = await client.get('/readyz')
    finally:
        set_bus(MemoryBus())
    assert response.status_code == 503
    assert response.json()['failing'] == ['bus', 'attachments']


@pytest.mark.parametrize(('client_host', 'headers', 'status'), [
    ('127.0.0.1', {}, 200),
    ('::1', {}, 200),
    ('127.0.0.1', {'X-Forwarded-For': '198.51.100.7'}, 403),  # came through the proxy: from outside
    ('127.0.0.1', {'Forwarded': 'for=198.51.100.7'}, 403),
    ('127.0.0.1', {'X-Real-IP': '198.51.100.7'}, 403),
    ('10.1.2.3', {}, 403),
])
async def test_metrics_without_a_token_only_for_direct_loopback_callers(database, client_host, headers, status):
    async with _client(client_host) as client:
        response = await client.get('/metrics', headers=headers)
    assert response.status_code == status
    if status == 200:
        assert response.headers['content-type'].startswith('text/plain') and 'pulse_live_outbox_pending' in \
            response.text


@pytest.mark.parametrize(('authorization', 'status'), [
    (None, 401), ('Bearer wrong-token', 401), ('Basic bWV0cmljczpzM2NyZXQ=', 401), ('Bearer s3cret-metrics', 200),
    ('bearer s3cret-metrics', 200),
])
async def test_metrics_with_a_token_need_it_from_anyone(database, monkeypatch, authorization, status):
    monkeypatch.setenv('PULSE_METRICS_TOKEN', 's3cret-metrics')
    reset_settings()
    async with _client('127.0.0.1') as client:  # loopback alone is not enough once a token is set
        response = await client.get('/metrics', headers={'Authorization': authorization} if authorization else {})
    assert response.status_code == status
    if status == 401:
        assert response.headers['www-authenticate'] == 'Bearer' and 'pulse_live' not in response.text


async def test_metrics_count_events_mails_logins_requests_and_read_the_outbox(people):
    published = _sample('pulse_live_events_published_total', topic='ticket')
    delivered = _sample('pulse_live_events_delivered_total', topic='ticket', origin='local')
    timed = _sample('pulse_live_event_delivery_seconds_count', origin='local')
    refused = _sample('pulse_live_login_failures_total', reason='refused')
    await get_bus().publish(TicketChanged(ticket_id=1, kind='message', actor_id=None))
    with pytest.raises(LoginRefused):
        await auth.authenticate('anna@pulse.demo', 'not her password', address='192.0.2.1')
    async with _client() as client:
        await client.get('/tickets/PL-2026-000001')
        scraped = (await client.get('/metrics')).text
    assert _sample('pulse_live_events_published_total', topic='ticket') == published + 1
    assert _sample('pulse_live_events_delivered_total', topic='ticket', origin='local') == delivered + 1
    assert _sample('pulse_live_event_delivery_seconds_count', origin='local') == timed + 1
    assert _sample('pulse_live_login_failures_total', reason='refused') == refused + 1
    assert _sample('pulse_live_http_request_seconds_count', method='GET', route='/tickets', status='2xx') >= 1
    assert 'pulse_live_outbox_pending ' in scraped and 'pulse_live_outbox_oldest_pending_age_seconds ' in scraped
    assert 'pulse_live_db_pool_connections{state="checked_out"}' in scraped
    assert 'pulse_live_connected_clients 0.0' in scraped


async def test_json_log_lines_carry_the_request_id():
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    handler = logs.configure('json', stream=stream)
    try:
        async with _client() as client:
            given = await client.get('/tickets', headers={'X-Request-ID': 'proxy-id-42'})
            fresh = await client.get('/tickets')
            hostile = await client.get('/tickets', headers={'X-Request-ID': b'x\xe9"{bad} id'})
    finally:
        root.handlers, root.level = before
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line['logger'] == 'pulse_live.test_app']
    assert handler is not None and len(mine) == 3
    assert given.headers['x-request-id'] == 'proxy-id-42' and mine[0]['request_id'] == 'proxy-id-42'
    assert mine[1]['request_id'] == fresh.headers['x-request-id'] and len(fresh.headers['x-request-id']) == 16
    assert mine[2]['request_id'] == hostile.headers['x-request-id'] != 'x\xe9"{bad} id'  # replaced, not echoed
    assert {'time', 'level', 'message', 'client_id'} <= set(mine[0])
    assert logs.request_id.get() is None  # nothing leaks out of the request


@pytest.mark.parametrize(('client_host', 'headers'), [
    ('203.0.113.9', {}),
    ('127.0.0.1', {'X-Forwarded-For': '198.51.100.7'}),  # came through the proxy: from outside
])
async def test_readyz_tells_outside_callers_only_the_verdict(database, client_host, headers):
    async with _client(client_host) as client:
        response = await client.get('/readyz', headers=headers)
    assert response.status_code == 200 and response.json() == {'status': 'ready'}  # no hosts, ports, backends


async def test_a_flood_of_readyz_runs_the_checks_once(database, monkeypatch):
    from pulse_live.ops import health
    runs: list[str] = []

    async def counted_smtp() -> str:
        runs.append('smtp')
        return 'mail.test:25'
    monkeypatch.setitem(health.CHECKS, 'smtp', counted_smtp)
    monkeypatch.setattr(health, '_last', None)
    async with _client('203.0.113.9') as client:
        answers = await asyncio.gather(*(client.get('/readyz') for _ in range(50)))
        answers += [await client.get('/readyz') for _ in range(20)]
    assert {a.status_code for a in answers} == {200} and len(runs) == 1
    monkeypatch.setattr(health, 'READINESS_TTL_S', 0.0)  # the answer is not kept for ever: checked again
    async with _client() as client:
        response = await client.get('/readyz')
    assert response.json()['checks']['smtp']['detail'] == 'mail.test:25' and len(runs) == 2


def _method_labels() -> set[str]:
    return {sample.labels['method'] for family in metrics.registry.collect()
            if family.name == 'pulse_live_http_request_seconds' for sample in family.samples}


async def test_methods_a_client_makes_up_add_no_series():
    """The method is whatever the client sends (``M0000001 /login HTTP/1.1`` is answered like a GET): each new one
    once added a series per bucket for good (20,000 of them made /metrics 34 MB, a 2.8 s scrape on the loop)."""
    middleware = ops_http.OpsMiddleware(_inner_app)

    async def receive():
        return {'type': 'http.request', 'body': b'', 'more_body': False}

    async def send(message):
        pass
    for method in ('GET', 'POST', 'HEAD'):
        await middleware({'type': 'http', 'method': method, 'path': '/login', 'headers': []}, receive, send)
    before = _method_labels()
    for n in range(200):
        await middleware({'type': 'http', 'method': f'M{n:07d}', 'path': '/login', 'headers': []}, receive, send)
    await middleware({'type': 'http', 'path': '/login', 'headers': []}, receive, send)  # no method at all
    added = _method_labels() - before
    assert len(added) <= 1 and added <= {'other'}, sorted(added)[:5]
    assert _sample('pulse_live_http_request_seconds_count', method='other', route='/login', status='2xx') >= 201
    assert {'GET', 'POST', 'HEAD'} <= _method_labels()
    body = generate_latest(metrics.registry).decode()
    assert 'M0000001' not in body
