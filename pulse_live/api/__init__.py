"""The REST API ``/api/v1`` (issue 13): personal tokens, the same permission rules and services as the UI.

The API is a FastAPI application of its own, mounted at ``/api/v1`` in the NiceGUI app: its own OpenAPI schema
(``/api/v1/openapi.json``, only the API), its own error handlers (every error is ``application/problem+json``,
``problems.py``), and no NiceGUI import. ``/api/docs`` (on the main app) shows the schema with Swagger UI when its
script can be loaded, and always lists the endpoints in plain HTML.
"""
from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import problems
from .routes import router

PREFIX = '/api/v1'
DOCS_PATH = '/api/docs'
DESCRIPTION = """The Pulse Live help desk over HTTP: tickets, messages, attachments, customers, organisations, queues.

**Authentication.** Create a personal API token on your profile page (*API tokens*; it is shown once) and send it
with every request: `Authorization: Bearer plk_…`. A *read* token may only GET; a *write* token may do what you may
do in the app. You see exactly what you see in the app: customers their own requests (never internal notes),
staff everything. Every change made here is live on every open screen and notifies like the app.

**Stale writes.** Changing a ticket names the `version` you read; if somebody changed it since, the answer is
409 with the `current_version` and the `current` values of the fields you wanted to change: read it again and
decide. Send `seen` (the values you read for the fields you change) to follow the app's own rule: then only a
change to those same fields refuses yours, and changes to other fields are kept with yours on top.

**Limits.** Requests per minute per token, and per person over all their tokens: `PULSE_API_RATE_PER_MINUTE` (429
with `Retry-After` beyond it). A list's `offset` goes to 10,000 (narrow a longer list by its filters).
Uploads: the app's file size and count limits (413 beyond them).

**Errors** are `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`; validation errors list
the fields in `errors`. Kinds (`type` ends with `#problem-<kind>`): `unauthorized` (401), `read-only-token` and
`forbidden` (403), `not-found` (404), `stale-write` and `conflict` (409), `too-large` (413), `bad-json` and
`bad-form` (400), `invalid` (422), `rate-limited` (429), `server-error` (500); `about:blank` for plain HTTP errors
(unknown address, wrong method).
"""


def build_api() -> FastAPI:
    api = FastAPI(title='Pulse Live API', version='1.0', description=DESCRIPTION, openapi_url='/openapi.json',
                  docs_url=None, redoc_url=None, servers=[{'url': PREFIX}], root_path_in_servers=False)
    api.include_router(router)
    problems.install(api)
    return api


def _endpoint_list(schema: dict[str, Any]) -> str:
    rows = []
    for path, operations in schema.get('paths', {}).items():
        for method, operation in operations.items():
            rows.append(f'<tr><td><code>{html.escape(method.upper())}</code></td>'
                        f'<td><code>{html.escape(PREFIX + path)}</code></td>'
                        f'<td>{html.escape(operation.get("summary", ""))}</td></tr>')
    return ''.join(rows)


def _inline(text: str) -> str:
    """The description's markdown code spans as HTML (everything else escaped)."""
    return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(text).replace('\n', ' '))


def docs_page(api: FastAPI) -> HTMLResponse:
    """Swagger UI (its script comes from a CDN: without internet it does not load) above a plain list of every
    endpoint, rendered here from the schema, so the page is useful either way."""
    swagger = get_swagger_ui_html(openapi_url=PREFIX + '/openapi.json', title='Pulse Live API')
    page = swagger.body.decode() if isinstance(swagger.body, bytes) else str(swagger.body)
    schema = api.openapi()
    fallback = (
        '<section id="plain" style="font-family:system-ui,sans-serif;max-width:70rem;margin:1rem auto;'
        'padding:0 1rem;color:#1e293b">'
        '<h1 style="font-size:1.5rem">Pulse Live API <small style="color:#64748b">v1</small></h1>'
        f'<p>The schema: <a href="{PREFIX}/openapi.json">{PREFIX}/openapi.json</a> (OpenAPI {schema.get("openapi")}). '
        'Send <code>Authorization: Bearer &lt;token&gt;</code>; create a token on your <a href="/profile">profile '
        'page</a>.</p>'
        '<table style="border-collapse:collapse;width:100%" cellpadding="6">'
        '<thead><tr style="text-align:left;border-bottom:1px solid #cbd5e1"><th>Method</th><th>Path</th>'
        f'<th>What</th></tr></thead><tbody>{_endpoint_list(schema)}</tbody></table>'
        '<h2 id="problems" style="font-size:1.2rem;margin-top:1.5rem">Errors</h2>'
        f'<p>Errors {_inline(DESCRIPTION.split("**Errors**", 1)[1].strip())}</p>'
        '</section>')
    anchors = ''.join(f'<a id="problem-{slug}"></a>' for slug in (
        'unauthorized', 'read-only-token', 'forbidden', 'not-found', 'stale-write', 'conflict', 'too-large',
        'bad-json', 'bad-form', 'invalid', 'rate-limited', 'server-error'))
    page = page.replace('<div id="swagger-ui">', f'{anchors}{fallback}<div id="swagger-ui">', 1)
    return HTMLResponse(page)


