"""Forgot password → link → new password → log in; and staff sending a customer the link."""
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import MailOutbox
from pulse_live.services import accounts
from tests.ui.conftest import login


async def _link_token(to: str) -> str:
    await accounts.settle_link_mails()  # written after the form's answer
    async with db.session() as s:
        row = (await s.execute(select(MailOutbox).where(MailOutbox.to_addr == to, MailOutbox.kind == 'account')
                               .order_by(MailOutbox.id.desc()))).scalars().first()
    assert row is not None, f'no password link mail for {to}'
    return row.body_text.split('/password/reset?token=')[1].split()[0]


async def test_forgot_password_then_log_in_with_the_new_one(user: User, people) -> None:
    await user.open('/login')
    user.find(marker='forgot-link').click()
    await user.should_see('Enter the e-mail address of your account')
    user.find('Email').type('carl@acme.demo')
    user.find(marker='send-link').click()
    await user.should_see('If an account exists for that address')

    await user.open(f'/password/reset?token={await _link_token("carl@acme.demo")}')
    await user.should_see('For carl@acme.demo')
    user.find('New password').type('portal-2026!')
    user.find('Repeat the password').type('portal-2026?')
    user.find(marker='save-password').click()
    await user.should_see('The two passwords differ.')
    user.find('Repeat the password').clear().type('portal-2026!')
    user.find(marker='save-password').click()
    await user.should_see(marker='password-changed')
    await login(user, 'carl@acme.demo', 'portal-2026!', expect='My requests')


async def test_unknown_address_looks_the_same(user: User, people) -> None:
    await user.open('/password/forgot')
    user.find('Email').type('nobody@example.org')
    user.find(marker='send-link').click()
    await user.should_see('If an account exists for that address')


async def test_a_used_or_forged_link_says_so(user: User, people) -> None:
    await user.open('/password/reset?token=forged.token')
    await user.should_see(marker='link-invalid')
    await user.should_see('Ask for a new link')
    await user.should_not_see('New password')


async def test_agent_sends_a_customer_the_link_from_the_profile(user: User, people) -> None:
    carl = people.users['carl@acme.demo']
    await login(user, 'anna@pulse.demo')
    await user.open(f'/customers/{carl.id}')
    user.find(marker='send-password-link').click()
    await user.should_see('is on its way to carl@acme.demo')
    assert (await accounts.user_for_token(await _link_token('carl@acme.demo'))).id == carl.id


async def test_a_new_password_signs_out_the_other_sessions(create_user, people) -> None:
    thief, owner = create_user(), create_user()
    await login(thief, 'carl@acme.demo', expect='My requests')  # somebody who knew the old password
    await thief.open('/portal')
    await thief.should_see('My requests')

    token = accounts.make_token(people.users['carl@acme.demo'])
    await owner.open(f'/password/reset?token={token}')
    owner.find('New password').type('only-mine-now')
    owner.find('Repeat the password').type('only-mine-now')
    owner.find(marker='save-password').click()
    await owner.should_see(marker='password-changed')

    await thief.open('/portal')  # the old session is over
    await thief.should_see('Log in')
    await thief.should_not_see('My requests')
    await login(owner, 'carl@acme.demo', 'only-mine-now', expect='My requests')


async def test_log_in_takes_what_the_browser_had_typed_when_it_was_pressed(user: User, people) -> None:
    """A click sent before the page's socket connected could reach the server before the values typed meanwhile
    (NiceGUI retries each early event on its own): the login said "not correct" with the right password. The button
    and Enter send the two fields' values with the event; the server's copies of the fields do not matter then."""
    await user.open('/login')
    assert user.find('Email').elements.pop().value == ''  # nothing has arrived of what was typed
    button = user.find('Log in').elements.pop()
    listener = next(lst for lst in button._event_listeners.values() if lst.type == 'click')
    assert 'emit(' in (listener.js_handler or '')  # the browser reads the fields at the click
    user.find('Log in').trigger('click', ['anna@pulse.demo', 'demo'])
    await user.should_see('Log out', retries=300)


async def test_log_in_with_something_else_than_text_in_the_event_uses_the_fields(user: User, people) -> None:
    await user.open('/login')
    user.find('Email').type('anna@pulse.demo')
    user.find('Password').type('demo')
    user.find('Log in').trigger('click', [{'x': 1}, None])  # not two texts: the fields' own values count
    await user.should_see('Log out', retries=300)
