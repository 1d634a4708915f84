"""What managers hear is theirs to choose on /profile; agents are not offered the choice (the rule decides)."""
from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User

from pulse_live import db
from pulse_live.models import User as Account
from tests.ui.conftest import login


async def _scope(user_id: int) -> str:
    async with db.session() as s:
        return (await s.get(Account, user_id)).notify_scope


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