SECURITY_HEADERS = [(b'x-content-type-options', b'nosniff'), (b'x-frame-options', b'DENY'),
                    (b'referrer-policy', b'same-origin'), (b'cache-control', b'no-store')]


class ApiDispatch:
    """Sends every request under ``/api/v1`` straight to the API application, in front of the app's middleware.

    The app's middleware is there for browsers: NiceGUI's session and request tracking give every request without a
    cookie a new session id and a new user storage (``nicegui/storage.py``: ``RequestTrackingMiddleware`` calls
    ``app.storage._create_user_storage`` — a persistent dict, a file or a Redis key — for each one), and every
    ``BaseHTTPMiddleware`` layer (cache control, prefix redirect, the sign-in gate) adds a task hand-off. An API
    client sends a bearer token and no cookie, so none of that applies to it. The API keeps its own answers'
    headers: the browser-safety headers the sign-in gate adds elsewhere are added here, and ``Cache-Control:
    no-store`` (the answers are personal)."""

    def __init__(self, app: ASGIApp, owner: Any) -> None:
        self.app, self.owner = app, owner  # the API is the one installed last on ``owner`` (the NiceGUI app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get('path', '') if scope['type'] == 'http' else ''
        if not (path == PREFIX or path.startswith(PREFIX + '/')):
            await self.app(scope, receive, send)
            return
        root = scope.get('root_path', '')
        child = {**scope, 'root_path': root + PREFIX, 'app_root_path': scope.get('app_root_path', root)}

        async def with_headers(message: Message) -> None:
            if message['type'] == 'http.response.start':
                present = {name.lower() for name, _ in message.get('headers', ())}
                message['headers'] = [*message.get('headers', ()),
                                      *((n, v) for n, v in SECURITY_HEADERS if n not in present)]
            await send(message)
        await self.owner.pulse_api_asgi(child, receive, with_headers)


class _Compressed:
    """Large JSON answers (lists) gzipped; attachment downloads passed on as they are: their Content-Length kept
    (a browser shows the download's progress) and no CPU spent compressing files that mostly are already."""

    def __init__(self, api: ASGIApp) -> None:
        self.plain, self.gzip = api, GZipMiddleware(api, minimum_size=1000)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        download = scope['type'] == 'http' and scope.get('path', '').startswith(PREFIX + '/attachments/')
        await (self.plain if download else self.gzip)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Mount the API's routes on the app (called once by ``pulse_live.app.build_app``) and put ``ApiDispatch`` in
    front of the app's middleware stack (built at the first request, so wrapped then)."""
    api = build_api()
    app.mount(PREFIX, api, name='api-v1')
    app.pulse_api_asgi = _Compressed(api)  # type: ignore[attr-defined]
    if not getattr(app, 'pulse_api_dispatch', False):
        build = app.build_middleware_stack

        def build_with_api() -> ASGIApp:
            return ApiDispatch(build(), app)
        app.build_middleware_stack = build_with_api  # type: ignore[method-assign]
        app.pulse_api_dispatch = True  # type: ignore[attr-defined]
    mount = app.router.routes[-1]
    assert isinstance(mount, Mount) and mount.name == 'api-v1'
    # every path under the prefix is the API's, even one whose decoded form holds a line break (Starlette's pattern
    # would not match it and the request would fall through to the app's own 404)
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)

    async def api_docs() -> HTMLResponse:
        return docs_page(api)

    app.add_api_route(DOCS_PATH, api_docs, methods=['GET'], include_in_schema=False)
