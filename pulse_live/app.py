"""Wiring: the NiceGUI/FastAPI app, its pages, the auth gate, the bus bridge and the workers."""
from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from nicegui import app
from starlette.middleware.base import BaseHTTPMiddleware

from . import db, upload_limit
from .bus import get_bus, make_bus, set_bus
from .config import get_settings

log = logging.getLogger(__name__)
security_log = logging.getLogger('pulse_live.security')
PUBLIC_PATHS = frozenset({'/login', '/login/finish', '/logout', '/password/forgot', '/password/reset'})
PUBLIC_PREFIXES = ('/_nicegui', '/favicon')
SECURITY_HEADERS = {
    'X-Frame-Options': 'DENY',  # no page of ours inside another site's frame (clickjacking)
    'Content-Security-Policy': "frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
}


class AuthMiddleware(BaseHTTPMiddleware):
    """Every page except /login needs a signed-in browser; the pages check roles themselves. An upload is taken only
    from the signed-in browser session that owns the page it is for, within that user's budget of pending uploads."""

    async def dispatch(self, request: Request, call_next):
        path = request.url.path
        if upload_limit.is_upload_path(path):
            refusal = _upload_refusal(request)
            if refusal is not None:
                return refusal
        elif (path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES) and not path.startswith('/api/')
              and not app.storage.user.get('user_id')):
            return RedirectResponse('/login')
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def _upload_refusal(request: Request) -> Response | None:
    """None if this upload may proceed; else the answer (403 not the owner's session, 413 over the budget)."""
    from nicegui import Client

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
    declared = request.headers.get('content-length', '')
    remaining = upload_budget.pending_uploads.remaining(user_id)
    if declared.isdigit() and int(declared) > remaining + upload_limit.SLACK_BYTES:
        return PlainTextResponse(upload_budget.budget_message(upload_budget.pending_uploads.held(user_id)),
                                 status_code=413)
    return None


_unsubscribe: list[Callable[[], None]] = []


async def _startup() -> None:
    from components import guard, live
    settings = get_settings()
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
    from . import escalation_worker
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
    from components import guard, housekeeping, session
    from pages import downloads
    downloads.register()
    from . import api
    from .intake import error_reports
    api.install(app)  # /api/v1 (token auth, problem+json errors)
    error_reports.install(app)  # /api/{source}/envelope/ and /store/ (the Sentry SDK's protocol)
    session.register()  # /login/finish and /logout: a new session id at each
    guard.install()  # each socket message bound to its own page and session (components/guard.py)
    app.on_delete(housekeeping.release)  # every closed page: what it leaves in process-wide caches is released
    app.add_middleware(AuthMiddleware)
    upload_limit.install(app)  # added last, so outermost: over-size uploads are refused before anything reads them
    from pages import errors
    app.add_exception_handler(RequestValidationError, errors.bad_request)
    app.add_exception_handler(404, errors.not_found)  # every error page is part of the app (pages/errors.py)
    app.add_exception_handler(Exception, errors.server_error)
    app.on_startup(_startup)
    app.on_shutdown(_shutdown)


def run_kwargs(*, host: str = '127.0.0.1', port: int = 8080) -> dict:
    return {'host': host, 'port': port, 'title': 'Pulse Live', 'reload': False, 'show': False,
            'show_welcome_message': False, 'storage_secret': get_settings().resolved_storage_secret(),
            'reconnect_timeout': 15.0, 'favicon': '🎫'}
