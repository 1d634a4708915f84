"""``/healthz``, ``/readyz`` and ``/metrics``, answered in front of the whole app (pure ASGI: no session, no page
machinery), and for every other HTTP request its latency and a request id (``X-Request-ID``, in the logs too).

``/metrics`` is not for the public: with ``PULSE_METRICS_TOKEN`` set it needs ``Authorization: Bearer <token>``;
without it, only a direct loopback caller is answered (no proxy forwarding headers), everyone else gets 403.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..config import get_settings
from . import health, logs, metrics

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
FORWARDING_HEADERS = (b'x-forwarded-for', b'forwarded', b'x-real-ip')
UNTIMED_PREFIXES = ('/_nicegui_ws',)  # socket.io long-polling waits by design: not a request latency


async def _answer(send: Send, status: int, body: bytes, content_type: bytes,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(b'content-type', content_type), (b'content-length', str(len(body)).encode()),
                            (b'cache-control', b'no-store'), *(extra or [])]})
    await send({'type': 'http.response.body', 'body': body})


def _json(data: dict) -> bytes:
    return json.dumps(data, separators=(',', ':')).encode()


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get('headers', [])}


def metrics_allowed(scope: Scope) -> tuple[int, str]:
    """(0, '') when this caller may read the metrics, else the status and why."""
    headers = _headers(scope)
    token = get_settings().metrics_token
    if token:
        given = headers.get(b'authorization', b'').decode('latin-1')
        scheme, _, value = given.partition(' ')
        if scheme.lower() == 'bearer' and hmac.compare_digest(value.strip().encode(), token.encode()):
            return 0, ''
        return 401, 'a bearer token is needed (PULSE_METRICS_TOKEN)'
    client = scope.get('client') or ('', 0)
    try:
        loopback = ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        loopback = False
    if loopback and not any(name in headers for name in FORWARDING_HEADERS):
        return 0, ''
    return 403, 'metrics are served to loopback callers only (or set PULSE_METRICS_TOKEN)'


class OpsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        path = scope.get('path', '')
        if path == '/healthz':
            await _answer(send, 200, b'{"status":"ok"}', b'application/json')
            return
        if path == '/readyz':
            ready, body = await health.readiness()
            if metrics_allowed(scope)[0]:  # the public answer: only the verdict (hosts and backends stay inside)
                body = {'status': body['status']}
            await _answer(send, 200 if ready else 503, _json(body), b'application/json')
            return
        if path == '/metrics':
            status, why = metrics_allowed(scope)
            if status:
                log.warning('refused: /metrics to %s (%s)', (scope.get('client') or ('?',))[0], why)
                extra = [(b'www-authenticate', b'Bearer')] if status == 401 else []
                await _answer(send, status, _json({'detail': why}), b'application/json', extra)
                return
            await health.refresh_gauges()
            await _answer(send, 200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST.encode())
            return
        await self._timed(scope, receive, send, path)

    async def _timed(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        offered = _headers(scope).get(b'x-request-id', b'').decode('latin-1')
        rid = logs.new_request_id(offered)
        token = logs.request_id.set(rid)
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message['type'] == 'http.response.start':
                status[0] = message['status']
                message['headers'] = [*message.get('headers', []), (b'x-request-id', rid.encode())]
            await send(message)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if not path.startswith(UNTIMED_PREFIXES):
                metrics.request_seconds.labels(metrics.method_label(scope.get('method')), metrics.route_label(path),
                                               f'{status[0] // 100}xx').observe(time.perf_counter() - started)
            logs.request_id.reset(token)


def install(app: Any) -> None:
    """Wrap the app's middleware stack from the outside (built at the first request), like the error intake."""
    if getattr(app, 'pulse_ops', False):
        return
    build = app.build_middleware_stack

    def build_with_ops() -> Any:
        return OpsMiddleware(build())
    app.build_middleware_stack = build_with_ops
    app.pulse_ops = True
