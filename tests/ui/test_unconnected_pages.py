"""Pages whose socket never connects (a prefetch, a link preview, a script, a flood of page loads): they do no live
work before their socket connects, and they are dropped after ``page_connect_within_s`` or beyond
``max_unconnected_pages`` / ``max_pages_per_user`` (components/housekeeping.sweep_unconnected). Before, NiceGUI kept
each for 60–70 s, every change of its ticket cost it a read and a render, and 2,000 anonymous GETs of /login held
+140 MB for that minute."""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from nicegui import Client, ui
from nicegui.testing import User

from components import housekeeping
from pulse_live.config import get_settings
from pulse_live.services import chatter
from tests.factories import make_ticket
from tests.ui.conftest import count_chatter_reads, login, open_ticket


async def _page_without_socket(user: User, path: str) -> Client:
    """The page a plain GET builds (with the user's session), as a script or a prefetch leaves it: never connected."""
    response = await user.http_client.get(path)
    assert response.status_code == 200
    client_id = re.search(r"'client_id': '([0-9a-f-]+)'", response.text).group(1)
    client = Client.instances[client_id]
    assert housekeeping.never_connected(client)
    return client


async def test_a_page_not_yet_connected_reads_nothing_then_shows_what_changed_once_connected(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    anna_row, ben_row = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await make_ticket(people)
    ben = create_user()
    await login(ben, 'ben@pulse.demo')
    page = await _page_without_socket(ben, f'/tickets/{ticket.reference}')
    reads = count_chatter_reads(monkeypatch)
    for i in range(3):
        await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body=f'before the socket {i}')
    await asyncio.sleep(0.3)
    assert ben_row.id not in reads, 'a page nobody has connected to re-read the chatter'

    # the browser's socket connects: the page shows what changed since it was built
    await page.handle_handshake('test-socket', 'test-tab', None, 'test-document', None)
    ben.client = page  # what ben's checks look at from here
    await ben.should_see(kind=ui.html, content='before the socket 2')
    texts = [e.content for e in ben.find(kind=ui.html).elements if 'before the socket' in str(e.content)]
    assert sum('before the socket 0' in t for t in texts) == 1  # each entry once


async def test_pages_that_never_connect_are_dropped_in_time_and_beyond_the_bounds(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', (await make_ticket(people)).reference)  # connected: never dropped
    anonymous = create_user()
    waiting = [await _page_without_socket(anonymous, '/login') for _ in range(3)]
    within = get_settings().page_connect_within_s
    assert housekeeping.sweep_unconnected(now=time.time()) == 0  # young pages wait for their browser
    assert housekeeping.sweep_unconnected(now=time.time() + within + 1) == 3
    assert all(c.is_deleted and c.id not in Client.instances for c in waiting)
    assert not ben.client.is_deleted

    # a flood: beyond the bound, the oldest go first, even young
    monkeypatch.setattr(get_settings(), 'max_unconnected_pages', 4)
    flood = [await _page_without_socket(anonymous, '/login') for _ in range(6)]
    assert housekeeping.sweep_unconnected() == 2
    assert [c.is_deleted for c in flood] == [True, True, False, False, False, False]

    # one person's pages waiting for their sockets: at most max_pages_per_user
    monkeypatch.setattr(get_settings(), 'max_pages_per_user', 2)
    own = [await _page_without_socket(ben, '/tickets') for _ in range(3)]
    assert housekeeping.sweep_unconnected() >= 1
    assert [c.is_deleted for c in own] == [True, False, False]
    assert not ben.client.is_deleted  # the connected page is no page waiting


async def test_the_sweep_runs_by_itself(create_user: Callable[[], User], people, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), 'page_connect_within_s', 0.5)
    anonymous = create_user()
    await anonymous.open('/login')  # the app runs
    page = await _page_without_socket(anonymous, '/login')
    async with asyncio.timeout(10):
        while not page.is_deleted:
            await asyncio.sleep(0.1)
    assert not anonymous.client.is_deleted


async def test_a_list_not_yet_connected_reads_nothing_then_shows_what_changed_once_connected(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    from pulse_live.queries import queues
    from pulse_live.services import tickets as ticket_service
    anna_row = people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    ben = create_user()
    await login(ben, 'ben@pulse.demo')
    for client in list(Client.instances.values()):
        client.delete()  # the list the login led to (the simulated browser keeps every page it opened connected)
    page = await _page_without_socket(ben, '/tickets')
    reads: list[str] = []
    open_tickets = queues.open_tickets

    async def counted(*args, **kwargs):
        reads.append('read')
        return await open_tickets(*args, **kwargs)
    monkeypatch.setattr(queues, 'open_tickets', counted)
    await ticket_service.update_ticket(actor=anna_row, ticket_id=ticket.id, expected_version=ticket.version,
                                       changes={'title': 'Badge reader at the back door is down'})
    await asyncio.sleep(1.0)  # the list's debounce has passed
    assert reads == [], 'a list nobody has connected to re-read the tickets'

    await page.handle_handshake('test-socket', 'test-tab', None, 'test-document', None)
    ben.client = page
    await ben.should_see('Badge reader at the back door is down')
    assert reads == ['read']
