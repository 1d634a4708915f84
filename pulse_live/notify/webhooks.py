"""The webhook sender worker: drains ``webhook_deliveries`` with signed JSON POSTs, retries with exponential backoff
and jitter, and gives up into a dead letter after ``PULSE_WEBHOOK_MAX_ATTEMPTS`` (the admin page can send it again).
Modelled on the mail sender (``sender.py``): rows are claimed with ``locked_until`` so several processes never post
the same delivery; a crash between the POST and the record can only repeat a delivery with the same
``X-Pulse-Delivery`` id (receivers de-duplicate on it).

**The request.** ``POST`` of the payload as JSON; headers ``X-Pulse-Event``, ``X-Pulse-Delivery`` (the row id) and
``X-Pulse-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's secret>``. Redirects are
not followed. Any 2xx is success; anything else is retried.

**Where it may connect.** The URL checks live here (``check_url``: http/https only, no credentials, every address
of the host public unless ``PULSE_WEBHOOK_ALLOW_PRIVATE``). At send time the same check runs inside the HTTP
client's resolver, for the very addresses it connects to, so a name re-pointed inside after it was saved (DNS
rebinding) is refused; a literal address is checked before the request.

**What is kept of the answer**: its status code only (``last_status``) and, for a failure, a short sanitised reason
of ours ("HTTP 503", "timed out"): the receiver's body is never read into the database or shown.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import re
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import func, or_, select, update

from .. import db
from ..config import get_settings
from ..errors import ValidationError
from ..models import WebhookDelivery, WebhookEndpoint, utcnow
from .worker_loop import WorkerLoop

log = logging.getLogger(__name__)
CLAIM_S = 120
URL_LIMIT = 2000
ERROR_LIMIT = 300
_loop = WorkerLoop('webhook-sender')


class WebhookUrlError(ValidationError, ValueError):
    """A webhook URL was refused; the message says why and is safe to show."""


# --- where a webhook may go ---------------------------------------------------------------------------------------

def check_url_form(url: Any) -> tuple[str, str, int]:
    """The URL's (clean URL, host, port) if it is an http(s) URL with a host and nothing odd; else WebhookUrlError."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookUrlError('Give the webhook URL (http:// or https://).')
    url = url.strip()
    if len(url) > URL_LIMIT:
        raise WebhookUrlError(f'The URL is too long (at most {URL_LIMIT} characters).')
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookUrlError('The URL must not contain spaces or control characters.')
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise WebhookUrlError(f'The URL cannot be read: {e}.') from None
    if parts.scheme.lower() not in ('http', 'https'):
        raise WebhookUrlError('Only http:// and https:// URLs can receive webhooks.')
    if not parts.hostname:
        raise WebhookUrlError('The URL names no host.')
    if parts.username or parts.password:
        raise WebhookUrlError('Put no user name or password in the URL; the receiver checks the signature instead.')
    return url, parts.hostname, port or (443 if parts.scheme.lower() == 'https' else 80)


def address_refusal(address: str) -> str | None:
    """Why a webhook may not connect to this IP address (None: it may), unless private addresses are allowed."""
    if get_settings().webhook_allow_private:
        return None
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split('%', 1)[0])
    except ValueError:
        return f'{address} is not an IP address.'
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address inside an IPv6 one is judged as that address
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            ip = inner
    for test, what in ((ip.is_unspecified, 'an unspecified'), (ip.is_loopback, 'a loopback'),
                       (ip.is_link_local, 'a link-local'), (ip.is_multicast, 'a multicast'),
                       (ip.is_reserved, 'a reserved'), (ip.is_private, 'a private')):
        if test:
            return f'{ip}, {what} address; webhooks go to public addresses only (unless an admin allows private ones).'
    if not ip.is_global:
        return f'{ip}, not a public address; webhooks go to public addresses only.'
    return None


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip('[]').split('%', 1)[0])
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int) -> list[str]:
    """The host's IP addresses (a literal address is itself); WebhookUrlError when the name does not resolve."""
    if _literal(host):
        return [host.strip('[]')]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise WebhookUrlError(f'The host {host} cannot be found ({type(e).__name__}).') from None
    return sorted({str(info[4][0]) for info in infos})


async def check_url(url: Any) -> str:
    """The clean URL if a webhook may post to it now (form, scheme, every address the host resolves to)."""
    clean, host, port = check_url_form(url)
    for address in await resolve(host, port):
        refusal = address_refusal(address)
        if refusal is not None:
            raise WebhookUrlError(f'The URL is refused: {host} resolves to {refusal}')
    return clean


class _Refused(OSError):
    pass


