"""The notification preferences on /profile: saved as given, bad values refused with a message, nothing changed;
what managers hear is theirs to choose, agents are not offered the choice (the rule decides)."""
import asyncio
from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User

from pulse_live import db
from pulse_live.models import User as Account
from tests.ui.conftest import login


async def _stored(user_id: int) -> tuple[bool, int]:
    async with db.session() as s:
        account = await s.get(Account, user_id)
        return account.email_notifications, account.notify_delay_s


async def _scope(user_id: int) -> str:
    async with db.session() as s:
        return (await s.get(Account, user_id)).notify_scope


async def test_preferences_saved_and_bad_delays_refused(user: User, people) -> None:
    ben = people.users['ben@pulse.demo']
    assert await _stored(ben.id) == (True, 300)  # the documented defaults: mail on, 5 minutes
    await login(user, 'ben@pulse.demo')
    await user.open('/profile')
    delay = user.find(marker='pref-delay').elements.pop()
    assert isinstance(delay, ui.number)
    user.find(marker='pref-email').click()  # e-mail off
    delay.value = 2.5
    user.find('Save preferences').click()
    await user.should_see('Preferences saved')
    assert await _stored(ben.id) == (False, 150)

    for bad, message in ((-5, 'between 0 seconds and 7 days'), (100_000, 'between 0 seconds and 7 days'),
                         (None, 'Enter the delay in minutes')):
        delay.value = bad
        user.find('Save preferences').click()
        await user.should_see(message)
        assert await _stored(ben.id) == (False, 150)


async def test_manager_chooses_what_she_hears_agent_is_not_asked(create_user: Callable[[], User], people) -> None:
    maria = people.users['maria@pulse.demo']
    assert await _scope(maria.id) == 'mine'  # the default: only the tickets she is on
    manager, agent = create_user(), create_user()
    await login(manager, 'maria@pulse.demo')
    await manager.open('/profile')
    await manager.should_see('What I hear about')
    choice = manager.find(marker='pref-scope').elements.pop()
    assert isinstance(choice, ui.radio)
    assert set(choice.options) == {'mine', 'queues', 'all'}
    choice.value = 'queues'
    manager.find('Save preferences').click()
    await manager.should_see('Preferences saved')
    assert await _scope(maria.id) == 'queues'

    await login(agent, 'ben@pulse.demo')
    await agent.open('/profile')
    await agent.should_see('Save preferences')
    await agent.should_not_see('What I hear about')
    await agent.should_not_see(marker='pref-scope')


async def test_repeated_revoke_clicks_build_one_dialog(user: User, people) -> None:
    """Each click on a token's Revoke built a dialog that stayed on the page (+22 MB a 500 clicks, customers too)."""
    from nicegui import ui as nicegui_ui

    from pulse_live.services import api_tokens
    from tests.ui.conftest import until
    await api_tokens.create_token(actor=people.users['anna@pulse.demo'], name='ci', scope='read', expires_in_days=30)
    await login(user, 'anna@pulse.demo')
    await user.open('/profile')
    await user.should_see(marker='token-revoke')

    def dialogs() -> list:
        return [e for e in user.client.elements.values() if isinstance(e, nicegui_ui.dialog)]
    for _ in range(5):
        user.find(marker='token-revoke').click()
    await user.should_see(marker='token-revoke-confirm')
    await asyncio.sleep(0.2)
    assert len(dialogs()) == 1
    [dialog] = dialogs()
    dialog.submit(False)  # Cancel: nothing revoked, the dialog goes
    await until(lambda: not dialogs())
