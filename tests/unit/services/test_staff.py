"""Staff managed in the app: admins invite, change roles, deactivate and reactivate, set queues; every change
audited, AccountChanged published for role and active changes, the desk never left without an admin."""
import asyncio
import logging
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from pulse_live import auth, db
from pulse_live.bus import get_bus
from pulse_live.errors import NotFound, PermissionDenied, ServiceError, ValidationError
from pulse_live.events import AccountChanged
from pulse_live.models import AuditLog, MailOutbox, Queue, QueueMember, Role, User
from pulse_live.queries.staff import staff_directory
from pulse_live.services import accounts, ownership, staff, tickets
from tests.factories import queue_ids


def _account_changes() -> list[int]:
    return [e.user_id for e in get_bus().published if isinstance(e, AccountChanged)]


async def _audit(entity_id: int | None = None) -> list[str]:
    async with db.session() as s:
        query = select(AuditLog.summary).order_by(AuditLog.id)
        if entity_id is not None:
            query = query.where(AuditLog.entity == 'user', AuditLog.entity_id == entity_id)
        return list((await s.execute(query)).scalars())


async def _user(user_id: int) -> User:
    async with db.session() as s:
        return await s.get(User, user_id)


async def _member_queues(user_id: int) -> set[str]:
    async with db.session() as s:
        return set((await s.execute(select(Queue.name).join(QueueMember, QueueMember.queue_id == Queue.id)
                                    .where(QueueMember.user_id == user_id))).scalars())


async def _second_admin(people) -> User:
    ada = people.users['admin@pulse.demo']
    zoe, _ = await staff.invite(actor=ada, email='zoe@pulse.demo', display_name='Zoe Admin', role='admin')
    return zoe


async def test_admin_invites_a_member_of_staff_who_sets_a_password_through_the_mailed_link(people):
    ada = people.users['admin@pulse.demo']
    q = await queue_ids()
    nora, mailed = await staff.invite(actor=ada, email=' Nora.Berg@Pulse.demo ', display_name='  Nora  Berg ',
                                      role='agent', queue_ids=[q['1st level'], q['Network']])
    assert mailed
    stored = await _user(nora.id)
    assert (stored.email, stored.display_name, stored.role, stored.handle, stored.is_active) == \
        ('nora.berg@pulse.demo', 'Nora Berg', 'agent', 'nora.berg', True)
    assert stored.organisation_id == people.orgs['provider'] and stored.last_login_at is None
    assert await _member_queues(nora.id) == {'1st level', 'Network'}
    assert await _audit() == ['Invited Nora Berg <nora.berg@pulse.demo> as agent', 'Added Nora Berg to 1st level',
                              'Added Nora Berg to Network']
    # nobody knows the password until she chooses one through the link in her mail
    with pytest.raises(ServiceError):
        await auth.authenticate('nora.berg@pulse.demo', '')
    async with db.session() as s:
        mail = (await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == nora.id))).scalar_one()
    assert mail.kind == 'account' and mail.to_addr == 'nora.berg@pulse.demo'
    assert 'to sign in as agent of the help desk' in mail.body_text  # not a customer's "follow your requests"
    link = next(word for word in mail.body_text.split() if '/password/reset?token=' in word)
    token = parse_qs(urlparse(link).query)['token'][0]
    await accounts.reset_password(token, 'a good password', 'a good password')
    assert (await auth.authenticate('nora.berg@pulse.demo', 'a good password')).id == nora.id
    # a second link within minutes is not mailed (the cooldown of services/accounts.py)
    assert await staff.resend_invitation(actor=ada, user_id=nora.id) is False


async def test_invitations_are_validated(people, caplog):
    ada, maria, anna = (people.users[e] for e in ('admin@pulse.demo', 'maria@pulse.demo', 'anna@pulse.demo'))
    cases = [
        ({'email': 'not-an-address', 'display_name': 'X', 'role': 'agent'}, 'not a valid e-mail'),
        ({'email': 'ANNA@pulse.demo', 'display_name': 'Anna 2', 'role': 'agent'},
         'anna@pulse.demo belongs to Anna Keller \\(agent\\) already'),
        ({'email': 'x@pulse.demo', 'display_name': ' ', 'role': 'agent'}, 'Name is required'),
        ({'email': 'x@pulse.demo', 'display_name': 'X', 'role': 'customer'}, 'customers are managed under Customers'),
        ({'email': 'x@pulse.demo', 'display_name': 'X', 'role': 'boss'}, 'not a staff role'),
        ({'email': 'x@pulse.demo', 'display_name': 'X', 'role': 'agent', 'queue_ids': [999]}, 'No such queue'),
        ({'email': 'x@pulse.demo', 'display_name': 'X', 'role': 'agent', 'handle': 'team'}, '@Team is reserved'),
        ({'email': 'x@pulse.demo', 'display_name': 'X', 'role': 'agent', 'handle': 'anna'}, '@anna is taken'),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValidationError, match=message):
            await staff.invite(actor=ada, **kwargs)
    with caplog.at_level(logging.WARNING, logger='pulse_live.security'):
        for actor in (maria, anna):
            with pytest.raises(PermissionDenied, match='Only admins'):
                await staff.invite(actor=actor, email='x@pulse.demo', display_name='X', role='agent')
    assert sum('refused' in r.message for r in caplog.records) == 2
    async with db.session() as s:
        assert (await s.execute(select(User).where(User.email == 'x@pulse.demo'))).first() is None
    assert await _audit() == []
    # the handle made from the e-mail is skipped when taken: the person gets none (and may choose one later)
    ben2, _ = await staff.invite(actor=ada, email='ben@elsewhere.demo', display_name='Ben Two', role='agent')
    assert ben2.handle is None


