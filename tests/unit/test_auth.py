"""Login and refusals (auth.py): failed-login throttling per account and per address, shared by every app process
(it lives in the database); every service's refusal is logged with who was refused."""
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from pulse_live import auth, db
from pulse_live.auth import GENERIC_LOGIN_ERROR, THROTTLED_LOGIN_ERROR, LoginThrottle
from pulse_live.config import get_settings
from pulse_live.errors import LoginRefused, PermissionDenied
from pulse_live.models import LoginFailure, utcnow
from pulse_live.services import ownership, prioritisation, rule_admin, team, tickets


async def _refused(email: str, password: str, address: str) -> str:
    with pytest.raises(LoginRefused) as caught:
        await auth.authenticate(email, password, address=address)
    return str(caught.value)


async def _burst(monkeypatch, attempts: list[tuple[str, str, str]]) -> tuple[list[object], list[str]]:
    """Fire the attempts at once (as parallel requests would), counting the passwords actually checked."""
    import asyncio
    checked: list[str] = []
    real_verify = auth.verify_password

    async def counting_verify(password: str, password_hash: str) -> bool:
        checked.append(password)
        return await real_verify(password, password_hash)
    monkeypatch.setattr(auth, 'verify_password', counting_verify)
    results = await asyncio.gather(*(auth.authenticate(e, p, address=a) for e, p, a in attempts),
                                   return_exceptions=True)
    return results, checked


async def test_account_is_blocked_after_too_many_failures_even_with_the_right_password(people):
    limit = get_settings().login_max_failures_per_account
    for i in range(limit):
        assert await _refused('ben@pulse.demo', 'nope', f'10.0.0.{i}') == GENERIC_LOGIN_ERROR
    assert await _refused('ben@pulse.demo', 'demo', '10.0.1.1') == THROTTLED_LOGIN_ERROR
    assert (await auth.authenticate('anna@pulse.demo', 'demo', address='10.0.1.1')).email == 'anna@pulse.demo'


async def test_address_is_blocked_across_accounts(people):
    limit = get_settings().login_max_failures_per_address
    for i in range(limit):
        await _refused(f'nobody{i}@pulse.demo', 'guess', '203.0.113.9')
    assert await _refused('anna@pulse.demo', 'demo', '203.0.113.9') == THROTTLED_LOGIN_ERROR
    assert (await auth.authenticate('anna@pulse.demo', 'demo', address='203.0.113.10')).id


async def test_a_second_process_sees_the_failures_of_the_first(people):
    first, second = LoginThrottle(), LoginThrottle()  # two app processes: nothing shared but the database
    limit = get_settings().login_max_failures_per_account
    for _ in range(limit):
        await first.record_failure('ben@pulse.demo', '10.0.0.1')
    assert await second.is_blocked('ben@pulse.demo', '10.0.0.2')
    assert not await second.is_blocked('anna@pulse.demo', '10.0.0.2')


async def test_failures_expire_after_the_window_and_are_pruned(people):
    limit = get_settings().login_max_failures_per_account
    for _ in range(limit):
        await _refused('ben@pulse.demo', 'nope', '10.0.0.1')
    window = get_settings().login_throttle_window_s
    async with db.session() as s, s.begin():  # the window passes
        await s.execute(update(LoginFailure).values(at=utcnow() - timedelta(seconds=window + 1)))
    assert (await auth.authenticate('ben@pulse.demo', 'demo', address='10.0.0.1')).email == 'ben@pulse.demo'
    await _refused('daniel@pulse.demo', 'nope', '10.0.0.3')  # a new failure prunes the expired rows
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(LoginFailure))).scalar_one() == 2


async def test_success_clears_the_accounts_failures(people):
    for _ in range(get_settings().login_max_failures_per_account - 1):
        await _refused('ben@pulse.demo', 'nope', '10.0.0.1')
    await auth.authenticate('ben@pulse.demo', 'demo', address='10.0.0.1')
    await _refused('ben@pulse.demo', 'nope', '10.0.0.1')
    assert not await auth.throttle.is_blocked('ben@pulse.demo', '10.0.0.1')
    async with db.session() as s:  # only the failure after the success still counts for the account
        keys = list((await s.execute(select(LoginFailure.key))).scalars())
    assert sorted(keys).count('acct:ben@pulse.demo') == 1
    assert (await auth.authenticate('ben@pulse.demo', 'demo', address='10.0.0.1')).email == 'ben@pulse.demo'


async def test_overlong_input_is_counted_not_crashing(people):
    email = 'x' * 2000 + '@example.com'
    assert await _refused(email, 'nope', 'y' * 2000) == GENERIC_LOGIN_ERROR


