"""A closed tab gives everything back: once NiceGUI deletes its client (``reconnect_timeout`` after the tab closed),
nothing in the process keeps the page alive: no client, no subscription, no presence entry, no tab storage, and no
cache holding its element tree (FastAPI's endpoint caches kept every ``ui.upload`` route's closure, and through it
the whole ticket page). Memory figures are in benchmarks/soak.py; this guards the cause."""
from __future__ import annotations

import asyncio
import gc
import weakref

from nicegui import Client, app
from nicegui.testing import User

from components import live
from pulse_live import presence
from pulse_live.queries import shared
from pulse_live.services import tickets
from tests.ui.conftest import login, until

EVENTS = ('ticket_changed', 'presence_changed')


def _state() -> dict:
    return {'clients': len(Client.instances),
            'subscriptions': {name: len(getattr(live, name).callbacks) for name in EVENTS},
            'bells': {user_id: (len(created.callbacks), len(read.callbacks))
                      for user_id, (created, read) in live._user_events.items()},
            'viewers': sum(len(v) for v in presence._viewers.values()),
            'online_tabs': sum(len(v) for v in presence._online.values()),
            'shared_reads': len(shared._inflight),
            'tab_storage': len(app.storage._tabs)}


async def _close(client: Client) -> None:
    """What NiceGUI does when a tab's socket is gone for good: delete the client."""
    client.delete()
    await _settle()


async def _settle() -> None:
    for _ in range(3):  # the release runs right after the deletion (call_soon)
        await asyncio.sleep(0)
    gc.collect()


async def _still_alive(pages: list[tuple[str, weakref.ref]], seconds: float = 5.0) -> list[str]:
    """The pages still in memory after ``seconds`` (a page's own background reads may finish after it closed)."""
    for _ in range(int(seconds * 10)):
        gc.collect()
        alive = [name for name, ref in pages if ref() is not None]
        if not alive:
            return []
        await asyncio.sleep(0.1)
    return alive


async def test_closed_ticket_pages_leave_nothing_behind(user: User, people) -> None:
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    refs = [(await tickets.create_ticket(actor=anna, title=f'Printer {i} is down', customer_id=carl.id)).reference
            for i in range(3)]
    await login(user, 'anna@pulse.demo')
    await user.open('/profile')  # a page of its own, open all along (the login page's client is closed)
    await _settle()
    start = _state()
    pages: list[weakref.ref] = []
    for ref in refs * 2:
        client = await user.open(f'/tickets/{ref}')
        await user.should_see(marker='composer')
        pages.append(weakref.ref(client))
        # the tab counts as viewing once its socket connected (the join runs from the connect handler)
        await until(lambda: _state()['viewers'] == start['viewers'] + 1)
        during = _state()
        assert during['viewers'] == start['viewers'] + 1
        assert during['clients'] == start['clients'] + 1
        await _close(client)
        del client
    user.client = None  # the simulated browser's own reference to the last page
    await _settle()
    assert _state() == start
    alive = await _still_alive([(f'ticket page {i}', ref) for i, ref in enumerate(pages)])
    assert not alive, f'closed ticket pages still in memory: {alive}'


async def test_closed_list_and_portal_pages_leave_nothing_behind(create_user, people) -> None:
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Scanner sends to wrong folder', customer_id=carl.id)
    agent, customer = create_user(), create_user()
    await login(agent, 'anna@pulse.demo')
    await login(customer, 'carl@acme.demo', expect='My requests')
    await _settle()
    start = _state()
    pages: list[weakref.ref] = []
    for visitor, path, marker in ((agent, '/tickets', 'work-list'), (agent, '/queues', 'work-list'),
                                  (agent, '/my', 'work-list'),
                                  (customer, f'/portal/requests/{ticket.reference}', None)):
        client = await visitor.open(path)
        if marker:
            await visitor.should_see(marker=marker)
        else:
            await visitor.should_see(ticket.reference)
        pages.append((path, weakref.ref(client)))
        visitor.client = None
        await _close(client)
        del client
    await _settle()
    after = _state()
    # the two login pages were closed by their logins' navigation only in a real browser: count only the rest
    assert after['subscriptions'] == start['subscriptions']
    assert after['viewers'] == start['viewers']
    assert after['shared_reads'] == 0
    assert after['clients'] == start['clients']
    alive = await _still_alive(pages)
    assert not alive, f'closed pages still in memory: {alive}'


