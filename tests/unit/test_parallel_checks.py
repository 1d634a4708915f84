"""Checks made before a write ("at most 20 tokens", "no second organisation of that name", "not on the team yet",
"the link was not used yet") hold when the same request comes many times at once. On SQLite one writer at a time
did it already; on PostgreSQL every one of them passed the same check before (`db.serialise` now): 25 token
creations left 26 active tokens of 20, 45 saved views 31 of 30, three organisations whose names differ in case were
all stored, two reset-password tabs were both told "saved", moving two categories under each other made a cycle."""
from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.errors import ValidationError
from pulse_live.models import ApiToken, Organisation, SavedView, TeamMember, User
from pulse_live.services import accounts, api_tokens, customers, kb, saved_views, team
from tests.factories import make_ticket


async def _at_once(calls) -> tuple[list, list[BaseException]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    for error in failed:
        if not isinstance(error, ValidationError):
            raise error  # a database error or a traceback is what must not happen
    return [r for r in results if not isinstance(r, BaseException)], failed


async def _count(query) -> int:
    async with db.session() as s:
        return (await s.execute(query)).scalar_one()


async def test_token_and_saved_view_limits_hold_under_a_burst(people) -> None:
    ben = people.users['ben@pulse.demo']
    made, refused = await _at_once(api_tokens.create_token(actor=ben, name=f't{n}', scope='read', expires_in_days=30)
                                   for n in range(25))
    assert (len(made), len(refused)) == (api_tokens.MAX_ACTIVE_PER_USER, 5)
    assert await _count(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == ben.id)) == 20
    saved, refused = await _at_once(saved_views.save_view(actor=ben, name=f'v{n}', filters={'q': str(n)})
                                    for n in range(saved_views.MAX_VIEWS_PER_USER + 5))
    assert len(saved) == saved_views.MAX_VIEWS_PER_USER and len(refused) == 5
    assert await _count(select(func.count()).select_from(SavedView).where(SavedView.owner_id == ben.id)) == 30


async def test_names_addresses_and_team_members_are_not_doubled_by_a_burst(people) -> None:
    maria, anna = people.users['maria@pulse.demo'], people.users['anna@pulse.demo']
    saved, refused = await _at_once(customers.save_organisation(actor=maria, name=name)
                                    for name in ('Race Org X', 'RACE ORG X', 'race org x'))
    assert len(saved) == 1 and len(refused) == 2
    assert await _count(select(func.count()).select_from(Organisation)
                        .where(func.lower(Organisation.name) == 'race org x')) == 1
    made, refused = await _at_once(customers.save_customer(actor=anna, email='twice@acme.demo', display_name='Twice',
                                                           organisation_id=people.orgs['acme']) for _ in range(6))
    assert len(made) == 1 and len(refused) == 5
    assert await _count(select(func.count()).select_from(User).where(User.email == 'twice@acme.demo')) == 1
    ticket = await make_ticket(people)
    ben = people.users['ben@pulse.demo']
    added, refused = await _at_once(team.add_member(actor=anna, ticket_id=ticket.id, user_id=ben.id)
                                    for _ in range(6))
    assert len(added) == 1 and all('already on the team' in str(e) for e in refused)
    assert await _count(select(func.count()).select_from(TeamMember).where(
        TeamMember.ticket_id == ticket.id, TeamMember.user_id == ben.id)) == 1


async def test_a_password_link_used_twice_at_once_saves_one_password(people, monkeypatch) -> None:
    from pulse_live import auth

    async def quick_hash(password: str) -> str:  # the sends reach the database together (bcrypt spaced them)
        return f'test-hash:{password}'
    monkeypatch.setattr(auth, 'hash_password', quick_hash)
    carl = people.users['carl@acme.demo']
    token = accounts.make_token(carl)
    saved, refused = await _at_once(accounts.reset_password(token, f'new password {n}', f'new password {n}')
                                    for n in range(4))
    assert len(saved) == 1 and all('not valid any more' in str(e) for e in refused)


