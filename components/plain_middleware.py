"""NiceGUI's three ``BaseHTTPMiddleware`` layers as plain ASGI middleware, doing the same.

NiceGUI adds request tracking (``nicegui/storage.py``: the request in a context variable, a session id, the user's
storage made before the page runs), the ``X-Forwarded-Prefix`` redirect and the cache headers of its static files
(``nicegui/middlewares.py``) as ``BaseHTTPMiddleware``s. Each such layer runs the rest of the request in a task of its
own and passes the answer's start and every piece of its body through a memory stream from that task to its own: for
every HTTP request three task groups, three streams and several turns of the event loop per message. On a busy loop
every turn waits behind everything else that is ready, so a page's HTML came last of all a desk's work
(``benchmarks/desk_load.py``: the list's HTML p50 0.8–1.1 s while a ticket opened over the socket took 0.24 s).

``install(app)`` swaps them in ``app.user_middleware`` for the classes below when the stack is built (at the first
request, after ``ui.run`` added its two), in the same places of the order. What each does, and when, is NiceGUI's:
``tests/ui/test_plain_middleware.py`` compares them with NiceGUI's own on the same requests. One difference, on
purpose: a forwarded prefix that is not a path is ignored (``RedirectWithPrefix``).
"""
from __future__ import annotations

import re
import uuid
from typing import Any

from nicegui import core
from nicegui.middlewares import RedirectWithPrefixMiddleware, SetCacheControlMiddleware
from nicegui.storage import RequestTrackingMiddleware, request_contextvar
from nicegui.version import __version__
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _HttpOnly:
    """A layer for HTTP requests; websockets and the lifespan pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestTracking(_HttpOnly):
    """``RequestTrackingMiddleware``: the request in NiceGUI's context variable, a session id in the session, the
    session's user storage made before the app runs, the session counted as active while its request runs, and
    ``request.state.responded`` once the answer has started (``app.storage.browser`` is read-only from then)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_contextvar.set(request)
        if 'id' not in request.session:
            request.session['id'] = str(uuid.uuid4())
        request.state.responded = False
        session_id = request.session['id']
        storage = core.app.storage
        active = storage._active_request_sessions  # pylint: disable=protected-access
        active[session_id] += 1
        try:
            if session_id not in storage._users:  # pylint: disable=protected-access
                await storage._create_user_storage(session_id)  # pylint: disable=protected-access

            async def sending(message: Message) -> None:
                if message['type'] == 'http.response.start':
                    request.state.responded = True
                await send(message)

            await self.app(scope, receive, sending)
        finally:
            active[session_id] -= 1
            if active[session_id] <= 0:
                del active[session_id]


PREFIX = re.compile(r'(/[A-Za-z0-9._~%!$&\'()*+,;=:@-]+)*')


class RedirectWithPrefix(_HttpOnly):
    """``RedirectWithPrefixMiddleware``: an answer's ``Location`` that starts with ``/`` gets the request's
    ``X-Forwarded-Prefix`` in front — when it is a path (segments, each ``/`` and at least one character): NiceGUI
    puts any value there, and a request with ``X-Forwarded-Prefix: //elsewhere.example`` was redirected to
    ``//elsewhere.example/login``, another site (a header a proxy passes through from the client). Any other value
    is ignored."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix = Headers(scope=scope).get('X-Forwarded-Prefix', '')
        if not PREFIX.fullmatch(prefix):
            prefix = ''

        async def sending(message: Message) -> None:
            if message['type'] == 'http.response.start':
                headers = MutableHeaders(scope=message)
                location = headers.get('Location')
                if location is not None and location.startswith('/'):
                    headers['Location'] = prefix + location
            await send(message)

        await self.app(scope, receive, sending)


class SetCacheControl(_HttpOnly):
    """``SetCacheControlMiddleware``: NiceGUI's own static files (not its dynamic resources) get the app's
    ``cache_control_directives``."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.prefix = f'/_nicegui/{__version__}/'
        self.dynamic = f'/_nicegui/{__version__}/dynamic_resources/'

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = Request(scope).url.path
        if not path.startswith(self.prefix) or path.startswith(self.dynamic):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message['type'] == 'http.response.start':
                MutableHeaders(scope=message)['Cache-Control'] = core.app.config.cache_control_directives
            await send(message)

        await self.app(scope, receive, sending)


PLAIN: dict[type, type] = {RequestTrackingMiddleware: RequestTracking,
                           RedirectWithPrefixMiddleware: RedirectWithPrefix,
                           SetCacheControlMiddleware: SetCacheControl}


def swap(middleware: list[Middleware]) -> list[Middleware]:
    """The same list with NiceGUI's ``BaseHTTPMiddleware`` layers replaced by the plain ones, in their places."""
    out = []
    for m in middleware:
        plain = PLAIN.get(m.cls)  # type: ignore[call-overload]
        out.append(Middleware(plain, *m.args, **m.kwargs) if plain is not None else m)
    return out


def install(app: Any) -> None:
    """Swap them when ``app`` builds its middleware stack (idempotent)."""
    if getattr(app, 'pulse_plain_middleware', False):
        return
    build = app.build_middleware_stack

    def build_plain() -> Any:
        app.user_middleware[:] = swap(app.user_middleware)
        return build()
    app.build_middleware_stack = build_plain
    app.pulse_plain_middleware = True
