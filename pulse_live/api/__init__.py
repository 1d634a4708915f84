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
from starlette.routing import Mount

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
409 with the `current_version`: read it again and decide.

**Limits.** Requests per minute per token: `PULSE_API_RATE_PER_MINUTE` (429 with `Retry-After` beyond it).
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


def install(app: FastAPI) -> None:
    """Mount the API's routes on the app (called once by ``pulse_live.app.build_app``)."""
    api = build_api()
    app.mount(PREFIX, api, name='api-v1')
    mount = app.router.routes[-1]
    assert isinstance(mount, Mount) and mount.name == 'api-v1'
    # every path under the prefix is the API's, even one whose decoded form holds a line break (Starlette's pattern
    # would not match it and the request would fall through to the app's own 404)
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)

    async def api_docs() -> HTMLResponse:
        return docs_page(api)

    app.add_api_route(DOCS_PATH, api_docs, methods=['GET'], include_in_schema=False)