async def test_a_burst_of_parallel_guesses_gets_no_more_checks_than_the_limit(people, monkeypatch):
    """30 wrong passwords for one account fired at once: only the budget is checked, the rest are refused unchecked,
    and exactly the checked ones are stored as failures."""
    limit = get_settings().login_max_failures_per_account
    attempts = [('ben@pulse.demo', f'guess-{i}', f'198.51.100.{i}') for i in range(30)]
    results, checked = await _burst(monkeypatch, attempts)
    assert len(checked) <= limit, f'{len(checked)} passwords checked with a budget of {limit}'
    refused = [str(r) for r in results if isinstance(r, LoginRefused)]
    assert len(refused) == len(attempts) and refused.count(THROTTLED_LOGIN_ERROR) >= len(attempts) - limit
    async with db.session() as s:  # the failures stored are the checked wrong ones, no more
        stored = (await s.execute(select(func.count()).select_from(LoginFailure)
                                  .where(LoginFailure.key == 'acct:ben@pulse.demo'))).scalar_one()
    assert stored == len(checked)


async def test_the_right_password_inside_a_burst_of_guesses(people, monkeypatch):
    """The owner logs in while 29 guesses arrive at once. Checked in time, the right password gets in, and its
    success forgets the failures before it (as a success after failures one by one does), so the guesses after it
    have a new budget: at most the budget before it (less its own slot) and one after are checked. After the budget is spent it is refused unchecked
    like the guesses. Either way no guess gets in."""
    limit = get_settings().login_max_failures_per_account
    attempts = [('ben@pulse.demo', f'guess-{i}', f'198.51.100.{i}') for i in range(29)]
    attempts.insert(20, ('ben@pulse.demo', 'demo', '198.51.100.200'))
    results, checked = await _burst(monkeypatch, attempts)
    wrong = [p for p in checked if p != 'demo']
    right = results[20]
    if 'demo' in checked:
        assert getattr(right, 'email', None) == 'ben@pulse.demo'
        assert len(wrong) <= 2 * limit - 1, f'{len(wrong)} guesses checked around one success, budget {limit}'
    else:  # the budget was spent before it: refused unchecked
        assert str(right) == THROTTLED_LOGIN_ERROR and len(wrong) <= limit
    assert all(isinstance(r, LoginRefused) for i, r in enumerate(results) if i != 20)


async def test_a_burst_from_one_address_over_many_accounts_is_bounded_by_the_address_budget(people, monkeypatch):
    limit = get_settings().login_max_failures_per_address
    attempts = [(f'nobody{i}@pulse.demo', 'guess', '203.0.113.77') for i in range(limit + 15)]
    results, checked = await _burst(monkeypatch, attempts)
    assert len(checked) == limit
    assert [str(r) for r in results].count(THROTTLED_LOGIN_ERROR) == 15


async def test_a_right_password_in_a_small_burst_logs_in_and_leaves_no_failure_for_itself(people, monkeypatch):
    attempts = [('ben@pulse.demo', 'nope', '10.0.0.1'), ('ben@pulse.demo', 'demo', '10.0.0.2'),
                ('anna@pulse.demo', 'demo', '10.0.0.3')]
    results, checked = await _burst(monkeypatch, attempts)
    assert [getattr(r, 'email', None) for r in results] == [None, 'ben@pulse.demo', 'anna@pulse.demo']
    async with db.session() as s:
        keys = sorted((await s.execute(select(LoginFailure.key))).scalars())
    assert 'acct:anna@pulse.demo' not in keys and 'addr:10.0.0.3' not in keys


async def test_an_address_with_an_international_domain_logs_in_as_typed(people):
    from pulse_live.services import customers
    anna = people.users['anna@pulse.demo']
    joerg = await customers.save_customer(actor=anna, email='joerg@bücher.example', display_name='Jörg',
                                          organisation_id=people.orgs['acme'], password='demo-pass')
    assert joerg.email == 'joerg@xn--bcher-kva.example'
    assert (await auth.authenticate(' Joerg@Bücher.example ', 'demo-pass', address='10.0.0.9')).id == joerg.id


async def test_refusals_of_every_service_are_logged_with_who_was_refused(people, caplog):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer', customer_id=carl.id)
    refusals = [
        lambda: ownership.take_ticket(actor=carl, ticket_id=ticket.id),
        lambda: team.add_member(actor=carl, ticket_id=ticket.id, user_id=anna.id),
        lambda: prioritisation.set_assessment(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                              impact='high'),
        lambda: rule_admin.create_priority_rule(actor=anna, kind='keyword', match='printer', raise_by=1),
        lambda: tickets.update_ticket(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                      changes={'priority_id': ticket.priority_id}),
    ]
    for refuse in refusals:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='pulse_live.security'), pytest.raises(PermissionDenied):
            await refuse()
        assert [r.getMessage().startswith('refused: user ') for r in caplog.records] == [True]
