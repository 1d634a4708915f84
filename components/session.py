"""Who is looking: the signed-in user of this browser, checked against the database on every page.

A session id is never carried across a login or a logout (session fixation): the password is checked over the
websocket, which cannot set a cookie, so the login page parks the result under a one-time nonce in the *old*
session and sends the browser to ``/login/finish?nonce=…``; that request gives the browser a new session id, moves
the sign-in there and forgets the old session. ``/logout`` likewise gives a new id to a session that has signed out.
"""
from __future__ import annotations

import hmac
import secrets
import time
import uuid

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui

from pulse_live import auth
from pulse_live.bus import get_bus
from pulse_live.events import SessionEnded
from pulse_live.models import Role, User

from . import guard

FINISH_WITHIN_S = 60


def sign_in(user: User) -> str:
    """Park the sign-in in this (old) session under a one-time nonce; return the address that completes it."""
    nonce = secrets.token_urlsafe(24)
    app.storage.user.clear()
    app.storage.user['pending_login'] = {'user_id': user.id, 'stamp': auth.password_stamp(user), 'nonce': nonce,
                                         'at': time.time()}
    return f'/login/finish?nonce={nonce}'


async def _new_session(request: Request, values: dict) -> None:
    """Give the browser a new session id holding ``values``; the old session's storage is emptied."""
    old_id = request.session.get('id')
    if old_id in app.storage._users:  # pylint: disable=protected-access
        app.storage._users[old_id].clear()  # pylint: disable=protected-access
    new_id = str(uuid.uuid4())
    await app.storage._create_user_storage(new_id)  # pylint: disable=protected-access
    app.storage._users[new_id].update(values)  # pylint: disable=protected-access
    request.session['id'] = new_id  # Starlette's session middleware sends the new cookie with the response


async def finish_login(request: Request, nonce: str = '') -> RedirectResponse:
    pending = app.storage.user.get('pending_login')
    if (not isinstance(pending, dict) or not nonce
            or not hmac.compare_digest(str(pending.get('nonce', '')), nonce)
            or time.time() - float(pending.get('at', 0)) > FINISH_WITHIN_S):
        return RedirectResponse('/login?notice=login-expired', status_code=303)
    user = await auth.get_user(pending.get('user_id'))
    if user is None or auth.password_stamp(user) != pending.get('stamp'):
        await _new_session(request, {})
        return RedirectResponse('/login?notice=login-expired', status_code=303)
    await _new_session(request, {'user_id': user.id, 'stamp': auth.password_stamp(user)})
    return RedirectResponse(home_for(user), status_code=303)


async def finish_logout(request: Request) -> RedirectResponse:
    """A session that signed out gets a new id; a signed-in one is left alone (so a link cannot log anyone out)."""
    if app.storage.user.get('user_id'):
        return RedirectResponse('/', status_code=303)
    await _new_session(request, {})
    return RedirectResponse('/login?notice=logged-out-here', status_code=303)


async def sign_out() -> None:
    """Log this browser out: its session forgets the user now, every other open tab of it (in any process) ends,
    and the browser is sent to ``/logout`` for a fresh session id."""
    client = ui.context.client
    session_id = guard.session_id_of(client)  # the session of this page (not whatever request ran last)
    client.pulse_ended = 'logged-out-here'  # type: ignore[attr-defined]  # this tab goes to /logout itself
    if session_id in app.storage._users:  # pylint: disable=protected-access
        app.storage._users[session_id].clear()  # pylint: disable=protected-access
    if session_id:
        await get_bus().publish(SessionEnded(session_id=session_id))
    ui.navigate.to('/logout')


def register() -> None:
    app.add_api_route('/login/finish', finish_login, methods=['GET'], include_in_schema=False)
    app.add_api_route('/logout', finish_logout, methods=['GET'], include_in_schema=False)


async def current_user() -> User | None:
    """The signed-in user; None (and the session cleared) when the account is gone or inactive, or its password
    was changed since this session signed in."""
    user = await auth.get_user(app.storage.user.get('user_id'))
    if user is None or app.storage.user.get('stamp') != auth.password_stamp(user):
        app.storage.user.pop('user_id', None)
        app.storage.user.pop('stamp', None)
        return None
    return user


async def require_user(*roles: Role) -> User | None:
    """The user, or None after sending them to the login (not signed in) or their home (wrong role)."""
    user = await current_user()
    if user is None:
        ui.navigate.to('/login')
        return None
    guard.remember(user)
    if roles and user.role not in roles:
        try:
            path = ui.context.client.request.url.path
        except RuntimeError:
            path = '?'
        auth.refused(user, 'open page', path)
        ui.navigate.to(home_for(user))
        return None
    return user


def home_for(user: User) -> str:
    return '/portal' if user.role == Role.CUSTOMER else '/tickets'


STAFF = (Role.AGENT, Role.MANAGER, Role.ADMIN)
