"""Who is looking: the signed-in user of this browser, checked against the database on every page."""
from __future__ import annotations

from nicegui import app, ui

from pulse_live import auth
from pulse_live.models import Role, User

from . import guard


async def current_user() -> User | None:
    user = await auth.get_user(app.storage.user.get('user_id'))
    if user is None:
        app.storage.user.pop('user_id', None)
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
