from nicegui.testing import User

from pulse_live.auth import GENERIC_LOGIN_ERROR, THROTTLED_LOGIN_ERROR
from tests.ui.conftest import login


async def test_agent_logs_in_and_sees_ticket_list(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.should_see('Tickets')
    await user.should_see('Anna Keller')


async def test_wrong_password_and_unknown_user_get_the_same_answer(user: User, people) -> None:
    await login(user, 'anna@pulse.demo', 'wrong', expect=GENERIC_LOGIN_ERROR)
    await login(user, 'nobody@pulse.demo', 'wrong', expect=GENERIC_LOGIN_ERROR)
    await user.should_not_see('Log out')


async def test_repeated_failures_are_throttled(user: User, people) -> None:
    for _ in range(5):
        await login(user, 'ben@pulse.demo', 'nope', expect=GENERIC_LOGIN_ERROR)
    await login(user, 'ben@pulse.demo', 'demo', expect=THROTTLED_LOGIN_ERROR)  # even the right one, for a while
    await user.should_not_see('Log out')


async def test_pages_require_login(user: User, people) -> None:
    await user.open('/tickets')
    await user.should_see('Log in')
    await user.should_not_see('New ticket')


async def test_customer_never_reaches_agent_pages(user: User, people) -> None:
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open('/tickets')
    await user.should_see('My requests')
    await user.should_not_see('Search reference or title')
    await user.open('/tickets/new')
    await user.should_not_see('Create ticket')


async def test_logout(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.should_see('Log out')
    user.find('Log out').click()
    await user.should_see('Log in')
    await user.open('/tickets')
    await user.should_see('Log in')


async def test_a_failure_on_our_side_is_said_not_swallowed(user: User, people, monkeypatch, caplog) -> None:
    from pulse_live import auth

    async def broken(*args, **kwargs):
        raise RuntimeError('database went away')
    monkeypatch.setattr(auth, 'authenticate', broken)
    await login(user, 'anna@pulse.demo', expect='Logging in failed on our side')
    await user.should_not_see('Log out')
    assert any('login failed unexpectedly' in r.getMessage() for r in caplog.records)  # logged for the admin
    caplog.clear()  # expected here; any other ERROR log still fails a test