async def test_role_changes_are_audited_and_publish_account_changed(people):
    ada, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    published_before = len(_account_changes())
    user = await staff.change_role(actor=ada, user_id=anna.id, role='manager')
    assert user.role == 'manager' and (await _user(anna.id)).role == 'manager'
    assert _account_changes()[published_before:] == [anna.id]  # her open pages re-check their session at once
    assert await _audit(anna.id) == ['Changed the role of Anna Keller: Agent → Manager']
    await staff.change_role(actor=ada, user_id=anna.id, role='manager')  # no change: nothing written or published
    assert _account_changes()[published_before:] == [anna.id]
    with pytest.raises(NotFound):
        await staff.change_role(actor=ada, user_id=people.users['carl@acme.demo'].id, role='agent')  # a customer
    with pytest.raises(PermissionDenied):
        await staff.change_role(actor=people.users['maria@pulse.demo'], user_id=anna.id, role='admin')
    assert _account_changes()[published_before:] == [anna.id]


async def test_the_last_admin_can_be_neither_demoted_nor_deactivated_and_nobody_deactivates_themselves(people):
    ada = people.users['admin@pulse.demo']
    before = len(_account_changes())
    with pytest.raises(ValidationError, match='Ada Admin is the last active admin and cannot be demoted'):
        await staff.change_role(actor=ada, user_id=ada.id, role='manager')
    with pytest.raises(ValidationError, match='You cannot deactivate yourself'):
        await staff.set_active(actor=ada, user_id=ada.id, active=False)
    assert (await _user(ada.id)).role == 'admin' and (await _user(ada.id)).is_active
    assert _account_changes()[before:] == [] and await _audit(ada.id) == []
    # with a second admin, Ada may step down; then she is no admin any more and cannot act as one
    zoe = await _second_admin(people)
    await staff.change_role(actor=ada, user_id=ada.id, role='manager')
    with pytest.raises(PermissionDenied):
        await staff.set_active(actor=ada, user_id=zoe.id, active=False)  # Ada's object still says admin
    with pytest.raises(ValidationError, match='Zoe Admin is the last active admin and cannot be demoted'):
        await staff.change_role(actor=zoe, user_id=zoe.id, role='agent')


async def test_two_admins_removing_each_other_at_once_leave_one_admin(people):
    ada = people.users['admin@pulse.demo']
    zoe = await _second_admin(people)
    for attempt in (
        lambda: asyncio.gather(staff.change_role(actor=ada, user_id=zoe.id, role='agent'),
                               staff.change_role(actor=zoe, user_id=ada.id, role='agent'), return_exceptions=True),
        lambda: asyncio.gather(staff.set_active(actor=ada, user_id=zoe.id, active=False),
                               staff.set_active(actor=zoe, user_id=ada.id, active=False), return_exceptions=True),
    ):
        results = await attempt()
        assert sum(isinstance(r, ServiceError) for r in results) == 1, results
        async with db.session() as s:
            admins = (await s.execute(select(User.id).where(User.role == Role.ADMIN.value,
                                                            User.is_active.is_(True)))).scalars().all()
        assert len(admins) == 1
        # put both back for the second attempt
        winner = await _user(admins[0])
        await staff.change_role(actor=winner, user_id=zoe.id if winner.id == ada.id else ada.id, role='admin')


