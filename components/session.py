"""Who is looking: the signed-in user of this browser, checked against the database on every page."""
from __future__ import annotations

from nicegui import app, ui

from pulse_live import auth
from pulse_live.models import Role, User

from . import guard


def sign_in(user: User) -> None:
    """Bind this browser's session to the user and to their current password (see ``auth.password_stamp``)."""
    app.storage.user.clear()
    app.storage.user['user_id'] = user.id
    app.storage.user['stamp'] = auth.password_stamp(user)


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
