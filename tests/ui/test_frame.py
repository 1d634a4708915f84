"""The header: every destination of a role, as links on wide screens and in the phone menu."""
import html
import re

from nicegui import ui
from nicegui.testing import User

from tests.ui.conftest import login


def _menu(user: User) -> dict[str, str]:
    """The phone menu's entries by their text, with where each leads (plain links in one element)."""
    (menu,) = user.find(marker='nav-menu-links').elements
    entry = r'<a [^>]*href="([^"]*)"[^>]*>.*?<div class="q-item__section[^"]*">(.*?)</div></a>'
    return {html.unescape(label): html.unescape(href) for href, label in re.findall(entry, menu.content)}


def _menu_entries(user: User) -> list[str]:
    return sorted(_menu(user))


def _links(user: User) -> list[str]:
    return sorted(link.text for link in user.find(kind=ui.link).elements)


async def test_manager_has_the_same_destinations_in_the_phone_menu(user: User, people) -> None:
    await login(user, 'maria@pulse.demo')
    entries = _menu_entries(user)
    assert {'Tickets', 'New ticket', 'Customers', 'Queues', 'My tickets', 'Dashboard'} <= set(entries)
    assert {'Tickets', 'New ticket', 'Customers', 'Queues', 'My tickets', 'Dashboard'} <= set(_links(user))
    assert 'Profile (Maria Rossi)' in entries
    assert _menu(user)['Dashboard'] == '/dashboard'
    assert _menu(user)['Profile (Maria Rossi)'] == '/profile'
    await user.open(_menu(user)['Dashboard'])
    await user.should_see('Oldest open tickets')


async def test_customer_menu_has_only_the_portal(user: User, people) -> None:
    await login(user, 'carl@acme.demo', expect='My requests')
    entries = _menu_entries(user)
    assert {'My requests', 'New request'} <= set(entries)
    assert not {'Tickets', 'Queues', 'Dashboard', 'Customers'} & set(entries)


async def test_a_name_in_the_phone_menu_is_text_not_markup(user: User, people) -> None:
    from pulse_live import db
    from pulse_live.models import User as Account
    async with db.session() as s, s.begin():
        (await s.get(Account, people.users['maria@pulse.demo'].id)).display_name = 'Maria <b>&amp; Co'
    await login(user, 'maria@pulse.demo')
    assert 'Profile (Maria <b>&amp; Co)' in _menu(user)
    (menu,) = user.find(marker='nav-menu-links').elements
    assert '<b>' not in menu.content