async def test_the_cycle_collector_runs_less_often_and_a_closed_page_is_still_collected(user: User, people) -> None:
    """``housekeeping.tune_gc`` (app start-up): CPython's default thresholds ran a full collection every few seconds
    under load (benchmarks/desk_load.py); with the raised ones a closed ticket page is still collected."""
    from components import housekeeping
    assert gc.get_threshold() == housekeeping.GC_THRESHOLDS
    ticket = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Collected at last')
    await login(user, 'anna@pulse.demo')
    client = await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='composer')
    page = weakref.ref(client)
    user.client = None
    await _close(client)
    del client
    assert not await _still_alive([('ticket page', page)])


async def test_a_closed_page_in_the_oldest_generation_is_collected_without_anyone_calling_the_collector(
        user: User, people, monkeypatch) -> None:
    """With the raised thresholds a full collection may not come for hours: a page that reached the oldest generation
    would stay in memory after it closed. Its deletion schedules one (rate-limited) full collection."""
    from components import housekeeping
    assert housekeeping._state['tuned']  # noqa: SLF001
    pending = housekeeping._state['trim']  # noqa: SLF001  (earlier tests' deletions: a step already planned)
    if pending is not None:
        pending.cancel()
    housekeeping._state['trim'] = None  # noqa: SLF001
    monkeypatch.setitem(housekeeping._state, 'collected_at', None)  # noqa: SLF001  (none for a minute: one is due)
    ticket = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Old page')
    await login(user, 'anna@pulse.demo')
    client = await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='composer')
    page = weakref.ref(client)
    gc.collect()  # everything alive now sits in the oldest generation, as a page open for a while does
    gc.disable()  # and no collection happens by itself from here on (as with the raised thresholds)
    try:
        user.client = None
        client.delete()
        del client
        for _ in range(50):
            await asyncio.sleep(0.1)
            if page() is None:
                break
        assert page() is None, 'the closed page is still in memory'
        before = housekeeping._state['collections']  # noqa: SLF001
        other = await user.open(f'/tickets/{ticket.reference}')  # a second deletion within the minute
        await user.should_see(marker='composer')
        user.client = None
        other.delete()
        del other
        await asyncio.sleep(0.3)
        assert housekeeping._state['collections'] == before  # rate-limited: not another full collection yet
        assert housekeeping._state['trim'] is not None  # noqa: SLF001  (it is scheduled for when one is due)
    finally:
        gc.enable()


async def test_a_page_upload_is_served_by_the_one_upload_route_and_goes_with_its_page(user: User, people) -> None:
    """``housekeeping.install_light_upload_routes``: the composer's upload adds no route per page (no FastAPI route
    analysis, no regular expression compiled, no longer route list for every request) and its address stops answering
    when the page goes (its answers are checked with real uploads in tests/e2e/test_attacks.py)."""
    from nicegui import ui

    from components import housekeeping
    ticket = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Upload route')
    await login(user, 'anna@pulse.demo')
    routes_before = len(app.routes)
    client = await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='composer')
    (upload,) = user.find(kind=ui.upload).elements
    path = upload.props['url']
    assert not [r for r in app.routes if getattr(r, 'path', None) == path]  # no route of its own
    assert [r for r in app.routes if getattr(r, 'path', None) == housekeeping.UPLOAD_PATH]
    assert path in housekeeping._uploads  # noqa: SLF001
    second = await user.open(f'/tickets/{ticket.reference}')  # another page: still no route more
    assert len(app.routes) <= routes_before + 1
    user.client = None
    await _close(client)
    await _close(second)
    assert path not in housekeeping._uploads  # noqa: SLF001
    gone = await user.http_client.post(path, files={'file': ('a.txt', b'x')})
    assert gone.status_code in (403, 404) and b'x' not in gone.content


def test_a_full_collection_waits_for_closed_pages_in_proportion_to_the_open_ones(monkeypatch) -> None:
    """A full collection walks every open page (~3 s with 1,000 open ticket pages, a stall of every page): a few
    closed tabs among many open ones do not start one; a quarter of them does."""
    from components import housekeeping
    monkeypatch.setitem(housekeeping._state, 'closed', 0)  # noqa: SLF001
    assert not housekeeping.worth_collecting(open_pages=1000)
    monkeypatch.setitem(housekeeping._state, 'closed', 5)  # noqa: SLF001
    assert not housekeeping.worth_collecting(open_pages=1000)
    assert housekeeping.worth_collecting(open_pages=10)
    monkeypatch.setitem(housekeeping._state, 'closed', 250)  # noqa: SLF001
    assert housekeeping.worth_collecting(open_pages=1000)
    monkeypatch.setitem(housekeeping._state, 'closed', 1)  # noqa: SLF001
    assert housekeeping.worth_collecting(open_pages=0)  # the last page closed: its memory goes back