class _PublicResolver(AbstractResolver):
    """Resolves like aiohttp and refuses a host any of whose addresses is not allowed (checked at connect time)."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            refusal = address_refusal(result['host'])
            if refusal is not None:
                raise _Refused(f'refused: {host} resolves to {refusal}')
        return results

    async def close(self) -> None:
        await self._inner.close()


# --- sending ------------------------------------------------------------------------------------------------------

def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    mac = hmac.new(secret.encode(), f'{timestamp}.'.encode() + body, hashlib.sha256).hexdigest()
    return f't={timestamp},v1={mac}'


def verify(secret: str, header: str, body: bytes, *, now: float | None = None, tolerance_s: int = 300) -> bool:
    """What a receiver does (used by the tests): the signature matches and is fresh."""
    try:
        parts = dict(p.split('=', 1) for p in header.split(','))
        timestamp = int(parts['t'])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(',', ':'), default=str).encode()


def wake() -> None:
    """Tell the worker that something may be due (after a commit that wrote deliveries)."""
    _loop.wake()


def backoff(attempts: int) -> float:
    s = get_settings()
    return min(s.webhook_retry_base_s * 2 ** (attempts - 1), s.webhook_retry_max_s) * random.uniform(0.5, 1.5)


_UNSAFE = re.compile(r'[^\w .:/()\-,%=]+')


def _reason(e: BaseException) -> str:
    """A short reason of ours for a failed try (never the receiver's words)."""
    if isinstance(e, TimeoutError | asyncio.TimeoutError):
        return 'timed out'
    cause = getattr(e, 'os_error', None) or e.__cause__
    if isinstance(cause, _Refused):  # our own resolver said no
        e = cause
    if isinstance(e, _Refused):
        return _UNSAFE.sub(' ', str(e.args[0]))[:ERROR_LIMIT]
    text = f'{type(e).__name__}: {e}'
    return _UNSAFE.sub(' ', text)[:ERROR_LIMIT]


async def _claim(now: datetime, limit: int) -> list[int]:
    async with db.write_lock(), db.session() as s, s.begin():
        ids = list((await s.execute(
            select(WebhookDelivery.id).where(WebhookDelivery.status == 'pending',
                                             WebhookDelivery.next_attempt_at <= now,
                                             or_(WebhookDelivery.locked_until.is_(None),
                                                 WebhookDelivery.locked_until < now))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))).scalars())
        if not ids:
            return []
        claimed = (await s.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == 'pending',
                                          or_(WebhookDelivery.locked_until.is_(None),
                                              WebhookDelivery.locked_until < now))
            .values(locked_until=now + timedelta(seconds=CLAIM_S)).returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False))).scalars().all()
    return list(claimed)


async def _post(http: aiohttp.ClientSession, endpoint: WebhookEndpoint, delivery: WebhookDelivery,
                timestamp: int) -> int:
    """POST one delivery; its HTTP status (raises on a refused address or a connection failure)."""
    _, host, _ = check_url_form(endpoint.url)
    if _literal(host):
        refusal = address_refusal(host.strip('[]'))
        if refusal is not None:
            raise _Refused(f'refused: {refusal}')
    body = body_of(delivery.payload)
    headers = {'Content-Type': 'application/json', 'User-Agent': 'PulseLive-Webhook/1',
               'X-Pulse-Event': delivery.event, 'X-Pulse-Delivery': str(delivery.id),
               'X-Pulse-Signature': sign(endpoint.secret, timestamp, body)}
    async with http.post(endpoint.url, data=body, headers=headers, allow_redirects=False) as response:
        return response.status  # the body is never read


async def send_due(*, now: datetime | None = None, clock: Callable[[], float] = time.time, limit: int = 50) -> int:
    """Post what is due at ``now`` (default: the time now); return how many deliveries were tried."""
    now = now or utcnow()
    ids = await _claim(now, limit)
    if not ids:
        return 0
    async with db.session() as s:
        rows = list((await s.execute(select(WebhookDelivery, WebhookEndpoint)
                                     .join(WebhookEndpoint, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
                                     .where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.id))).all())
    outcome: dict[int, tuple[int | None, str | None]] = {}  # id → (status, error None when sent)
    settings = get_settings()
    connector = aiohttp.TCPConnector(resolver=_PublicResolver(), limit=8)
    try:
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_s)) as http:
            async def one(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> None:
                if not endpoint.is_active:
                    outcome[delivery.id] = (None, 'the webhook is switched off')
                    return
                try:
                    status = await _post(http, endpoint, delivery, int(clock()))
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    outcome[delivery.id] = (None, _reason(e))
                    return
                outcome[delivery.id] = (status, None if 200 <= status < 300 else f'HTTP {status}')
            await asyncio.gather(*[one(d, e) for d, e in rows])
    finally:
        await _record(now, rows, outcome)
    return len(rows)


async def _record(now: datetime, rows, outcome: dict[int, tuple[int | None, str | None]]) -> None:
    settings = get_settings()
    async with db.write_lock(), db.session() as s, s.begin():
        for delivery, _ in rows:
            status, error = outcome.get(delivery.id, (None, 'not sent: the sending round was interrupted'))
            attempts = delivery.attempts + 1
            if error is None:
                values: dict[str, Any] = {'status': 'sent', 'sent_at': now, 'last_error': '', 'last_status': status}
            else:
                dead = attempts >= settings.webhook_max_attempts
                values = {'status': 'dead' if dead else 'pending', 'last_error': error, 'last_status': status,
                          'next_attempt_at': now + timedelta(seconds=0 if dead else backoff(attempts))}
            await s.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery.id)
                            .values(attempts=attempts, locked_until=None, **values))


async def next_due(now: datetime | None = None) -> datetime | None:
    async with db.session() as s:
        return (await s.execute(select(func.min(WebhookDelivery.next_attempt_at))
                                .where(WebhookDelivery.status == 'pending'))).scalar_one_or_none()


async def run_forever(*, idle_s: float = 60.0) -> None:
    _loop.begin()
    while True:
        try:
            if await send_due():
                continue
            first = await next_due()
            due = None if first is None else max(0.0, (first - utcnow()).total_seconds())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception('webhook sender round failed')
            due = 5.0
        await _loop.sleep(due, idle_s)


def start() -> None:
    _loop.start(run_forever)


async def stop() -> None:
    await _loop.stop()
