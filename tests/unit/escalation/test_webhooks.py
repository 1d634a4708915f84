"""Outgoing webhooks: where they may go (SSRF), signed delivery to a local receiver, retries, dead letters, the
admin's retry and discard; the receiver's answer is never stored verbatim."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.models import WebhookDelivery, WebhookEndpoint, utcnow
from pulse_live.notify import webhooks as sender
from pulse_live.services import webhooks
from pulse_live.services._uow import unit_of_work

SECRET = 'a-long-enough-secret-for-tests'


@pytest.fixture
def allow_private(monkeypatch):
    monkeypatch.setenv('PULSE_WEBHOOK_ALLOW_PRIVATE', 'true')
    monkeypatch.setenv('PULSE_WEBHOOK_MAX_ATTEMPTS', '3')
    reset_settings()


class Receiver:
    """A local HTTP receiver that answers with the status codes it is given, one per request (then 200)."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.url = ''

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, text='<script>alert("secret internals")</script>')


@pytest.fixture
async def receiver():
    r = Receiver()
    app = web.Application()
    app.router.add_post('/hook', r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, '127.0.0.1', 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    r.url = f'http://127.0.0.1:{port}/hook'
    yield r
    await runner.cleanup()


async def _queue_one(endpoint: WebhookEndpoint) -> int:
    async with unit_of_work() as uow:
        row = webhooks.enqueue(uow.session, endpoint=endpoint, payload={'ticket': 'PL-1', 'level': 2}, ticket_id=None)
        await uow.session.flush()
        return row.id


async def _delivery(delivery_id: int) -> WebhookDelivery:
    async with db.session() as s:
        return await s.get(WebhookDelivery, delivery_id)


@pytest.mark.parametrize(('url', 'message'), [
    ('ftp://example.com/hook', 'Only http'),
    ('javascript:alert(1)', 'Only http'),
    ('file:///etc/passwd', 'Only http'),
    ('http:///nohost', 'no host'),
    ('https://user:pw@example.com/', 'no user name'),
    ('http://127.0.0.1:8080/hook', 'loopback'),
    ('http://localhost/hook', 'loopback'),
    ('http://10.1.2.3/hook', 'private'),
    ('http://192.168.0.10/hook', 'private'),
    ('http://169.254.169.254/latest/meta-data', 'link-local'),
    ('http://[::1]/hook', 'loopback'),
    ('http://[::ffff:127.0.0.1]/hook', 'loopback'),
    ('http://0.0.0.0/', 'unspecified'),
    ('', 'Give the webhook URL'),
])
async def test_urls_that_are_not_public_http_are_refused_and_nothing_is_stored(people, url, message):
    admin = people.users['admin@pulse.demo']
    with pytest.raises(ValidationError, match=message):
        await webhooks.create_endpoint(actor=admin, name='Pager', url=url, secret=SECRET)
    async with db.session() as s:
        assert (await s.execute(select(func.count(WebhookEndpoint.id)))).scalar_one() == 0


async def test_a_public_address_passes_the_address_check():
    assert sender.address_refusal('93.184.216.34') is None
    assert 'private' in sender.address_refusal('172.16.5.4')


@pytest.mark.parametrize('address', ['2002:7f00:1::', '2002:a9fe:a9fe::', '2002:0a00:0001::',  # 6to4 of 127.0.0.1, …
                                     '2001:0:4136:e378:8000:63bf:80ff:fffe',  # Teredo of 127.0.0.1
                                     '::ffff:127.0.0.1'])
async def test_an_internal_ipv4_address_inside_an_ipv6_one_is_refused(address):
    """6to4 and Teredo addresses carry an IPv4 address; where the server routes them, they reach it."""
    assert sender.address_refusal(address) is not None
    assert sender.address_refusal('2002:5db8:d822::') is None  # 6to4 of the public 93.184.216.34


async def test_only_admins_change_webhooks(people, allow_private, receiver):
    with pytest.raises(PermissionDenied):
        await webhooks.create_endpoint(actor=people.users['maria@pulse.demo'], name='Pager', url=receiver.url)


async def test_signed_delivery_to_a_local_receiver(people, allow_private, receiver):
    endpoint = await webhooks.create_endpoint(actor=people.users['admin@pulse.demo'], name='Pager', url=receiver.url,
                                              secret=SECRET)
    delivery_id = await _queue_one(endpoint)
    assert await sender.send_due() == 1
    (headers, body), = receiver.requests
    assert json.loads(body) == {'level': 2, 'ticket': 'PL-1'}
    assert sender.verify(SECRET, headers['X-Pulse-Signature'], body)
    assert not sender.verify('another-secret-of-some-length', headers['X-Pulse-Signature'], body)
    assert headers['X-Pulse-Delivery'] == str(delivery_id)
    row = await _delivery(delivery_id)
    assert (row.status, row.last_status, row.attempts) == ('sent', 200, 1)
    assert await sender.send_due() == 0  # sent once


async def test_retries_with_backoff_then_dead_letter_then_the_admin_sends_it_again(people, allow_private, receiver):
    admin = people.users['admin@pulse.demo']
    endpoint = await webhooks.create_endpoint(actor=admin, name='Pager', url=receiver.url, secret=SECRET)
    delivery_id = await _queue_one(endpoint)
    receiver.answers = [503, 500, 502]
    now = utcnow()
    assert await sender.send_due(now=now) == 1
    row = await _delivery(delivery_id)
    assert (row.status, row.attempts, row.last_status, row.last_error) == ('pending', 1, 503, 'HTTP 503')
    assert row.next_attempt_at > now + timedelta(seconds=10)  # backoff: not again at once
    assert await sender.send_due(now=now) == 0
    for _ in range(2):
        now = (await _delivery(delivery_id)).next_attempt_at
        assert await sender.send_due(now=now) == 1
    row = await _delivery(delivery_id)
    assert (row.status, row.attempts) == ('dead', 3)
    assert 'script' not in row.last_error and 'internals' not in row.last_error  # the receiver's words: never kept
    assert len(receiver.requests) == 3
    await webhooks.retry_delivery(actor=admin, delivery_id=delivery_id)
    assert await sender.send_due() == 1
    assert (await _delivery(delivery_id)).status == 'sent'
    with pytest.raises(ValidationError, match='sent already'):
        await webhooks.discard_delivery(actor=admin, delivery_id=delivery_id)


async def test_discarded_deliveries_are_not_sent(people, allow_private, receiver):
    admin = people.users['admin@pulse.demo']
    endpoint = await webhooks.create_endpoint(actor=admin, name='Pager', url=receiver.url, secret=SECRET)
    delivery_id = await _queue_one(endpoint)
    await webhooks.discard_delivery(actor=admin, delivery_id=delivery_id)
    assert await sender.send_due() == 0
    assert receiver.requests == []


@pytest.mark.parametrize('host', ['127.0.0.1', 'localhost'])
async def test_an_address_turned_private_after_saving_is_refused_at_send_time(people, allow_private, receiver,
                                                                              monkeypatch, host):
    """The URL was allowed when saved (here: the setting was on); at send time the address is checked again, for a
    literal address before the request and for a name in the resolver that connects (DNS rebinding)."""
    endpoint = await webhooks.create_endpoint(actor=people.users['admin@pulse.demo'], name='Pager',
                                              url=receiver.url.replace('127.0.0.1', host), secret=SECRET)
    delivery_id = await _queue_one(endpoint)
    monkeypatch.setenv('PULSE_WEBHOOK_ALLOW_PRIVATE', 'false')
    reset_settings()
    assert await sender.send_due() == 1
    row = await _delivery(delivery_id)
    assert row.status == 'pending' and 'refused' in row.last_error and 'loopback' in row.last_error
    assert receiver.requests == []
