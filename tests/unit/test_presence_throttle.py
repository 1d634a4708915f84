"""Typing marks reach the other views once per burst of typing, not once per keystroke; which tab views what."""
import pytest

from pulse_live import presence
from pulse_live.bus import MemoryBus, set_bus
from pulse_live.events import PresenceChanged


@pytest.fixture(autouse=True)
def _fresh(fresh_presence):
    yield


@pytest.fixture
def published() -> list[PresenceChanged]:
    bus = MemoryBus()
    set_bus(bus)
    seen: list[PresenceChanged] = []

    async def keep(event) -> None:
        if isinstance(event, PresenceChanged) and event.ticket_id is not None:
            seen.append(event)
    bus.subscribe(keep)
    return seen


async def test_every_keystroke_is_one_typing_mark_for_the_others(published, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(presence.time, 'monotonic', lambda: now[0])
    await presence.join(1, client_id='a', user_id=10, name='Anna', is_staff=True)
    published.clear()
    for _ in range(40):  # a message typed at ~8 keys a second
        await presence.typing(1, client_id='a')
        now[0] += 0.12
    assert len(published) == 1 and published[0].data['typing'] == [{'user_id': 10, 'name': 'Anna'}]
    await presence.stopped_typing(1, client_id='a')  # sent
    await presence.stopped_typing(1, client_id='a')  # nothing more to say
    assert len(published) == 2 and published[1].data['typing'] == []
    now[0] += presence.TYPING_TTL_S + 1  # typing again after a pause is news again
    await presence.typing(1, client_id='a')
    assert len(published) == 3


def test_viewed_in_names_the_tab_not_the_user():
    presence._viewers[5] = {'tab-1': presence.Viewer('tab-1', 10, 'Anna', True)}
    assert presence.viewed_in(5, 'tab-1')
    assert not presence.viewed_in(5, 'tab-2')  # Anna's other tab
    assert not presence.viewed_in(6, 'tab-1')
