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


# What ``ui.link`` and ``ui.row`` render, for the header's static parts as plain HTML (one element each, instead
# of one per link: the header is on every page, and each element is built, sent and held per open page)
LINK_CLASSES = 'nicegui-link text-white no-underline whitespace-nowrap'
ROW_CLASSES = 'nicegui-row row items-center gap-4 no-wrap'
SETTINGS_LINK_CLASSES = 'nicegui-link block px-4 py-2 text-slate-800 no-underline whitespace-nowrap hover:bg-slate-100'


def _link(label: str, path: str, classes: str) -> str:
    return f'<a class="{classes}" href="{html.escape(path)}">{html.escape(label)}</a>'


def brand_html(links: list[tuple[str, str]], *, admin_menu: bool = False) -> str:
    """The logo and (wide screens only) the row of destinations. Beside the admin's menu button the row is as tall as
    the button, as when the button stood in the row: the links' text lands on the same pixels (Quasar's dense
    ``q-btn``: 14px × (1.715 line height + 2 × 0.285 padding))."""
    style = ' style="height: calc(14px * 2.285)"' if admin_menu else ''
    return (_link('Pulse Live', '/', 'nicegui-link text-lg font-semibold text-white no-underline whitespace-nowrap')
            + f'<div class="{ROW_CLASSES} gt-sm"{style}>'
            + ''.join(_link(label, path, LINK_CLASSES) for label, path in links) + '</div>')


def settings_html(settings: list[tuple[str, str]]) -> str:
    """The entries of the admin's settings menu."""
    return ''.join(_link(label, path, SETTINGS_LINK_CLASSES) for label, path in settings)


def user_html(user: User) -> str:
    """Who is signed in (a link to their profile) and their role."""
    return (_link(user.display_name, '/profile', f'{LINK_CLASSES} text-sm')
            + f'<div class="text-xs px-2 py-0.5 rounded bg-slate-700">{html.escape(user.role.capitalize())}</div>')


@contextmanager
def frame(title: str, user: User) -> Iterator[None]:
    track_online(user)
    ui.page_title(f'{title} · Pulse Live')
    ui.colors(primary='#2563eb', secondary='#475569', accent='#7c3aed')
    links = nav_links(user)
    settings = [(label, path) for label, path in links if path.startswith('/admin/')]
    with ui.header().classes('items-center gap-4 px-4 py-2 bg-slate-900 text-white no-wrap'):
        with ui.button(icon='menu').props('flat round dense color=white').classes('lt-md').mark('nav-menu'), \
                ui.menu():
            ui.html(phone_menu_html([*links, (f'Profile ({user.display_name})', '/profile')]), sanitize=False) \
                .mark('nav-menu-links')
        row = [link for link in links if link not in settings]
        brand = ui.html(brand_html(row, admin_menu=bool(settings)), sanitize=False).classes(ROW_CLASSES) \
            .mark('nav-links')
        if settings:  # the settings pages in one menu: the header stays one line however many there are
            with ui.button('Admin', icon='settings').props('flat dense no-caps color=white').classes('gt-sm') \
                    .mark('admin-menu'), ui.menu().props('auto-close'):
                ui.html(settings_html(settings), sanitize=False).mark('admin-menu-links')
            ui.space()
        else:  # what ui.space did, without its element: the rest to the right, one gap more before it
            brand.classes('grow').style('margin-right: 1rem')
        SearchBox(user)  # grouped results as you type; Enter: /search (components/search_box.py)
        Bell(user)
        ui.html(user_html(user), sanitize=False).classes(f'{ROW_CLASSES} gt-xs').mark('signed-in')
        ui.button('Log out', on_click=logout).props('flat dense color=white no-caps').classes('whitespace-nowrap')
    with ui.column().classes('w-full max-w-7xl mx-auto p-4 gap-4') as content:
        ui.context.client.__dict__['pulse_content'] = content  # a tab moving to a ticket in place (in_app.py)
        yield
