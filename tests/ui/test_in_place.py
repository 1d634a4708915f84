"""A ticket opened in place (components/in_app.py, components/page_scope.py), as the server sees it: what the old
content registered ends with it — its live subscriptions, its presence, its handlers on the client — and an address
that is not a ticket is refused."""
from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User

from components import in_app, live, live_entries
from pulse_live import presence
from pulse_live.services import chatter
from tests.factories import make_ticket
from tests.ui.conftest import open_ticket, until


def open_in_place(user: User, path: str, *, back: bool = False) -> None:
    """What the page's script sends for a plain click on a link to ``path`` (through the page's guard)."""
    client = user.client
    listener = next(i for i, li in client.layout._event_listeners.items() if li.type == in_app.EVENT)
    client.handle_event({'id': client.layout.id, 'listener_id': listener,
                         'args': [json.dumps({'path': path, 'back': back})]})


def titles(user: User) -> list[str]:
    return [e.text for e in user.client.elements.values() if 'ticket-title' in e._markers]


def entries(user: User, text: str) -> list:
    """The chatter elements on the page whose entries hold ``text`` (a live entry is an element of its own; the
    entries a page opened with are one element)."""
    return [e for e in user.client.elements.values()
            if isinstance(e, ui.html) and ('data-entry' in e.props or 'data-entry="' in e.content)
            and text in e.content]


def handlers(user: User) -> tuple[int, int, int]:
    client = user.client
    return len(client.connect_handlers), len(client.disconnect_handlers), len(client.delete_handlers)


async def test_moving_to_another_ticket_in_place_ends_everything_of_the_old_one(create_user: Callable[[], User],
                                                                                  people) -> None:
    a = await make_ticket(people, title='Printer jams on floor two')
    b = await make_ticket(people, title='Invoice export totals wrong')
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', a.reference)
    client = ben.client
    await until(lambda: presence.viewed_in(a.id, client.id))
    before = handlers(ben)
    elements_on_a = len(client.elements)
    head = client._head_html  # what the page's head holds (each component's CSS once)
    [screen_a] = [s for s in live_entries._followers[a.id] if s.follower.client is client]
    screen_a = weakref.ref(screen_a)  # the old ticket's screen must be let go once the page moved on

    open_in_place(ben, f'/tickets/{b.reference}')
    await until(lambda: titles(ben) == ['Invoice export totals wrong'])
    await ben.should_see(marker='documents', retries=100)  # its side column too
    # A is no longer followed by this page: no subscription, no presence, no live-entries follower
    await until(lambda: not presence.viewed_in(a.id, client.id))
    assert a.id not in live._ticket_events
    assert not [s for s in live_entries._followers.get(a.id, ()) if s.follower.client is client]
    await until(lambda: presence.viewed_in(b.id, client.id))
    # a message on A now never reaches the page; one on B does
    anna = people.users['anna@pulse.demo']
    await chatter.post_message(actor=anna, ticket_id=a.id, body='On the first ticket, after the move')
    await chatter.post_message(actor=anna, ticket_id=b.id, body='On the second ticket, after the move')
    await until(lambda: entries(ben, 'On the second ticket, after the move'))
    await asyncio.sleep(0.3)
    assert not entries(ben, 'On the first ticket, after the move')

    # moving back and forth 20 times leaves the handlers of one ticket on the client, not of 20
    for n in range(20):
        ticket = a if n % 2 else b
        open_in_place(ben, f'/tickets/{ticket.reference}', back=True)
        await until(lambda: titles(ben) == [ticket.title])  # noqa: B023
        await ben.should_see(marker='documents', retries=100)
    assert entries(ben, 'On the first ticket, after the move')  # (the 20th: A, read afresh)
    assert handlers(ben) == before
    assert client._head_html == head  # the chatter's and the panels' CSS were not added again with each ticket
    assert abs(len(client.elements) - elements_on_a) <= 5  # (A holds one message more now)
    gc.collect()
    assert screen_a() is None, gc.get_referrers(screen_a())
    assert not [s for s in live_entries._followers.get(b.id, ()) if s.follower.client is client]
    assert len([s for s in live_entries._followers.get(a.id, ()) if s.follower.client is client]) == 1
    assert presence.viewed_in(a.id, client.id) and not presence.viewed_in(b.id, client.id)


