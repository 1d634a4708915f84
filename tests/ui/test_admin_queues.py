"""The admin page for queues and rules (/admin/queues): queues, their members, the matrix, routing rules and what a
priority rule matches; each change audited."""
from __future__ import annotations

from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import Queue, QueueMember, Ticket
from pulse_live.services import routing
from tests.ui.conftest import login


async def _queue(name: str) -> Queue | None:
    async with db.session() as s:
        return (await s.execute(select(Queue).where(Queue.name == name))).scalar_one_or_none()


async def _members(queue_id: int) -> set[int]:
    async with db.session() as s:
        return set((await s.execute(select(QueueMember.user_id).where(QueueMember.queue_id == queue_id))).scalars())


async def test_admin_creates_a_queue_and_adds_and_removes_a_member(user: User, people) -> None:
    daniel = people.users['daniel@pulse.demo']
    await login(user, 'admin@pulse.demo')
    await user.open('/admin/queues')
    user.find(marker='new-queue').click()
    await user.should_see(marker='queue-name')
    user.find(marker='queue-save').click()  # no name: refused, the dialog stays open
    await user.should_see(marker='queue-name')
    assert await _queue('') is None
    user.find(marker='queue-name').type('Printers')
    user.find(marker='queue-save').click()
    await user.should_see(kind=ui.label, content='Printers', retries=30)
    queue = await _queue('Printers')
    assert queue is not None and await _members(queue.id) == set()

    user.find(marker=f'member-picker-{queue.id}').elements.pop().value = daniel.id
    user.find(marker=f'member-add-{queue.id}').click()
    await user.should_see(marker=f'member-{queue.id}-{daniel.id}', retries=30)
    assert await _members(queue.id) == {daniel.id}
    user.find(marker=f'member-{queue.id}-{daniel.id}').elements.pop().value = False  # the chip's remove
    await user.should_not_see(marker=f'member-{queue.id}-{daniel.id}', retries=30)
    assert await _members(queue.id) == set()

    await user.should_see(kind=ui.label, content='Added queue Printers')  # the audit log


async def test_a_matrix_cell_is_saved(user: User, people) -> None:
    await login(user, 'admin@pulse.demo')
    await user.open('/admin/queues')
    cell = user.find(marker='matrix-high-high').elements.pop()
    cell.value = 2 if cell.value != 2 else 3
    await user.should_see('Matrix saved', retries=30)
    chosen = cell.value
    await user.open('/admin/queues')
    assert user.find(marker='matrix-high-high').elements.pop().value == chosen


async def test_admin_adds_a_routing_rule_and_sees_it_audited(create_user: Callable[[], User], people) -> None:
    async with db.session() as s:
        network = (await s.execute(select(Queue.id).where(Queue.name == 'Network'))).scalar_one()
    ada = create_user()
    await login(ada, 'admin@pulse.demo')
    await ada.open('/admin/queues')
    await ada.should_see(marker='admin-routing')
    await ada.should_see('No rules yet')
    ada.find(marker='new-routing-rule').click()
    await ada.should_see(marker='rule-name')
    ada.find(marker='rule-name').type('Wifi to network')
    ada.find(marker='rule-queue').elements.pop().value = network
    ada.find(marker='rule-keywords').type('wifi, wlan')
    ada.find(marker='rule-save').click()
    await ada.should_see('If keywords wifi, wlan → Network', retries=30)
    await ada.should_see(kind=ui.label, content='Added routing rule “Wifi to network”')
    # checked without a ticket write right before teardown: notify/sender.stop() can hang when a wake-up races
    # its cancel (asyncio.wait_for in Python 3.11 may swallow the cancellation)
    async with db.session() as s:
        queue_id, reason, _ = await routing.route(s, Ticket(title='WLAN drops in room 4', description='',
                                                            type_id=1, organisation_id=people.orgs['acme'],
                                                            channel='portal'))
    assert queue_id == network and reason == 'routing rule “Wifi to network”'


async def test_admin_picks_what_a_priority_rule_matches(create_user: Callable[[], User], people) -> None:
    ada = create_user()
    await login(ada, 'admin@pulse.demo')
    await ada.open('/admin/queues')
    await ada.should_see(marker='admin-priorities')
    ada.find(marker='prio-kind').elements.pop().value = 'criticality'
    await ada.should_not_see(marker='prio-match')  # criticalities are chosen, not typed
    choice = ada.find(marker='prio-choice').elements.pop()
    assert list(choice.options) == ['critical', 'high', 'normal', 'low'] and choice.value == 'critical'
    ada.find(marker='prio-add').click()
    await ada.should_see('Service criticality “critical”: ↑1 step', retries=30)
    ada.find(marker='prio-kind').elements.pop().value = 'tier'
    assert {'gold', 'standard'} <= set(ada.find(marker='prio-choice').elements.pop().options)
    ada.find(marker='prio-kind').elements.pop().value = 'keyword'
    await ada.should_not_see(marker='prio-choice')
    await ada.should_see(marker='prio-match')
