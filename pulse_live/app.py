"""Wiring: the NiceGUI/FastAPI app, its pages, the auth gate, the bus bridge and the workers."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from nicegui import app
from starlette.requests import ClientDisconnect

from . import db, upload_limit
from .bus import get_bus, make_bus, set_bus
from .config import get_settings
from .http_protocol import TimelyH11Protocol

if TYPE_CHECKING:
    from components.upload_budget import Reservation

log = logging.getLogger(__name__)
security_log = logging.getLogger('pulse_live.security')
STYLESHEET_PATH = '/static/pulse.css'  # the prebuilt Tailwind stylesheet (install_stylesheet): the login page needs it
PUBLIC_PATHS = frozenset({'/login', '/login/finish', '/logout', '/password/forgot', '/password/reset', STYLESHEET_PATH})
PUBLIC_PREFIXES = ('/_nicegui', '/favicon')
# the public help centre (pages/help.py: the pages themselves answer 404 while an admin has not opened it)
PUBLIC_HELP = ('/help', '/help/')
SECURITY_HEADERS = {
    'X-Frame-Options': 'DENY',  # no page of ours inside another site's frame (clickjacking)
    # no page of ours inside a frame; images only from this site (NiceGUI's and Quasar's own files, article pictures
    # and attachments), or inline (data:, blob:): a remote image in a message (a tracking pixel) is never fetched
    # forms post and <base> point only here, no plugins: injected markup could not send a password elsewhere
    'Content-Security-Policy': "frame-ancestors 'none'; img-src 'self' data: blob:; form-action 'self'; "
                               "base-uri 'self'; object-src 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
}


class AuthMiddleware:
    """Every page except /login needs a signed-in browser; the pages check roles themselves. An upload is taken only
    from the signed-in browser session that owns the page it is for, within that user's budget of pending uploads
    (its bytes reserved while the body arrives: ``_upload``). Plain ASGI: a ``BaseHTTPMiddleware`` runs the rest of
    every request in a task of its own, with its body and answer passed through memory streams."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        path = Request(scope).url.path
        if upload_limit.is_upload_path(scope.get('path', '')):
            await _upload(self.app, scope, receive, send)  # the body is counted as it arrives
            return
        if (path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES) and not path.startswith('/api/')
                and not (path == PUBLIC_HELP[0] or path.startswith(PUBLIC_HELP[1]))
                and not app.storage.user.get('user_id')):
            await RedirectResponse('/login')(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install_security_headers(app: Any) -> None:
    """Wrap the app's middleware stack from the outside (built at the first request), after the API, the error
    intake and the health checks wrapped it: their answers too carry the headers."""
    if getattr(app, 'pulse_security_headers', False):
        return
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeadersMiddleware(build())
    app.pulse_security_headers = True


class SecurityHeadersMiddleware:
    """``SECURITY_HEADERS`` on every HTTP answer — pages, redirects, refusals, downloads, the API, /healthz, the error
    report ingest — unless the answer set its own (downloads: their stricter CSP). Outermost, so that no answer from
    a layer further in goes without them."""

    def __init__(self, app) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return

        async def with_headers(message) -> None:
            if message['type'] == 'http.response.start':
                present = {name.lower() for name, _ in message.get('headers') or []}
                message['headers'] = [*(message.get('headers') or []),
                                      *((n, v) for n, v in self.headers if n not in present)]
            await send(message)
        await self.app(scope, receive, with_headers)


class _OverReservation(Exception):
    pass


async def _upload(inner, scope, receive, send) -> None:
    """An upload request: refused (403 not the owner's session; 413 over the budget; 429 too many at once) before
    its body is read, else its length reserved against the user's budget of pending uploads until the request is
    over, however it ends (``components/upload_budget.py``). A body longer than the reservation is cut off (413)."""
    from components import upload_budget
    request = Request(scope, receive)
    admitted = _upload_refusal(request)
    if isinstance(admitted, Response):
        await admitted(scope, receive, send)
        return
    reservation = admitted
    received = 0
    started = False

    async def counting_receive():
        nonlocal received
        message = await receive()
        if message['type'] == 'http.request':
            received += len(message.get('body', b''))
            if received > reservation.limit:
                raise _OverReservation()
        return message

    async def tracking_send(message) -> None:
        nonlocal started
        if message['type'] == 'http.response.start':
            started = True
        await send(message)

    token = upload_budget.current_request.set(reservation)  # the page's handler tasks, started by the route, see it
    over = finished = gone = False
    try:
        try:
            await inner(scope, counting_receive, tracking_send)
            finished = True
        except* _OverReservation:  # "except*": a BaseHTTPMiddleware further in raises it in a group
            over = True
        except* ClientDisconnect:  # the client went away mid-body: not a server error
            gone = True
        if finished:
            # the route started the page's handlers as tasks: one turn of the loop, and each has moved its
            # file's bytes from this reservation to the file (the first step of upload_budget.take)
            await asyncio.sleep(0)
    finally:
        upload_budget.current_request.reset(token)
        upload_budget.pending_uploads.end(reservation)
    if gone:
        log.info('upload to %s: the client went away before its body was complete', scope.get('path'))
        if not started:  # nobody reads it; the layers further out expect an answer
            await PlainTextResponse('The upload was not complete.', status_code=400,
                                    headers={'Connection': 'close'})(scope, receive, send)
    if over:
        security_log.warning('refused: an upload body to page %s over its reservation of %s bytes',
                             scope.get('path', '').split('/')[3], reservation.limit)
        if not started:
            held = upload_budget.pending_uploads.in_use(reservation.user_id)
            await PlainTextResponse(upload_budget.budget_message(held), status_code=413,
                                    headers={'Connection': 'close'})(scope, receive, send)


def _upload_refusal(request: Request) -> Response | Reservation:
    """The upload's reservation if it may proceed; else the answer (403 not the owner's session, 413 over the
    budget, 429 more uploads of the user at once than ``upload_budget.max_uploads_at_once()``)."""
    from nicegui import Client, ui

    from components import guard, upload_budget
    client_id = request.url.path.split('/')[3]
    client = Client.instances.get(client_id)
    user_id = guard.user_id_of(client) if client is not None else None
    session_user = app.storage.user.get('user_id')
    same_session = client is not None and request.session.get('id') == getattr(client, 'pulse_session', None)
    if (client is None or user_id is None or not same_session or session_user != user_id
            or getattr(client, 'pulse_ended', None)):
        security_log.warning('refused: an upload from %s (session user %s) to page %s (%s)',
                             request.client.host if request.client else '?', session_user, client_id,
                             guard._who(client))  # pylint: disable=protected-access
        return PlainTextResponse('This upload does not belong to your session. Reload the page.', status_code=403)
    declared = request.headers.get('content-length')
    if declared is not None and not declared.isdigit():
        return PlainTextResponse('The Content-Length header is not a number.', status_code=400)
    admitted = upload_budget.admit(user_id, client_id, int(declared) if declared is not None else None)
    if isinstance(admitted, upload_budget.Refusal):
        if admitted.status == 429:
            security_log.warning('refused: a concurrent upload of user %s to page %s', user_id, client_id)
        with client:  # the browser shows a refused upload only as a failed file: say why in the page
            ui.notify(admitted.message, type='negative')
        return PlainTextResponse(admitted.message, status_code=admitted.status,
                                 headers={'Retry-After': '5'} if admitted.status == 429 else None)
    return admitted


_unsubscribe: list[Callable[[], None]] = []


def _page_client_id() -> str | None:
    """The NiceGUI client (browser page) the running code serves, for the log lines (None outside a page)."""
    from nicegui.slot import Slot
    stack = Slot.get_stack()
    return stack[-1].parent.client.id if stack else None


async def _startup() -> None:
    from components import guard, live
    settings = get_settings()
    from .ops import logs
    logs.configure(settings.log_format, level=settings.log_level, client_id=_page_client_id)
    db.init(settings.resolved_database_url())
    bus = make_bus(settings.bus_url, settings.bus_channel)
    set_bus(bus)
    await bus.start()
    from . import presence
    _unsubscribe.append(bus.subscribe(presence.on_bus_event))  # before the UI relay: views read merged presence
    _unsubscribe.append(bus.subscribe(live.relay))
    _unsubscribe.append(bus.subscribe(guard.on_bus_event))  # open pages end when their session does
    presence.start()
    if settings.mail_worker:
        from .notify import missed, sender
        sender.start()
        missed.start()
    if settings.mail_intake_worker:
        from .intake import mail
        mail.start()
    if settings.escalation_worker:  # escalation rules and outgoing webhooks (one acting process per installation)
        from . import escalation_worker
        from .notify import webhooks
        escalation_worker.start()
        webhooks.start()


async def _shutdown() -> None:
    from components.dashboard_feed import feed

    from . import presence
    from .intake import mail
    from .notify import missed, sender
    await mail.stop()
    from .services import accounts
    await accounts.settle_link_mails()  # a password link asked for just now is written before the process ends
    from . import escalation_worker, mail_trim
    await mail_trim.shutdown()  # the trimmer's worker process, if one was started
    from . import markdown
    markdown.shutdown()  # the markdown render worker, if one was started
    from .notify import webhooks
    await escalation_worker.stop()
    await webhooks.stop()
    await feed.stop()  # before NiceGUI cancels background tasks: no query is cut off mid-flight
    await sender.stop()
    await missed.stop()
    await presence.stop()
    while _unsubscribe:
        _unsubscribe.pop()()
    await get_bus().stop()
    await db.dispose()


def build_app() -> None:
    """Register pages, routes, middleware and lifecycle hooks (called once per process, and per UI test)."""
    import pages  # noqa: F401  (registers every page)
    from components import guard, housekeeping, lean_elements, live, plain_middleware, render, session
    from pages import downloads
    render.install_signature_cache()  # NiceGUI's per-element inspect.signature, once per code object
    render.install_props_cache()  # NiceGUI's props strings, parsed once per string
    render.install_fast_page_escape()  # the page's elements escaped for its HTML with replace, not translate
    render.install_direct_element_updates()  # a props/classes/style change calls the element's update directly
    render.install_counted_listener_ids()  # an event listener's id from a counter, not a random UUID
    render.install_fast_binary_check()  # socket messages checked for bytes by one loop, not a recursive walk
    render.install_outbox_wakeup()  # a page's outbox wakes in the turn after a change, not two turns later
    lean_elements.install_lean_collections()  # an element's props, classes and style without per-element extras
    lean_elements.install_lazy_bindable_registry()  # a bindable property registered when bound, not when set
    lean_elements.install_shared_content()  # the same long html/markdown content held once for all pages
    live.install_send_limit()  # a socket too far behind is closed and its page dropped (the browser reloads)
    housekeeping.tune_gc()  # the cycle collector less often: a page is thousands of objects in cycles
    housekeeping.install_light_upload_routes()  # one plain Starlette route serves every upload element
    housekeeping.install_unconnected_sweep()  # a page whose socket never connects is dropped after a while
    downloads.register()
    from pages import help as help_pages
    help_pages.register()  # /help/files/{id}: article images and files
    from . import api
    from .intake import error_reports
    api.install(app)  # /api/v1 (token auth, problem+json errors)
    error_reports.install(app)  # /api/{source}/envelope/ and /store/ (the Sentry SDK's protocol)
    from .ops import http as ops_http
    ops_http.install(app)  # /healthz, /readyz, /metrics in front of everything; request ids and latency
    install_security_headers(app)  # around all of it: every answer carries them
    plain_middleware.install(app)  # NiceGUI's three BaseHTTPMiddleware layers as plain ASGI (no task per request)
    session.register()  # /login/finish and /logout: a new session id at each
    guard.install()  # each socket message bound to its own page and session (components/guard.py)
    app.on_delete(housekeeping.release)  # every closed page: what it leaves in process-wide caches is released
    app.add_middleware(AuthMiddleware)
    upload_limit.install(app)  # (nearly) outermost: over-size uploads are refused before anything reads them
    from pages import errors
    app.add_exception_handler(RequestValidationError, errors.bad_request)
    app.add_exception_handler(404, errors.not_found)  # every error page is part of the app (pages/errors.py)
    app.add_exception_handler(Exception, errors.server_error)
    app.on_startup(_startup)
    app.on_shutdown(_shutdown)
    if not get_settings().tailwind_browser:
        install_stylesheet()


STYLESHEET = Path(__file__).parent / 'static' / 'pulse.css'


def install_stylesheet() -> None:
    """Every page links the prebuilt Tailwind stylesheet (scripts/build-css.sh) instead of running NiceGUI's in-browser
    Tailwind compiler, which re-scanned the page after every DOM change (each live update cost every viewer's browser
    ~20 ms). With the compiler off NiceGUI also drops its "headwind" rules (Quasar's rotate-* classes against
    Tailwind's): they are added here as NiceGUI adds them, in its overrides layer. The same address in every process;
    the link carries the content's hash, so browsers may keep the file for a year."""
    from nicegui import ui
    from nicegui.client import HEADWIND_CONTENT
    data = STYLESHEET.read_bytes()
    url = app.add_static_file(local_file=STYLESHEET, url_path=STYLESHEET_PATH, max_cache_age=365 * 24 * 3600)
    version = hashlib.sha256(data).hexdigest()[:12]
    ui.add_head_html(f'<link rel="stylesheet" href="{url}?v={version}">\n'
                     f'<style>@layer overrides {{ {HEADWIND_CONTENT} {COMPOSITING_RULES} }}</style>', shared=True)


# Quasar gives every field's label ``backface-visibility: hidden`` (for its float animation): Chromium makes each a
# composited layer of its own, and every layer it overlaps another — a ticket page had 41 layers, 31 of them for its
# 17 field labels, and each frame of a live update paid for them (the compositor commit was ~6 ms of a viewer's
# ~20 ms per message). The labels look the same without it.
COMPOSITING_RULES = '.q-field__label { backface-visibility: visible; }'


KEEP_ALIVE_S = 65  # idle HTTP connections are kept longer than a proxy keeps them (deploy/nginx: 60 s)


MAX_REQUEST_HEAD_BYTES = 64 * 1024


# a websocket message: a page's largest is an event of at most 256 KB of arguments (guard.MAX_EVENT_ARGS_CHARS); a
# message in fragments is held until its end (1,000 sockets each 960 KiB short of their end took +932 MB)
WS_MAX_BYTES = 512 * 1024


def run_kwargs(*, host: str = '127.0.0.1', port: int = 8080) -> dict:
    return {'host': host, 'port': port, 'title': 'Pulse Live', 'reload': False, 'show': False,
            'timeout_keep_alive': KEEP_ALIVE_S,
            'show_welcome_message': False, 'storage_secret': get_settings().resolved_storage_secret(),
            'reconnect_timeout': 15.0, 'favicon': '🎫',
            # the session cookie only over HTTPS when the app is served under an https:// address (behind TLS)
            'session_middleware_kwargs': {'https_only': get_settings().base_url.startswith('https://')},
            # h11 with a bound on a request's head: httptools takes headers of any size (4 requests with 40 MB
            # headers: +160 MB, held until the page clients they made were pruned); and a deadline for it
            # (http_protocol.py: slowloris held 20,000 connections and every request failed)
            'http': TimelyH11Protocol, 'h11_max_incomplete_event_size': MAX_REQUEST_HEAD_BYTES,
            # no compressed websocket frames: wsproto inflates a frame before anything counts its size (ten 261 KB
            # frames became 2.5 GB and held the loop 7.5 s); and no websocket message over 512 KiB
            'ws_per_message_deflate': False, 'ws_max_size': WS_MAX_BYTES,
            'tailwind': get_settings().tailwind_browser}  # else the prebuilt stylesheet (install_stylesheet)
