"""The header: every destination of a role, as links on wide screens and in the phone menu; its static parts are
plain HTML in a few elements (each element is built, sent and held per open page)."""
import html
import re

from nicegui import ui
from nicegui.testing import User

from tests.ui.conftest import header_links, login


def _menu(user: User) -> dict[str, str]:
    """The phone menu's entries by their text, with where each leads (plain links in one element)."""
    (menu,) = user.find(marker='nav-menu-links').elements
    entry = r'<a [^>]*href="([^"]*)"[^>]*>.*?<div class="q-item__section[^"]*">(.*?)</div></a>'
    return {html.unescape(label): html.unescape(href) for href, label in re.findall(entry, menu.content)}


def _menu_entries(user: User) -> list[str]:
    return sorted(_menu(user))


def _links(user: User) -> list[str]:
    return sorted(header_links(user))


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


def _header_elements(user: User) -> list[ui.element]:
    (header,) = user.find(kind=ui.header).elements
    return list(header.descendants())


async def test_an_agents_header_is_a_few_elements(user: User, people) -> None:
    """Was 23 (a link per destination, a row, the space, the name's link and the role's label); the search box (4)
    and the bell (4) are the most of it now."""
    await login(user, 'anna@pulse.demo')
    elements = _header_elements(user)
    assert len(elements) <= 14, [type(e).__name__ for e in elements]
    assert not [e for e in elements if isinstance(e, ui.link | ui.label | ui.row | ui.space)]
    links = header_links(user)
    assert links == {'Pulse Live': '/', 'Tickets': '/tickets', 'New ticket': '/tickets/new', 'Customers': '/customers',
                     'Queues': '/queues', 'My tickets': '/my', 'Knowledge': '/kb', 'Anna Keller': '/profile'}
    (signed_in,) = user.find(marker='signed-in').elements
    assert '>Agent</div>' in signed_in.content
    await user.should_not_see(marker='admin-menu')
    await user.open(links['Knowledge'])  # a plain link: its page loads as before
    await user.should_see(marker='signed-in')


async def test_an_admin_has_the_settings_pages_in_a_menu(user: User, people) -> None:
    await login(user, 'admin@pulse.demo')
    assert len(_header_elements(user)) <= 18  # was 33
    row, menu = header_links(user, 'nav-links'), header_links(user, 'admin-menu-links')
    assert set(row) == {'Pulse Live', 'Tickets', 'New ticket', 'Customers', 'Queues', 'My tickets', 'Knowledge',
                        'Dashboard'}
    assert menu == {'Outbox': '/admin/outbox', 'Queues & rules': '/admin/queues', 'Service levels': '/admin/sla',
                    'Staff': '/admin/staff', 'Escalation': '/admin/escalation', 'Mailboxes': '/admin/mailboxes',
                    'Error reports': '/admin/error-sources'}
    await user.should_see(marker='admin-menu')
    (signed_in,) = user.find(marker='signed-in').elements
    assert '>Admin</div>' in signed_in.content
    assert header_links(user, 'signed-in') == {'Ada Admin': '/profile'}


async def test_a_customer_sees_the_portal_in_the_header(user: User, people) -> None:
    await login(user, 'carl@acme.demo', expect='My requests')
    assert header_links(user) == {'Pulse Live': '/', 'My requests': '/portal', 'New request': '/portal/new',
                                  'Help': '/portal/help', 'Carl Jensen': '/profile'}
    (signed_in,) = user.find(marker='signed-in').elements
    assert '>Customer</div>' in signed_in.content


async def test_a_name_in_the_header_is_text_not_markup(user: User, people) -> None:
    from pulse_live import db
    from pulse_live.models import User as Account
    name = '<img src=x onerror=alert(1)>'
    async with db.session() as s, s.begin():
        (await s.get(Account, people.users['anna@pulse.demo'].id)).display_name = name
    await login(user, 'anna@pulse.demo')
    assert header_links(user, 'signed-in') == {name: '/profile'}
    (signed_in,) = user.find(marker='signed-in').elements
    assert '<img' not in signed_in.content
    assert html.escape(name) in signed_in.content
    (menu,) = user.find(marker='nav-menu-links').elements
    assert '<img' not in menu.content
