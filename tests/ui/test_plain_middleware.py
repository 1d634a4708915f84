"""NiceGUI's three ``BaseHTTPMiddleware`` layers are swapped for plain ASGI ones (components/plain_middleware.py):
the app's stack holds none of them, and each plain one answers what NiceGUI's own answers to the same requests."""
from __future__ import annotations

import httpx
from nicegui import app, core
from nicegui.middlewares import RedirectWithPrefixMiddleware, SetCacheControlMiddleware
from nicegui.storage import RequestTrackingMiddleware, request_contextvar
from nicegui.testing import User
from nicegui.version import __version__
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

from components import plain_middleware

STATIC = f'/_nicegui/{__version__}/static/nicegui.css'
DYNAMIC = f'/_nicegui/{__version__}/dynamic_resources/x.js'


def layers(asgi) -> list[type]:
    """The classes of a built middleware stack, outermost first."""
    out = []
    while asgi is not None and len(out) < 50:
        out.append(type(asgi))
        asgi = getattr(asgi, 'app', None)
    return out


async def test_the_apps_stack_holds_no_base_http_middleware_and_pages_still_work(user: User) -> None:
    page = await user.http_client.get('/login', headers={'Accept': 'text/html'})
    assert page.status_code == 200
    built = layers(app.middleware_stack)
    assert plain_middleware.RequestTracking in built and plain_middleware.SetCacheControl in built
    assert plain_middleware.RedirectWithPrefix in built
    assert not [cls for cls in built if issubclass(cls, BaseHTTPMiddleware)], built
    # the sign-in gate's redirect gets the proxy's prefix; NiceGUI's static files their cache header
    away = await user.http_client.get('/tickets', headers={'X-Forwarded-Prefix': '/desk'}, follow_redirects=False)
    assert away.status_code in (302, 303, 307) and away.headers['location'] == '/desk/login'
    # the header as anybody can send it: a prefix that is not a path must not send the browser to another site
    for forged in ('//evil.example', '/\\evil.example', 'https://evil.example', '/desk//evil.example', '/x y'):
        away = await user.http_client.get('/tickets', headers={'X-Forwarded-Prefix': forged},
                                          follow_redirects=False)
        assert away.headers['location'] == '/login', forged
    static = await user.http_client.get(STATIC)
    assert static.status_code == 200
    assert static.headers['cache-control'] == core.app.config.cache_control_directives


def _inner() -> Starlette:
    async def redirect(request: Request):
        return RedirectResponse(request.query_params.get('to', '/there'), status_code=303)

    async def text(request: Request):
        return PlainTextResponse('text', headers={'Cache-Control': 'no-cache'})

    async def tracked(request: Request):
        seen = request_contextvar.get()
        storage = core.app.storage
        return JSONResponse({'id': seen.session.get('id') if seen else None,
                             'stored': bool(seen) and seen.session.get('id') in storage._users,  # noqa: SLF001
                             'active': dict(storage._active_request_sessions),  # noqa: SLF001
                             'responded': getattr(seen.state, 'responded', None) if seen else None})

    return Starlette(routes=[Route('/r', redirect), Route(STATIC, text), Route(DYNAMIC, text), Route('/t', tracked)])


REQUESTS = (('GET', '/r', {}), ('GET', '/r?to=/a/b', {'X-Forwarded-Prefix': '/p'}),
            ('GET', '/r?to=https://elsewhere/x', {'X-Forwarded-Prefix': '/p'}), ('GET', STATIC, {}),
            ('GET', DYNAMIC, {}), ('HEAD', STATIC, {}), ('GET', '/t', {}))


async def _answers(middleware: list[Middleware], requests=REQUESTS) -> list[tuple]:
    inner = _inner()
    inner.user_middleware = [Middleware(SessionMiddleware, secret_key='s'), *middleware]
    inner.middleware_stack = None
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(inner), base_url='http://test') as client:
        for method, path, headers in requests:
            r = await client.request(method, path, headers=headers, follow_redirects=False)
            body = r.json() if path == '/t' else r.text
            if path == '/t':
                body['id'] = bool(body['id'])  # a new random id per session
                body['active'] = sorted(body['active'].values())
            out.append((path, r.status_code, r.headers.get('location'), r.headers.get('cache-control'), body))
    return out


async def test_each_plain_layer_answers_as_nicegui_s_own(user: User) -> None:
    await user.http_client.get('/login')  # the app's storage is ready
    for nicegui_cls, plain_cls in ((RedirectWithPrefixMiddleware, plain_middleware.RedirectWithPrefix),
                                   (SetCacheControlMiddleware, plain_middleware.SetCacheControl),
                                   (RequestTrackingMiddleware, plain_middleware.RequestTracking)):
        theirs = await _answers([Middleware(nicegui_cls)])
        ours = await _answers([Middleware(plain_cls)])
        assert ours == theirs, nicegui_cls.__name__
    # and what the comparison rests on: the layers did something
    # the one difference, on purpose: NiceGUI's own puts any forwarded prefix in front, ours only a path
    forged = [('GET', '/r', {'X-Forwarded-Prefix': '//evil.example'})]
    assert (await _answers([Middleware(RedirectWithPrefixMiddleware)], forged))[0][2] == '//evil.example/there'
    assert (await _answers([Middleware(plain_middleware.RedirectWithPrefix)], forged))[0][2] == '/there'
    redirect = await _answers([Middleware(plain_middleware.RedirectWithPrefix)])
    assert redirect[1][2] == '/p/a/b' and redirect[2][2] == 'https://elsewhere/x'
    cached = await _answers([Middleware(plain_middleware.SetCacheControl)])
    assert cached[3][3] == core.app.config.cache_control_directives and cached[4][3] == 'no-cache'
    tracked = await _answers([Middleware(plain_middleware.RequestTracking)])
    assert tracked[-1][4] == {'id': True, 'stored': True, 'active': [1], 'responded': False}
