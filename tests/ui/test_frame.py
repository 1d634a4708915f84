"""The header: every destination of a role, as links on wide screens and in the phone menu."""
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from tests.ui.conftest import login


def _menu(user: User) -> dict[str, ui.menu_item]:
    """The phone menu's entries by their text (a menu item shows its label in an item section)."""
    return {item.default_slot.children[0].text: item for item in user.find(kind=ui.menu_item).elements}


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
    UserInteraction(user, {_menu(user)['Dashboard']}, None).click()
    await user.should_see('Oldest open tickets')


async def test_customer_menu_has_only_the_portal(user: User, people) -> None:
    await login(user, 'carl@acme.demo', expect='My requests')
    entries = _menu_entries(user)
    assert {'My requests', 'New request'} <= set(entries)
    assert not {'Tickets', 'Queues', 'Dashboard', 'Customers'} & set(entries)