async def test_a_burst_of_password_link_asks_mails_one_link(people) -> None:
    """The cooldown ("one link mail per account within minutes") was counted, then written: on PostgreSQL ten asks
    at once all counted none, and the account's inbox got up to ten links."""
    from pulse_live.models import MailOutbox
    from pulse_live.services.accounts import ACCOUNT_MAIL
    carl, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    await _at_once(accounts.request_password_reset('carl@acme.demo', address=f'198.51.100.{n}') for n in range(8))
    sent, _ = await _at_once(accounts.send_password_link(actor=anna, user_id=carl.id) for _ in range(4))
    await accounts.settle_link_mails()
    mails = await _count(select(func.count()).select_from(MailOutbox).where(
        MailOutbox.to_user_id == carl.id, MailOutbox.kind == ACCOUNT_MAIL))
    assert mails == 1
    assert sent.count(True) <= 1  # staff are told "already mailed" unless theirs was the one


async def test_two_categories_moved_under_each_other_at_once_make_no_cycle(people) -> None:
    anna = people.users['anna@pulse.demo']
    a = await kb.save_category(actor=anna, name='Race A')
    b = await kb.save_category(actor=anna, name='Race B')
    moved, refused = await _at_once([kb.save_category(actor=anna, name='Race A', parent_id=b.id, category_id=a.id),
                                     kb.save_category(actor=anna, name='Race B', parent_id=a.id, category_id=b.id)])
    assert len(moved) == 1 and len(refused) == 1


def _customer_form(user: User, **changed) -> dict:
    """The customer form as an agent sends it back for ``user``, with ``changed`` fields."""
    form = {'user_id': user.id, 'email': user.email, 'display_name': user.display_name,
            'organisation_id': user.organisation_id, 'phone': user.phone or '', 'location': user.location or '',
            'department': user.department or '', 'is_org_admin': user.is_org_admin, 'is_active': user.is_active}
    return form | changed


async def test_a_password_link_used_while_staff_change_the_address_is_refused(people, monkeypatch) -> None:
    """The link was spent one reset at a time, but staff changing the same account were not waited for: on
    PostgreSQL the reset read the row before the agent's new address was committed, then wrote its password over the
    committed change, and the old mailbox's owner signed in under the new address. The agent's change holds its
    uncommitted row here while the reset runs."""
    from pulse_live import auth
    from pulse_live.errors import LoginRefused
    from pulse_live.services import api_tokens

    async def quick_hash(password: str) -> str:
        return auth.hash_password_sync(password) if password == 'link password' else f'test-hash:{password}'
    monkeypatch.setattr(auth, 'hash_password', quick_hash)
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    token = accounts.make_token(carl)
    revoke, resets = api_tokens.revoke_all_of, []

    async def held_open(session, user_id, *, by_id):  # the agent's transaction, its new address flushed
        revoked = await revoke(session, user_id, by_id=by_id)
        if by_id == anna.id:
            await session.flush()
            resets.append(asyncio.create_task(accounts.reset_password(token, 'link password', 'link password')))
            await asyncio.sleep(0.5)  # the reset reads and writes the row now
        return revoked
    monkeypatch.setattr(api_tokens, 'revoke_all_of', held_open)
    await customers.save_customer(actor=anna, **_customer_form(carl, email='carl.new@acme.demo'))
    saved, refused = await _at_once(resets)
    assert (len(saved), len(refused)) == (0, 1)
    with pytest.raises(LoginRefused):
        await auth.authenticate('carl.new@acme.demo', 'link password')


def _both_read_first(monkeypatch) -> None:
    """Two customer edits meet after each read the account (and before either writes), or go on after 0.5 s when
    the other is kept waiting (by a row lock)."""
    _meet_before(monkeypatch, customers, '_organisation')


