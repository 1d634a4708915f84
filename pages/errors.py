"""Error pages that are part of the app: the same header, a plain sentence, and a way on (never a bare
"HTTPException: 404"). Browsers get HTML; API clients keep FastAPI's JSON."""
from __future__ import annotations

import html
import logging

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from pulse_live.errors import UNAVAILABLE_MESSAGE, is_unavailable

log = logging.getLogger(__name__)

_STYLE = (
    'body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f8fafc;color:#1e293b}'
    'header{display:flex;align-items:center;gap:1.5rem;padding:.6rem 1rem;background:#0f172a;color:#fff}'
    'header a{color:#fff;text-decoration:none}header .brand{font-size:1.125rem;font-weight:600}'
    'main{max-width:40rem;margin:4rem auto;padding:1.5rem 2rem;background:#fff;border:1px solid #e2e8f0;'
    'border-radius:.75rem;box-shadow:0 1px 2px rgba(0,0,0,.05)}'
    'h1{font-size:1.5rem;margin:0 0 .75rem}p,li{line-height:1.5}.code{color:#64748b;font-size:.875rem}'
    'a.button{display:inline-block;margin-top:1rem;padding:.5rem 1rem;border-radius:.375rem;background:#2563eb;'
    'color:#fff;text-decoration:none}'
)


def error_page(status: int, title: str, message: str, items: list[str] | None = None) -> HTMLResponse:
    listed = ''.join(f'<li>{html.escape(item)}</li>' for item in items or [])
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Pulse Live'
            f'</title><meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style>'
            '</head><body><header><a class="brand" href="/">Pulse Live</a><a href="/">Home</a>'
            '<a href="/tickets">Tickets</a><a href="/portal">My requests</a></header>'
            f'<main><p class="code">Error {status}</p><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>'
            f'{f"<ul>{listed}</ul>" if listed else ""}<a class="button" href="/">Back to Pulse Live</a></main>'
            '</body></html>')
    return HTMLResponse(body, status_code=status)


def wants_html(request: Request) -> bool:
    return 'text/html' in request.headers.get('accept', '')


def describe_validation_error(exc: RequestValidationError) -> list[str]:
    """One plain sentence per bad URL parameter, e.g. "page (in the address): must be a whole number"."""
    lines = []
    for error in exc.errors():
        where = [str(part) for part in error.get('loc', ()) if part not in ('path', 'query', 'body')]
        name = '.'.join(where) or 'the address'
        kind = error.get('type', '')
        if kind.endswith('_parsing') and 'int' in kind:
            problem = 'must be a whole number'
        elif kind.endswith('_parsing') and 'bool' in kind:
            problem = 'must be true or false'
        elif kind in ('greater_than_equal', 'less_than_equal', 'greater_than', 'less_than'):
            problem = 'is out of range'
        else:
            problem = str(error.get('msg', 'is not valid')).lower()
        lines.append(f'{name}: {problem}')
    return lines


async def bad_request(request: Request, exc: Exception) -> Response:
    """A crafted or mistyped address: browsers get a readable 400 page, API clients FastAPI's JSON (422). Installed
    for ``RequestValidationError`` only (Starlette types every handler's error as ``Exception``)."""
    assert isinstance(exc, RequestValidationError)
    if not wants_html(request):
        return await request_validation_exception_handler(request, exc)
    return error_page(400, 'This address is not valid', 'Something in the address cannot be used:',
                      describe_validation_error(exc))


async def not_found(request: Request, exc: Exception) -> Response:
    if not wants_html(request):
        return await http_exception_handler(request, exc if isinstance(exc, HTTPException) else HTTPException(404))
    log.info('%s not found', request.url.path)
    return error_page(404, 'Page not found', 'There is nothing at this address. It may have been mistyped, or the '
                      'page was moved.')


async def server_error(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):  # the database restarting or unreachable: passing, said as such (503), logged briefly
        log.warning('database not answering while serving %s: %s', request.url.path, exc)
        if not wants_html(request):
            return Response(UNAVAILABLE_MESSAGE, status_code=503, media_type='text/plain',
                            headers={'Retry-After': '5'})
        return error_page(503, 'The database is not answering', UNAVAILABLE_MESSAGE)
    log.exception('error while serving %s', request.url.path, exc_info=exc)
    if not wants_html(request):
        return Response('Internal Server Error', status_code=500, media_type='text/plain')
    return error_page(500, 'Something went wrong on our side', 'The error is logged for the administrators. Please '
                      'try again in a moment.')
