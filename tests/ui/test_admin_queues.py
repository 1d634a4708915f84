"""The admin page for queues and rules (/admin/queues): queues, their members, the matrix; each change audited."""
from __future__ import annotations

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import Queue, QueueMember
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