async def test_two_account_changes_at_once_both_end_the_sessions(people, monkeypatch) -> None:
    """A new address and a deactivation saved at once: each read the account, then wrote its access epoch + 1, so on
    PostgreSQL it rose by 1 instead of 2, and a session started between the two changes was not ended by the second.
    """
    anna, ben, eva = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'eva@acme.demo'))
    before = eva.access_epoch or 0
    _both_read_first(monkeypatch)
    saved, _ = await _at_once([customers.save_customer(actor=anna, **_customer_form(eva, email='eva.new@acme.demo')),
                               customers.save_customer(actor=ben, **_customer_form(eva, is_active=False))])
    assert len(saved) == 2
    async with db.session() as s:
        stored = await s.get(User, eva.id)
        assert stored is not None
        assert (stored.is_active, stored.access_epoch) == (False, before + 2)  # the address: the later form's


async def test_a_customer_moved_while_made_organisation_admin_is_not_an_admin_elsewhere(people, monkeypatch) -> None:
    """An agent may move a customer but not an organisation admin; a manager made the customer an organisation admin
    at the same moment. Both read the account before either wrote: on PostgreSQL the customer ended an organisation
    admin of the organisation the agent chose, which nobody allowed."""
    anna, maria, eva = (people.users[e] for e in ('anna@pulse.demo', 'maria@pulse.demo', 'eva@acme.demo'))
    _both_read_first(monkeypatch)
    await _at_once([customers.save_customer(actor=anna, **_customer_form(eva, organisation_id=people.orgs['globex'])),
                    customers.save_customer(actor=maria, **_customer_form(eva, is_org_admin=True))])
    async with db.session() as s:
        stored = await s.get(User, eva.id)
        assert stored is not None
        assert not (stored.is_org_admin and stored.organisation_id == people.orgs['globex'])


async def test_two_first_replies_at_once_keep_the_earlier_as_the_first_response(people, monkeypatch) -> None:
    """Two agents answer a new request at the same moment: each read the ticket with no first response yet, and the
    later reply's time was written over the earlier one's (on PostgreSQL), so the first response was recorded later
    than it happened and could count as a breach. Both replies read the ticket here before either writes, and the
    earlier one writes first."""
    from pulse_live.models import EventKind, Ticket, TicketEvent
    from pulse_live.services import chatter
    anna, ben, carl = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'carl@acme.demo'))
    ticket = await make_ticket(people, actor=carl)
    arrived, met = [], asyncio.Event()
    resolve = chatter._resolve_mentions

    async def meet(session, body):  # after the message's row, before the ticket is stamped
        arrived.append(body)
        if len(arrived) == 2:
            met.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(met.wait(), 0.5)
        if body == 'second':
            await asyncio.sleep(0.2)  # the earlier reply stamps the ticket first
        return await resolve(session, body)
    monkeypatch.setattr(chatter, '_resolve_mentions', meet)
    await _at_once([chatter.post_message(actor=anna, ticket_id=ticket.id, body='first'),
                    chatter.post_message(actor=ben, ticket_id=ticket.id, body='second')])
    async with db.session() as s:
        replies = dict((await s.execute(select(TicketEvent.body, TicketEvent.created_at).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.MESSAGE))).all())
        stored = await s.get(Ticket, ticket.id)
        assert stored is not None
    assert replies['first'] < replies['second']
    assert stored.first_response_at == min(replies.values())


_OTHER_PROCESS = """
import asyncio, pathlib, sys, time

async def main():
    from pulse_live import db
    from pulse_live.config import get_settings
    from pulse_live.errors import ValidationError
    from pulse_live.models import User
    from pulse_live.services import api_tokens
    settings = get_settings()
    db.init(settings.resolved_database_url(), schema=settings.database_schema)
    here, user_id = pathlib.Path(sys.argv[1]), int(sys.argv[2])
    async with db.session() as s:
        user = await s.get(User, user_id)
    hash_token = api_tokens.hash_token

    def counted(secret):  # between the count and the insert: wait for the test's process to count too
        (here / 'other-counted').touch()
        end = time.monotonic() + 1.5
        while not (here / 'test-counted').exists() and time.monotonic() < end:
            time.sleep(0.01)
        return hash_token(secret)
    api_tokens.hash_token = counted
    (here / 'other-ready').touch()
    while not (here / 'go').exists():
        await asyncio.sleep(0.01)
    try:
        await api_tokens.create_token(actor=user, name='other process', scope='read', expires_in_days=30)
        print('made')
    except ValidationError:
        print('refused')
    await db.dispose()

asyncio.run(main())
"""


