"""The page shell: header with navigation and the signed-in user."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import app, ui

from pulse_live import auth, presence
from pulse_live.models import User

from .bell import Bell


def logout() -> None:
    app.storage.user.clear()
    ui.navigate.to('/login')


def track_online(user: User) -> None:
    """Any open tab makes the user online (in-app notifications instead of mail)."""
    client = ui.context.client
    presence.connected(user.id, client.id)
    client.on_connect(lambda: presence.connected(user.id, client.id))
    client.on_disconnect(lambda: presence.disconnected(user.id, client.id))
    client.on_delete(lambda: presence.disconnected(user.id, client.id))


@contextmanager
def frame(title: str, user: User) -> Iterator[None]:
    track_online(user)
    ui.page_title(f'{title} · Pulse Live')
    ui.colors(primary='#2563eb', secondary='#475569', accent='#7c3aed')
    with ui.header().classes('items-center gap-4 px-4 py-2 bg-slate-900 text-white'):
        ui.link('Pulse Live', '/').classes('text-lg font-semibold text-white no-underline')
        if auth.is_staff(user):
            ui.link('Tickets', '/tickets').classes('text-white no-underline')
            if user.role == 'admin':
                ui.link('Outbox', '/admin/outbox').classes('text-white no-underline')
            ui.link('New ticket', '/tickets/new').classes('text-white no-underline')
            ui.link('Customers', '/customers').classes('text-white no-underline')
            ui.link('Queues', '/queues').classes('text-white no-underline')
            ui.link('My tickets', '/my').classes('text-white no-underline')
            if auth.can_see_dashboard(user):
                ui.link('Dashboard', '/dashboard').classes('text-white no-underline')
            if auth.can_configure_work(user):
                ui.link('Queues & rules', '/admin/queues').classes('text-white no-underline')
        else:
            ui.link('My requests', '/portal').classes('text-white no-underline')
            ui.link('New request', '/portal/new').classes('text-white no-underline')
        ui.space()
        Bell(user)
        ui.link(user.display_name, '/profile').classes('text-white no-underline text-sm')
        ui.label(user.role.capitalize()).classes('text-xs px-2 py-0.5 rounded bg-slate-700')
        ui.button('Log out', on_click=logout).props('flat dense color=white no-caps')
    with ui.column().classes('w-full max-w-7xl mx-auto p-4 gap-4'):
        yield