async def test_an_address_that_is_not_a_ticket_is_refused_and_an_unknown_ticket_is_not_found(
        create_user: Callable[[], User], people, caplog) -> None:
    a = await make_ticket(people, title='Stays where it is')
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', a.reference)
    for path in ('/admin/staff', '/tickets/new', '/tickets/x/y', f'/tickets/{a.reference}?entry=x',
                 'https://elsewhere.example/tickets/PL-1', '/tickets/' + 'x' * 300):
        open_in_place(ben, path)
    client = ben.client
    await asyncio.sleep(0.3)
    assert titles(ben) == ['Stays where it is']
    listener = next(i for i, li in client.layout._event_listeners.items() if li.type == in_app.EVENT)
    for args in ('x', 5, None, {'path': 5}, {'path': f'/tickets/{a.reference}', 'back': 'yes'}):
        client.handle_event({'id': client.layout.id, 'listener_id': listener, 'args': [json.dumps(args)]})
    await asyncio.sleep(0.3)
    assert titles(ben) == ['Stays where it is']
    assert sum('asked to open in place what is not a ticket' in r.getMessage() for r in caplog.records) == 11

    open_in_place(ben, '/tickets/PL-1999-999999')
    await ben.should_see('Ticket not found')
    assert titles(ben) == []
    await until(lambda: not presence.viewed_in(a.id, ben.client.id))


async def test_a_page_whose_account_ended_opens_nothing_in_place(create_user: Callable[[], User], people,
                                                                   caplog) -> None:
    from pulse_live.services import staff
    a, b = await make_ticket(people, title='Before the end'), await make_ticket(people, title='Never shown')
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', a.reference)
    client = ben.client  # the page, kept: its script could still send
    listener = next(i for i, li in client.layout._event_listeners.items() if li.type == in_app.EVENT)
    await staff.set_active(actor=people.users['admin@pulse.demo'], user_id=people.users['ben@pulse.demo'].id,
                           active=False)
    await asyncio.sleep(0.3)
    client.handle_event({'id': client.layout.id, 'listener_id': listener,
                         'args': [json.dumps({'path': f'/tickets/{b.reference}'})]})
    await asyncio.sleep(0.5)
    assert not [e for e in client.elements.values() if 'ticket-title' in e._markers and e.text == 'Never shown']
    assert any('whose session ended' in r.getMessage() for r in caplog.records)


def orphans(user: User) -> list:
    """Elements of the page whose container is no longer on it (built into content that was replaced)."""
    out = []
    for element in list(user.client.elements.values()):
        slot = element.parent_slot
        if slot is None:
            continue
        try:
            parent = slot.parent
        except RuntimeError:
            out.append(element)
            continue
        if parent.is_deleted or parent.id not in user.client.elements:
            out.append(element)
    return out


async def test_an_open_while_the_side_column_is_built_waits_for_it_and_leaves_nothing_behind(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    from components.customer_panel import CustomerPanel
    from tests.ui.conftest import login
    a = await make_ticket(people, title='Printer jams on floor two')
    b = await make_ticket(people, title='Invoice export totals wrong')
    load = CustomerPanel.load

    async def slow_load(self, *args, **kwargs):  # a slow read while the side column is built
        await asyncio.sleep(0.4)
        return await load(self, *args, **kwargs)
    monkeypatch.setattr(CustomerPanel, 'load', slow_load)
    ben = create_user()
    await login(ben, 'ben@pulse.demo')
    await ben.open(f'/tickets/{a.reference}')  # the page is sent; its side column is being built now
    await asyncio.sleep(0.15)
    open_in_place(ben, f'/tickets/{b.reference}')
    await until(lambda: titles(ben) == ['Invoice export totals wrong'], tries=200)
    await ben.should_see(marker='documents', retries=100)
    await asyncio.sleep(0.6)
    assert not orphans(ben)
    assert len([e for e in ben.client.elements.values() if 'documents' in e._markers]) == 1  # B's side column only


async def test_a_part_that_registers_after_its_page_moved_on_ends_at_once(create_user: Callable[[], User],
                                                                          people) -> None:
    """A part whose reads awaited while the page moved on (or closed) registers on a scope that ended: nothing may
    be subscribed then, and what it would end with runs at once (an audit slowed a read by 3 s: the old ticket's
    subscription and live-entries follower stayed, holding the deleted page)."""
    from nicegui import Event

    from components import page_scope
    a = await make_ticket(people, title='Printer jams on floor two')
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', a.reference)
    with ben.client:
        old = page_scope.current()
        page_scope.replace()
        event: Event = Event()
        ended: list[str] = []
        connect_handlers = len(ben.client.connect_handlers)
        old.subscribe(event, lambda: None)
        old.on_end(lambda: ended.append('ended'))
        old.on_connect(lambda: None)
    assert old.ended and not event.callbacks and ended == ['ended']
    assert len(ben.client.connect_handlers) == connect_handlers