async def test_a_guarded_check_holds_against_a_second_process(people, monkeypatch, tmp_path) -> None:
    """Two processes on one database (the CLI is one) create the twentieth API token at the same moment. On SQLite
    ``db.serialise`` did nothing: the process's write lock does not reach the other process, and the count ran
    outside a write transaction (pysqlite begins one at the first write), so both counted 19 and both inserted: 21
    active tokens of 20. The second process here waits between its count and its insert for this one's count."""
    import os
    import sys
    import time
    from pathlib import Path

    from pulse_live.models import utcnow
    ben = people.users['ben@pulse.demo']
    for n in range(api_tokens.MAX_ACTIVE_PER_USER - 1):
        await api_tokens.create_token(actor=ben, name=f'kept {n}', scope='read', expires_in_days=30)
    from tests.conftest import PG_SCHEMA
    env = {**os.environ, 'PULSE_DATABASE_SCHEMA': '' if db.is_sqlite() else PG_SCHEMA}
    other = await asyncio.create_subprocess_exec(
        sys.executable, '-c', _OTHER_PROCESS, str(tmp_path), str(ben.id), env=env, stdout=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).parents[2]))
    while not (tmp_path / 'other-ready').exists():
        assert other.returncode is None
        await asyncio.sleep(0.02)
    hash_token = api_tokens.hash_token

    def counted(secret: str) -> str:  # blocks this process's loop: the other process goes on meanwhile
        (tmp_path / 'test-counted').touch()
        end = time.monotonic() + 1.5
        while not (tmp_path / 'other-counted').exists() and time.monotonic() < end:
            time.sleep(0.01)
        return hash_token(secret)
    monkeypatch.setattr(api_tokens, 'hash_token', counted)
    (tmp_path / 'go').touch()
    made, refused = await _at_once([api_tokens.create_token(actor=ben, name='this process', scope='read',
                                                            expires_in_days=30)])
    out, _ = await asyncio.wait_for(other.communicate(), 30)
    assert other.returncode == 0
    assert sorted([out.decode().strip(), 'made' if made else 'refused']) == ['made', 'refused']
    assert await _count(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == ben.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow())) == 20
    assert len(refused) == (0 if made else 1)