async def test_deactivate_and_reactivate(people):
    ada, ben, maria = (people.users[e] for e in ('admin@pulse.demo', 'ben@pulse.demo', 'maria@pulse.demo'))
    ticket = await tickets.create_ticket(actor=ben, title='Mine', assignee_id=ben.id)
    before = len(_account_changes())
    with pytest.raises(PermissionDenied):
        await staff.set_active(actor=maria, user_id=ben.id, active=False)
    await staff.set_active(actor=ada, user_id=ben.id, active=False)
    assert _account_changes()[before:] == [ben.id]
    assert await auth.get_user(ben.id) is None  # his sessions end: current_user finds nobody
    directory = await staff_directory(ada)
    row = next(r for r in directory.rows if r.id == ben.id)
    assert (row.is_active, row.open_tickets) == (False, 1) and directory.rows[-1].id == ben.id  # inactive last
    with pytest.raises(ValidationError, match='reactivate them before adding queues'):
        await staff.set_queues(actor=ada, user_id=ben.id, queue_ids=list((await queue_ids()).values()))
    with pytest.raises(ValidationError, match='deactivated; reactivate them first'):
        await staff.resend_invitation(actor=ada, user_id=ben.id)
    await staff.set_active(actor=ada, user_id=ben.id, active=True)
    assert _account_changes()[before:] == [ben.id, ben.id]
    assert (await auth.get_user(ben.id)).id == ben.id
    assert await _audit(ben.id) == ['Deactivated Ben Okafor', 'Reactivated Ben Okafor']
    await ownership.unassign_ticket(actor=ben, ticket_id=ticket.id)  # and works again


async def test_queue_memberships_are_set_exactly_and_audited(people):
    ada, ben, maria = (people.users[e] for e in ('admin@pulse.demo', 'ben@pulse.demo', 'maria@pulse.demo'))
    q = await queue_ids()
    assert await _member_queues(ben.id) == {'1st level', '2nd level'}
    assert await staff.set_queues(actor=ada, user_id=ben.id, queue_ids=[q['2nd level'], q['Network']]) == \
        sorted([q['2nd level'], q['Network']])
    assert await _member_queues(ben.id) == {'2nd level', 'Network'}
    assert await _audit() == ['Removed Ben Okafor from 1st level', 'Added Ben Okafor to Network']
    await staff.set_queues(actor=ada, user_id=ben.id, queue_ids=[q['2nd level'], q['Network']])  # no change
    assert len(await _audit()) == 2
    with pytest.raises(ValidationError, match='No such queue'):
        await staff.set_queues(actor=ada, user_id=ben.id, queue_ids=[12345])
    with pytest.raises(ValidationError, match='not a valid choice'):
        await staff.set_queues(actor=ada, user_id=ben.id, queue_ids=['1'])
    with pytest.raises(PermissionDenied):
        await staff.set_queues(actor=maria, user_id=ben.id, queue_ids=[])
    assert _account_changes() == []  # queues are no account change
    # Ben now takes from Network, no longer from 1st level
    ticket = await tickets.create_ticket(actor=ada, title='Line down', queue_id=q['1st level'])
    with pytest.raises(PermissionDenied, match='Only members of 1st level'):
        await ownership.take_ticket(actor=ben, ticket_id=ticket.id)


async def test_the_desk_s_own_accounts_are_not_staff_to_manage(people):
    """The mail intake's and each error source's account (agents, never active, no password) were listed on the
    staff page as deactivated agents with a Reactivate button: reactivated, the intake became an agent everyone
    could assign tickets to. They are not listed, and the staff services do not find them."""
    from pulse_live.services import error_sources, mail_intake
    admin = people.users['admin@pulse.demo']
    await mail_intake._intake_user()  # made the first time a mail comes in
    queues = await queue_ids()
    await error_sources.create_source(actor=admin, name='Shop', organisation_id=people.orgs['acme'],
                                      queue_id=queues['2nd level'])
    async with db.session() as s:
        system = list((await s.execute(select(User).where(User.email.like('%.invalid')))).scalars())
    assert {u.display_name for u in system} == {'E-mail intake', 'Error reports: Shop'}
    listed = {row.id for row in (await staff_directory(admin)).rows}
    assert listed and not listed & {u.id for u in system}
    for account in system:
        with pytest.raises(NotFound):
            await staff.set_active(actor=admin, user_id=account.id, active=True)
        with pytest.raises(NotFound):
            await staff.change_role(actor=admin, user_id=account.id, role='admin')
    async with db.session() as s:
        active = (await s.execute(select(User.id).where(User.id.in_([u.id for u in system]),
                                                        User.is_active.is_(True)))).all()
    assert active == []


async def test_a_deactivation_ends_the_api_tokens_and_a_reactivation_does_not_bring_them_back(people):
    from pulse_live.services import api_tokens
    admin, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    made = await api_tokens.create_token(actor=anna, name='script', scope='write', expires_in_days=365)
    await staff.set_active(actor=admin, user_id=anna.id, active=False)
    await staff.set_active(actor=admin, user_id=anna.id, active=True)
    with pytest.raises(api_tokens.TokenRefused):
        await api_tokens.authenticate(made.secret)
    fresh = await api_tokens.create_token(actor=anna, name='after', scope='read', expires_in_days=30)
    assert (await api_tokens.authenticate(fresh.secret))[0].id == anna.id
