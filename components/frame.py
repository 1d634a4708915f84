"""The page shell: header with navigation and the signed-in user."""
from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

from pulse_live import auth, presence
from pulse_live.models import User

from .bell import Bell
from .search_box import SearchBox


async def logout() -> None:
    from .session import sign_out
    await sign_out()


def track_online(user: User) -> None:
    """Any open tab makes the user online (in-app notifications instead of mail) — once its socket connected: a
    page fetched without one (a prefetch, a script, a tab closed at once) must not hold their mail back."""
    client = ui.context.client
    client.on_connect(lambda: presence.connected(user.id, client.id))
    client.on_disconnect(lambda: presence.disconnected(user.id, client.id))
    client.on_delete(lambda: presence.disconnected(user.id, client.id))


def nav_links(user: User) -> list[tuple[str, str]]:
    """The header's destinations for this user (a row on wide screens, a menu on phones)."""
    if not auth.is_staff(user):
        return [('My requests', '/portal'), ('New request', '/portal/new'), ('Help', '/portal/help')]
    links = [('Tickets', '/tickets')]
    if user.role == 'admin':
        links.append(('Outbox', '/admin/outbox'))
    links += [('New ticket', '/tickets/new'), ('Customers', '/customers'), ('Queues', '/queues'),
              ('My tickets', '/my'), ('Knowledge', '/kb')]
    if auth.can_see_dashboard(user):
        links.append(('Dashboard', '/dashboard'))
    if auth.can_configure_work(user):
        links.append(('Queues & rules', '/admin/queues'))
        links.append(('Service levels', '/admin/sla'))
    if user.role == 'admin':
        links.append(('Staff', '/admin/staff'))
        links.append(('Escalation', '/admin/escalation'))
        links.append(('Mailboxes', '/admin/mailboxes'))
        links.append(('Error reports', '/admin/error-sources'))
    return links


# Quasar's own classes for a clickable item (what ``ui.menu_item`` renders), on plain links
MENU_ITEM_CLASSES = ('q-item q-item-type row no-wrap q-item--clickable q-link cursor-pointer q-focusable '
                     'q-hoverable')
MENU_SECTION_CLASSES = 'q-item__section column q-item__section--main justify-center'


def phone_menu_html(links: list[tuple[str, str]]) -> str:
    """The phone menu's entries as plain links in one element: the menu is on every page of every user and was
    two elements per entry (item and section, ~16 per page), each built, sent and held per open page."""
    return ''.join(f'<a class="{MENU_ITEM_CLASSES}" href="{html.escape(path)}">'
                   f'<div tabindex="-1" class="q-focus-helper"></div>'
                   f'<div class="{MENU_SECTION_CLASSES}">{html.escape(label)}</div></a>' for label, path in links)


@contextmanager
def frame(title: str, user: User) -> Iterator[None]:
    track_online(user)
    ui.page_title(f'{title} · Pulse Live')
    ui.colors(primary='#2563eb', secondary='#475569', accent='#7c3aed')
    links = nav_links(user)
    with ui.header().classes('items-center gap-4 px-4 py-2 bg-slate-900 text-white no-wrap'):
        with ui.button(icon='menu').props('flat round dense color=white').classes('lt-md').mark('nav-menu'), \
                ui.menu():
            ui.html(phone_menu_html([*links, (f'Profile ({user.display_name})', '/profile')]), sanitize=False) \
                .mark('nav-menu-links')
        ui.link('Pulse Live', '/').classes('text-lg font-semibold text-white no-underline whitespace-nowrap')
        settings = [(label, path) for label, path in links if path.startswith('/admin/')]
        with ui.row().classes('gt-sm items-center gap-4 no-wrap'):
            for label, path in links:
                if (label, path) not in settings:
                    ui.link(label, path).classes('text-white no-underline whitespace-nowrap')
            if settings:  # the settings pages in one menu: the header stays one line however many there are
                with ui.button('Admin', icon='settings').props('flat dense no-caps color=white').mark('admin-menu'), \
                        ui.menu().props('auto-close'):
                    for label, path in settings:
                        ui.link(label, path).classes('block px-4 py-2 text-slate-800 no-underline whitespace-nowrap '
                                                     'hover:bg-slate-100')
        ui.space()
        SearchBox(user)  # grouped results as you type; Enter: /search (components/search_box.py)
        Bell(user)
        ui.link(user.display_name, '/profile').classes('gt-xs text-white no-underline text-sm whitespace-nowrap')
        ui.label(user.role.capitalize()).classes('gt-xs text-xs px-2 py-0.5 rounded bg-slate-700')
        ui.button('Log out', on_click=logout).props('flat dense color=white no-caps').classes('whitespace-nowrap')
    with ui.column().classes('w-full max-w-7xl mx-auto p-4 gap-4') as content:
        ui.context.client.__dict__['pulse_content'] = content  # a tab moving to a ticket in place (in_app.py)
        yield