async def test_a_team_member_removed_twice_at_once_is_removed_once(people, monkeypatch) -> None:
    """Two agents remove the same team member at the same moment: on PostgreSQL both read the member, both deleted
    it (the second deleted nothing) and both wrote "removed … from the team" into the history and its news."""
    from pulse_live.errors import NotFound
    from pulse_live.models import EventKind, TicketEvent
    anna, ben, maria = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'maria@pulse.demo'))
    ticket = await make_ticket(people)
    member = await team.add_member(actor=anna, ticket_id=ticket.id, user_id=ben.id)
    _meet_before(monkeypatch, team, '_member_name')  # both removals read the member before either deletes it
    results = await asyncio.gather(team.remove_member(actor=anna, ticket_id=ticket.id, member_id=member.id),
                                   team.remove_member(actor=maria, ticket_id=ticket.id, member_id=member.id),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ['NoneType', NotFound.__name__]
    assert await _count(select(func.count()).select_from(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.TEAM_REMOVED)) == 1


async def test_one_handle_in_two_cases_invited_at_once_is_stored_once(people, monkeypatch) -> None:
    """Handles are unique without regard to case (@Racer and @racer would reach one mention), checked in a query;
    the column's own index tells case apart. On PostgreSQL two invitations at once both found the handle free and
    both were stored. Both read here before either writes."""
    from pulse_live.services import staff
    admin = people.users['admin@pulse.demo']
    _meet_before(monkeypatch, staff, '_queue_names')  # just before the handle's check
    made, refused = await _at_once(
        staff.invite(actor=admin, email=f'racer.{n}@pulse.demo', display_name=f'Racer {n}', role='agent', handle=handle)
        for n, handle in enumerate(('Racer', 'racer')))
    assert (len(made), len(refused)) == (1, 1) and 'is taken' in str(refused[0])
    assert await _count(select(func.count()).select_from(User).where(func.lower(User.handle) == 'racer')) == 1



async def test_one_address_invited_twice_at_once_is_one_account(people, monkeypatch) -> None:
    """The address is checked for a clash, then the account inserted. On PostgreSQL two invitations of one address
    at once both found it free, and the second failed on the column's unique index with a database error instead of
    "belongs to … already". Both read here before either writes."""
    from pulse_live.services import staff
    admin = people.users['admin@pulse.demo']
    _meet_before(monkeypatch, staff, '_still_admin')  # just before the address's check
    made, refused = await _at_once(
        staff.invite(actor=admin, email='twice@pulse.demo', display_name=f'Twice {n}', role='agent')
        for n in range(2))
    assert (len(made), len(refused)) == (1, 1) and 'belongs to' in str(refused[0])
    assert await _count(select(func.count()).select_from(User).where(User.email == 'twice@pulse.demo')) == 1


@pytest.fixture(autouse=True)
def _no_rate_limits():
    from pulse_live.rate_limit import get_limiter
    get_limiter().clear()



def _meet_at(monkeypatch, matches) -> None:
    """The first two statements ``matches`` picks (the check before a write) meet: each waits for the other to reach
    its own, or goes on after 0.5 s when the other is kept waiting (by a lock)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from pulse_live.sqlite_inline import SyncSessionOnLoop
    arrived, met = [0], asyncio.Event()
    for kind in (AsyncSession, SyncSessionOnLoop):
        execute = kind.execute

        async def meet(self, statement, *args, _execute=execute, **kwargs):
            if arrived[0] < 2 and matches(statement):
                arrived[0] += 1
                if arrived[0] == 2:
                    met.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(met.wait(), 0.5)
            return await _execute(self, statement, *args, **kwargs)
        monkeypatch.setattr(kind, 'execute', meet)


async def test_two_changes_for_one_recipient_at_once_open_one_batch_mail(people, monkeypatch) -> None:
    """A recipient's changes on one ticket are gathered into one open mail, looked for and opened if there is none;
    ``batch_key`` has no unique index. Two changes at once that do not take the same ticket row lock (a team change
    and a message, the missed-notification scan, an escalation notice) both found none on PostgreSQL and opened two
    mails instead of one combined. Both look for it here before either writes."""
    from pulse_live.models import MailOutbox, Ticket
    from pulse_live.notify import planner
    maria = people.users['maria@pulse.demo']  # no mail for the new ticket yet
    ticket = await make_ticket(people)
    before = await _count(select(func.count()).select_from(MailOutbox).where(MailOutbox.to_user_id == maria.id,
                                                                              MailOutbox.ticket_id == ticket.id))
    _meet_at(monkeypatch, lambda statement: statement is planner._ONE_OPEN_MAIL)  # the open mail's lookup

    async def change(n: int) -> None:
        async with db.write_lock(), db.session() as s, s.begin():
            user, stored = await s.get(User, maria.id), await s.get(Ticket, ticket.id)
            assert user is not None and stored is not None
            await planner.enqueue(s, user=user, ticket=stored, item={'text': f'change {n}', 'why': ['team']})
    await _at_once([change(1), change(2)])
    async with db.session() as s:
        mails = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == maria.id,
                                                                MailOutbox.ticket_id == ticket.id))).scalars())
    assert before == 0 and len(mails) == 1
    assert sorted(item['text'] for item in mails[0].items) == ['change 1', 'change 2']


async def test_one_article_linked_to_one_ticket_twice_at_once_is_one_link(people, monkeypatch) -> None:
    """Linking a ticket to an article twice is no error ("linked already"). The link was looked for, then added: on
    PostgreSQL two links at once both found none, and the second failed on the pair's unique constraint with a
    database error. Both look here before either writes."""
    from pulse_live.models import ArticleTicketLink
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    article = await kb.create_article(actor=anna, fields=kb.ArticleFields(title='Race article', body='Text'))
    _meet_at(monkeypatch, lambda statement: 'kb_article_tickets' in str(statement).lower()
             and str(statement).lstrip().upper().startswith('SELECT'))
    linked, refused = await _at_once(kb.link_ticket(actor=anna, article_id=article.id, ticket_id=ticket.id)
                                     for _ in range(2))
    assert sorted(linked) == [False, True] and not refused
    assert await _count(select(func.count()).select_from(ArticleTicketLink).where(
        ArticleTicketLink.article_id == article.id, ArticleTicketLink.ticket_id == ticket.id)) == 1



def _meet_before(monkeypatch, module, name: str) -> None:
    """Two requests meet before ``module.name`` (called just before the check), or go on after 0.5 s when the other
    is kept waiting (by a lock)."""
    arrived, met = [0], asyncio.Event()
    helper = getattr(module, name)

    async def meet(*args, **kwargs):
        arrived[0] += 1
        if arrived[0] == 2:
            met.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(met.wait(), 0.5)
        return await helper(*args, **kwargs)
    monkeypatch.setattr(module, name, meet)


def _both_check_first(monkeypatch, module, name: str) -> None:
    """Two requests meet after ``module.name`` (the check before a write) answered, or go on after 0.5 s when the
    other is kept waiting (by a lock)."""
    arrived, met = [0], asyncio.Event()
    helper = getattr(module, name)

    async def meet(*args, **kwargs):
        answer = await helper(*args, **kwargs)
        arrived[0] += 1
        if arrived[0] == 2:
            met.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(met.wait(), 0.5)
        return answer
    monkeypatch.setattr(module, name, meet)


async def test_queues_made_at_once_keep_names_apart_and_one_default(people, monkeypatch) -> None:
    """Queue names are unique without regard to case (checked in a query; the column's index tells case apart), and
    one queue is the default (the others are unset, then the new one stored). On PostgreSQL Support and support
    created at once were both stored, and two queues created as the default at once both stayed the default (neither
    unset the other's row, not committed yet). Both check here before either writes."""
    from pulse_live.models import Queue
    from pulse_live.services import queues
    admin = people.users['admin@pulse.demo']
    name_taken = queues._name_taken
    _both_check_first(monkeypatch, queues, '_name_taken')
    made, refused = await _at_once(queues.create_queue(actor=admin, name=name) for name in ('Support', 'support'))
    assert (len(made), len(refused)) == (1, 1) and 'exists already' in str(refused[0])
    assert await _count(select(func.count()).select_from(Queue).where(func.lower(Queue.name) == 'support')) == 1
    monkeypatch.setattr(queues, '_name_taken', name_taken)
    _both_check_first(monkeypatch, queues, '_name_taken')
    made, _ = await _at_once(queues.create_queue(actor=admin, name=name, is_default=True)
                             for name in ('Race A', 'Race B'))
    assert len(made) == 2
    assert await _count(select(func.count()).select_from(Queue).where(Queue.is_default.is_(True))) == 1


async def test_two_sla_policies_created_at_once_get_their_own_positions(people, monkeypatch) -> None:
    """A new policy goes last (the highest position + 1), and the first policy that matches a ticket applies. On
    PostgreSQL two policies created at once both read the same highest position and got the same one, and which of
    them applied was left to the database. Both check here before either writes."""
    from pulse_live.models import BusinessCalendar, SlaPolicy
    from pulse_live.services import sla_admin
    admin = people.users['admin@pulse.demo']
    async with db.session() as s:
        always = (await s.execute(select(BusinessCalendar.id).where(
            BusinessCalendar.name == sla_admin.ALWAYS_CALENDAR))).scalar_one()
    _both_check_first(monkeypatch, sla_admin, '_unique')
    made, _ = await _at_once(sla_admin.save_policy(actor=admin, name=f'Race {n}', calendar_id=always,
                                                   first_response_minutes=60, resolution_minutes=600)
                             for n in range(2))
    assert len(made) == 2
    async with db.session() as s:
        positions = list((await s.execute(select(SlaPolicy.position))).scalars())
    assert len(positions) == len(set(positions))
