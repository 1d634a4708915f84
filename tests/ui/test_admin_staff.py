"""The admins' staff page with simulated users: invite, change a role, deactivate and reactivate, set queues;
everybody else is refused and the attempt logged."""
import logging
from collections.abc import Callable

from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.events import AccountChanged
from pulse_live.models import MailOutbox, Queue, QueueMember
from pulse_live.models import User as UserRow
from tests.ui.conftest import header_links, login


async def _staff_page(user: User, email: str = 'admin@pulse.demo') -> None:
    await login(user, email)
    await user.open('/admin/staff')
    await user.should_see(marker='staff-list')


async def _row(email: str) -> UserRow:
    async with db.session() as s:
        return (await s.execute(select(UserRow).where(UserRow.email == email))).scalar_one()


async def test_the_header_links_admins_to_the_staff_page(user: User, people) -> None:
    await login(user, 'admin@pulse.demo')
    await user.open('/tickets')
    await user.open(header_links(user)['Staff'])
    await user.should_see(marker='staff-list')
    for name in ('Ada Admin', 'Maria Rossi', 'Anna Keller', 'Ben Okafor', 'Daniel Weber'):
        await user.should_see(name)
    await user.should_not_see('Carl Jensen')  # customers are not staff


async def test_admin_invites_a_new_agent_with_queues(user: User, people) -> None:
    await _staff_page(user)
    user.find(marker='staff-invite').click()
    await user.should_see(marker='invite-name')
    user.find(marker='invite-name').type('Nora Berg')
    user.find(marker='invite-email').type('nora@pulse.demo')
    async with db.session() as s:
        network = (await s.execute(select(Queue.id).where(Queue.name == 'Network'))).scalar_one()
    user.find(marker='invite-queues').elements.pop().value = [network]
    user.find(marker='invite-send').click()
    await user.should_see('Nora Berg invited; the password link is on its way to nora@pulse.demo.', retries=50)
    nora = await _row('nora@pulse.demo')
    await user.should_see(marker=f'staff-invited-{nora.id}')
    assert nora.role == 'agent' and nora.handle == 'nora'
    async with db.session() as s:
        queues = set((await s.execute(select(Queue.name).join(QueueMember, QueueMember.queue_id == Queue.id)
                                      .where(QueueMember.user_id == nora.id))).scalars())
        mails = (await s.execute(select(MailOutbox.to_addr).where(MailOutbox.to_user_id == nora.id))).scalars().all()
    assert queues == {'Network'} and mails == ['nora@pulse.demo']
    # the same e-mail again is refused with a clear message
    user.find(marker='staff-invite').click()
    await user.should_see(marker='invite-name')
    user.find(marker='invite-name').type('Nora Again')
    user.find(marker='invite-email').type('NORA@pulse.demo')
    user.find(marker='invite-send').click()
    await user.should_see('nora@pulse.demo belongs to Nora Berg (agent) already.', retries=30)


async def test_admin_changes_a_role_and_the_person_is_told_at_once(user: User, people) -> None:
    anna = people.users['anna@pulse.demo']
    await _staff_page(user)
    before = len([e for e in get_bus().published if isinstance(e, AccountChanged)])
    user.find(marker=f'staff-role-{anna.id}').elements.pop().value = 'manager'  # as choosing it in the select
    await user.should_see('Anna Keller is manager now.', retries=50)
    assert (await _row('anna@pulse.demo')).role == 'manager'
    changed = [e.user_id for e in get_bus().published if isinstance(e, AccountChanged)][before:]
    assert changed == [anna.id]  # her open pages re-check their session (the lead wires the ending)


async def test_the_last_admin_cannot_demote_or_deactivate_herself(user: User, people) -> None:
    ada = people.users['admin@pulse.demo']
    await _staff_page(user)
    await user.should_not_see(marker=f'staff-deactivate-{ada.id}')  # nobody deactivates themselves
    user.find(marker=f'staff-role-{ada.id}').elements.pop().value = 'agent'
    await user.should_see('Ada Admin is the last active admin and cannot be demoted', retries=50)
    for _ in range(50):  # the page shows the truth again
        if user.find(marker=f'staff-role-{ada.id}').elements.pop().value == 'admin':
            break
        await user.should_see(marker='staff-list', retries=1)
    assert user.find(marker=f'staff-role-{ada.id}').elements.pop().value == 'admin'
    assert (await _row('admin@pulse.demo')).role == 'admin'


async def test_admin_deactivates_and_reactivates_and_sets_queues(user: User, people) -> None:
    ben = people.users['ben@pulse.demo']
    await _staff_page(user)
    user.find(marker=f'staff-deactivate-{ben.id}').click()
    await user.should_see(marker='deactivate-confirm')
    user.find(marker='deactivate-confirm').click()
    await user.should_see('Ben Okafor is deactivated.', retries=50)
    await user.should_see(marker=f'staff-inactive-{ben.id}')
    assert not (await _row('ben@pulse.demo')).is_active
    user.find(marker=f'staff-reactivate-{ben.id}').click()
    await user.should_see('Ben Okafor can sign in again.', retries=50)
    await user.should_not_see(marker=f'staff-inactive-{ben.id}')
    # queues: Ben works 1st and 2nd level; make it 2nd level and Network
    user.find(marker=f'staff-queues-edit-{ben.id}').click()
    await user.should_see(marker='staff-queues-save')
    async with db.session() as s:
        ids = dict((await s.execute(select(Queue.name, Queue.id))).all())
    user.find(marker=f'staff-queue-{ids["1st level"]}').click()
    user.find(marker=f'staff-queue-{ids["Network"]}').click()
    user.find(marker='staff-queues-save').click()
    await user.should_see('Queues of Ben Okafor saved.', retries=50)
    async with db.session() as s:
        queues = set((await s.execute(select(Queue.name).join(QueueMember, QueueMember.queue_id == Queue.id)
                                      .where(QueueMember.user_id == ben.id))).scalars())
    assert queues == {'2nd level', 'Network'}


async def test_everybody_else_is_refused_and_logged(create_user: Callable[[], User], people, caplog) -> None:
    for email in ('maria@pulse.demo', 'anna@pulse.demo', 'carl@acme.demo'):
        user = create_user()
        await login(user, email)
        assert header_links(user) and 'Staff' not in header_links(user)  # no link in their header
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='pulse_live.security'):
            await user.open('/admin/staff')
            await user.should_not_see(marker='staff-list')
            await user.should_not_see(marker='staff-invite')
        assert any('refused' in r.message and '/admin/staff' in r.message for r in caplog.records), email
