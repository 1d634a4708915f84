"""Presence merges this process's tabs with the shares other processes publish on the bus; typing marks reach the
other views once per burst of typing, not once per keystroke; which tab views what."""
import pytest

from pulse_live import presence
from pulse_live.bus import MemoryBus, set_bus
from pulse_live.events import PresenceChanged


@pytest.fixture(autouse=True)
def _fresh(fresh_presence):
    set_bus(MemoryBus())
    yield


async def test_local_viewers_typing_and_leaving():
    await presence.join(1, client_id='a', user_id=10, name='Anna', is_staff=True)
    await presence.join(1, client_id='a2', user_id=10, name='Anna', is_staff=True)  # second tab, same person
    await presence.join(1, client_id='b', user_id=11, name='Ben', is_staff=True)
    await presence.typing(1, client_id='b')
    snap = presence.snapshot(1)
    assert sorted(v['name'] for v in snap['viewers']) == ['Anna', 'Ben']
    assert snap['typing'] == [{'user_id': 11, 'name': 'Ben'}]
    await presence.stopped_typing(1, client_id='b')
    await presence.leave(1, client_id='b')
    assert [v['name'] for v in presence.snapshot(1)['viewers']] == ['Anna']


async def test_shares_from_other_processes_are_merged_and_expire(monkeypatch):
    await presence.join(7, client_id='a', user_id=10, name='Anna', is_staff=True)
    remote = PresenceChanged(ticket_id=7, data={'origin': 'other-process', 'viewers': [
        {'user_id': 11, 'name': 'Ben', 'is_staff': True}], 'typing': [{'user_id': 11, 'name': 'Ben'}]})
    await presence.on_bus_event(remote)
    snap = presence.snapshot(7)
    assert sorted(v['name'] for v in snap['viewers']) == ['Anna', 'Ben']
    assert snap['typing'] == [{'user_id': 11, 'name': 'Ben'}]
    await presence.on_bus_event(PresenceChanged(ticket_id=None, data={'origin': 'other-process', 'online': [11]}))
    assert presence.is_online(11) and not presence.is_online(99)
    # a process that stops sending heartbeats is forgotten
    now = presence.time.monotonic()
    monkeypatch.setattr(presence.time, 'monotonic', lambda: now + presence.REMOTE_TTL_S + 1)
    assert [v['name'] for v in presence.snapshot(7)['viewers']] == ['Anna']
    assert not presence.is_online(11)


async def test_own_shares_coming_back_from_redis_are_ignored():
    await presence.on_bus_event(PresenceChanged(ticket_id=3, data={'origin': presence.ORIGIN, 'viewers': [
        {'user_id': 1, 'name': 'Ghost', 'is_staff': True}], 'typing': []}))
    assert presence.snapshot(3)['viewers'] == []
    await presence.on_bus_event(PresenceChanged(ticket_id=3, data={'origin': 'other-process', 'viewers': [
        {'user_id': 1, 'name': 'Ghost', 'is_staff': True}], 'typing': []}))
    assert [v['name'] for v in presence.snapshot(3)['viewers']] == ['Ghost']  # the same share from elsewhere counts


def test_online_tabs_count_per_user():
    presence.connected(5, 'tab1')
    presence.connected(5, 'tab2')
    presence.disconnected(5, 'tab1')
    assert presence.is_online(5)
    presence.disconnected(5, 'tab2')
    assert not presence.is_online(5)


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


async def test_a_post_ends_the_typing_mark_at_once_and_says_so_after_its_entry(published, monkeypatch):
    """The pages showing the mark clear it with the message's entry (components/presence_bar.posted): presence's
    own word, sent at once, overtook the entry — a second change in every viewer's browser for each message."""
    import asyncio
    monkeypatch.setattr(presence, 'POSTED_SAY_S', 0.2)
    await presence.join(1, client_id='a', user_id=10, name='Anna', is_staff=True)
    await presence.typing(1, client_id='a')
    published.clear()
    await presence.stopped_typing(1, client_id='a', posted=True)
    assert presence.snapshot(1)['typing'] == []  # over here at once …
    assert published == []  # … said later
    await asyncio.sleep(0.35)
    assert [e.data['typing'] for e in published] == [[]]
    await presence.typing(1, client_id='a')  # typing the next one is news again
    assert published[-1].data['typing'] == [{'user_id': 10, 'name': 'Anna'}]
