"""Saved views on screen: save the filtered ticket list under a name, personal or shared with a queue; the view in
the work lists' navigation with a count that moves live; a personal view never shown to a colleague."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import Queue, SavedView
from tests.factories import make_ticket
from tests.ui.conftest import login


async def _queue_id(name: str) -> int:
    async with db.session() as s:
        return (await s.execute(select(Queue.id).where(Queue.name == name))).scalar_one()


async def _save_view(user: User, name: str, share: str | None = None) -> SavedView:
    user.find(marker='save-view').click()
    await user.should_see(marker='view-name')
    user.find(marker='view-name').type(name)
    if share:
        user.find(marker='view-share').click()
        user.find(share).click()
    user.find(marker='view-save').click()
    for _ in range(100):
        async with db.session() as s:
            view = (await s.execute(select(SavedView).where(SavedView.name == name))).scalar()
        if view is not None:
            await user.should_see(marker=f'saved-view-{view.id}')  # the page opened as the view
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f'the view {name} was not saved')


async def test_a_saved_view_is_in_the_navigation_with_its_live_count(create_user: Callable[[], User], people) -> None:
    network = await _queue_id('Network')
    switch = await make_ticket(people, 'Switch port dead', queue_id=network)
    printer = await make_ticket(people, 'Printer jam')
    daniel, anna = create_user(), create_user()
    await login(daniel, 'daniel@pulse.demo')  # works Network
    await daniel.open(f'/tickets?queue_id={network}')
    await daniel.should_see(marker=f'work-row {switch.reference}')
    shared = await _save_view(daniel, 'Network backlog', share='Everyone in Network')
    assert (shared.queue_id, shared.filters) == (network, {'queue_id': network})
    await daniel.should_see(marker=f'saved-view-{shared.id}', content='Network backlog · 1')
    await daniel.open('/tickets?q=printer')
    personal = await _save_view(daniel, 'Printers')
    assert personal.queue_id is None
    await daniel.open('/my')  # the views are in the navigation of every work list
    await daniel.should_see(marker=f'saved-view-{shared.id}', content='Network backlog · 1')
    await daniel.should_see(marker=f'saved-view-{personal.id}', content='Printers · 1')

    await login(anna, 'anna@pulse.demo')  # not in Network: sees neither the shared nor the personal view
    await anna.open('/queues')
    await anna.should_see(marker='queue-title')
    await anna.should_not_see(marker=f'saved-view-{shared.id}')
    await anna.should_not_see(marker=f'saved-view-{personal.id}')

    router = await make_ticket(people, 'Router reboots', queue_id=network)  # the count moves live on Daniel's page
    await daniel.should_see(marker=f'saved-view-{shared.id}', content='Network backlog · 2', retries=60)
    await daniel.should_see(marker=f'saved-view-{personal.id}', content='Printers · 1')
    daniel.find(marker=f'saved-view-{shared.id}').click()
    await daniel.should_see(marker=f'work-row {router.reference}')
    await daniel.should_not_see(marker=f'work-row {printer.reference}')
    daniel.find(marker='delete-view').click()
    await daniel.should_see('View deleted')
    async with db.session() as s:
        assert (await s.get(SavedView, shared.id)) is None


async def test_saving_a_view_without_a_name_says_so(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets')
    user.find(marker='save-view').click()
    await user.should_see(marker='view-name')
    user.find(marker='view-save').click()
    await user.should_see('Give the view a name.')
    async with db.session() as s:
        assert (await s.execute(select(SavedView))).scalars().all() == []


async def test_the_open_view_is_renamed_in_the_navigation_by_whoever_may_change_it(
        create_user: Callable[[], User], people) -> None:
    network = await _queue_id('Network')
    await make_ticket(people, 'Switch port dead', queue_id=network)
    daniel, anna = create_user(), create_user()
    await login(daniel, 'daniel@pulse.demo')
    await daniel.open(f'/tickets?queue_id={network}')
    view = await _save_view(daniel, 'Net', share='Everyone in Network')
    daniel.find(marker='saved-view-rename').click()
    await daniel.should_see(marker='saved-view-rename-dialog')
    daniel.find(marker='saved-view-new-name').clear()
    daniel.find(marker='saved-view-rename-save').click()
    await daniel.should_see('Give the view a name.')  # refused: the old name stays
    daniel.find(marker='saved-view-new-name').type('Network backlog')
    daniel.find(marker='saved-view-rename-save').click()
    await daniel.should_see('View renamed')
    await daniel.should_see(marker=f'saved-view-{view.id}', content='Network backlog · 1')
    async with db.session() as s:
        stored = await s.get(SavedView, view.id)
        assert stored is not None and stored.name == 'Network backlog'
        assert (stored.queue_id, stored.filters) == (network, {'queue_id': network})  # only the name changed
    await daniel.open('/my')  # another list: the view is not open there, so no rename button
    await daniel.should_see(marker=f'saved-view-{view.id}', content='Network backlog · 1')
    await daniel.should_not_see(marker='saved-view-rename')
    await login(anna, 'anna@pulse.demo')  # not its owner nor a manager: she may open it only if in Network
    await anna.open(view_address_of(view))
    await anna.should_not_see(marker='saved-view-rename')


def view_address_of(view: SavedView) -> str:
    from pulse_live.queries.saved_views import view_address
    return view_address(view.id, view.filters)
