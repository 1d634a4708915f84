"""What a live change costs every open view of a ticket, and that the cheaper paths still show the right things.

Every browser showing a ticket re-renders part of its page for each live change. NiceGUI renders plain elements
(rows, labels, html) inside the render function of the nearest Vue component, so a live change must stay inside
a render boundary (``components.chatter.render_boundary``) or the whole page is rebuilt in every viewer's browser
(measured: benchmarks/README.md). These tests pin that down without timing anything: which elements a change
sends, and where they sit.
"""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

from nicegui import context, ui
from nicegui.element import Element
from nicegui.testing import User
from nicegui.testing.user_notify import UserNotify
from sqlalchemy import select

from components.chatter import Chatter
from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.events import TicketChanged
from pulse_live.models import Notification
from pulse_live.services import chatter
from tests.factories import make_ticket
from tests.ui.conftest import count_chatter_reads, login, open_ticket, until


class Sent:
    """Elements the server sends to one user's browser from now on (each is re-rendered there). An element created
    since the last ``mark()`` is rendered as part of its parent's update: ``changed`` leaves those out."""

    def __init__(self, user: User) -> None:
        self.client = user.client
        self.all: list[Element] = []
        self.changed: list[Element] = []
        self.mark()
        enqueue = self.client.outbox.enqueue_update

        def recording(element: Element) -> None:
            self.all.append(element)
            if element.id <= self._newest:
                self.changed.append(element)
            enqueue(element)
        self.client.outbox.enqueue_update = recording

    def mark(self) -> None:
        self._newest = max(self.client.elements)


class ToastsByTab(UserNotify):
    """The simulated user's toasts, each with the tab (client) that showed it: the login left a tab on /tickets."""

    def __init__(self) -> None:
        super().__init__()
        self.by_tab: list[tuple[str, str]] = []

    def __call__(self, message: str, **kwargs) -> None:
        self.by_tab.append((context.client.id, message))
        super().__call__(message, **kwargs)


def _parent(element: Element) -> Element | None:
    return element.parent_slot.parent if element.parent_slot is not None else None


def _inside_boundary(element: Element) -> bool:
    """Whether a render boundary (QNoSsr) sits between the element and the page: an update of the element is
    re-rendered by the nearest Vue component *above* it (the one whose render function reads it)."""
    node = _parent(element)
    while node is not None:
        if node.tag == 'q-no-ssr':
            return True
        node = _parent(node)
    return False


def _chatter_texts(user: User) -> list[str]:
    """The message bodies the chatter shows, in order (each entry is one HTML element; its body is the markdown)."""
    stream = user.find(marker='chatter').elements.pop()
    return [body for e in stream.descendants() if isinstance(e, ui.html)
            for body in re.findall(r'<div class="chatter-body[^"]*">(.*?)</div>', e.content, re.S)]


async def test_live_message_and_typing_rerender_only_their_part_of_the_viewers_page(
        create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    stream = ben.find(marker='chatter').elements.pop()
    sent = Sent(ben)

    anna.find(marker='composer').type('Toner replaced')  # Ben sees that Anna is typing …
    await ben.should_see('Anna Keller is typing…')
    anna.find('Send').click()  # … then the message, and the typing label goes away
    await ben.should_see(kind=ui.html, content='Toner replaced')
    await ben.should_not_see('Anna Keller is typing…')

    assert sent.changed, 'the live changes reached Ben'
    # the first live entry opens a block: the stream (inside the chatter's scroll area) is sent once for that
    outside = [f'{e.tag} {getattr(e, "text", "")!r}' for e in sent.changed
               if e is not stream and not _inside_boundary(e)]
    assert outside == [], 'these live updates would re-render the whole page of every viewer'
    assert sent.changed.count(stream) <= 1


async def test_the_authors_typing_mark_goes_with_their_message_in_the_same_update(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    """A viewer's browser gets the message and the end of its author's typing mark as one change: one frame to
    draw, not two (measured: benchmarks/README.md). Presence's own word that the author stopped comes later and
    changes nothing more; typing the next message shows the mark again."""
    from pulse_live import presence
    from pulse_live.events import PresenceChanged
    monkeypatch.setattr(presence, 'POSTED_SAY_S', 0.3)
    ticket = await make_ticket(people)
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    typing_line = ben.find(marker='typing').elements.pop()
    anna.find(marker='composer').type('Toner replaced')
    await ben.should_see('Anna Keller is typing…')
    published = len(get_bus().published)
    anna.find('Send').click()
    await ben.should_see(kind=ui.html, content='Toner replaced')
    assert typing_line.text == '', 'the typing mark should end in the same update as the entry'
    assert not [e for e in get_bus().published[published:] if isinstance(e, PresenceChanged)], \
        'presence said it first: the typing line would change before the entry'
    sent = Sent(ben)
    await until(lambda: [e for e in get_bus().published[published:] if isinstance(e, PresenceChanged)])
    await asyncio.sleep(0.1)
    assert typing_line not in sent.all, 'presence\'s later word should find nothing to change'
    anna.find(marker='composer').type('One more thing')
    await ben.should_see('Anna Keller is typing…')


async def test_many_live_messages_stay_in_order_and_rarely_touch_the_whole_stream(
        create_user: Callable[[], User], people) -> None:
    anna_row = people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    stream = ben.find(marker='chatter').elements.pop()
    before = len(_chatter_texts(ben))
    sent = Sent(ben)
    count = 2 * Chatter.BLOCK + 5
    for i in range(count):
        sent.mark()
        await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body=f'live {i:02d}')
        await ben.should_see(kind=ui.html, content=f'live {i:02d}')
    texts = _chatter_texts(ben)
    assert len(texts) == before + count
    assert [t for t in texts if 'live' in t] == [f'<p>live {i:02d}</p>\n' for i in range(count)]
    # each message re-sends only its block; the stream itself only when a block is full (3 blocks here)
    assert sent.changed.count(stream) <= 3
    assert [e.tag for e in sent.changed if e is not stream and not _inside_boundary(e)] == []


async def test_load_older_keeps_the_order(create_user: Callable[[], User], people) -> None:
    anna_row = people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    for i in range(105):
        await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body=f'old {i:03d}')
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await ben.should_not_see(kind=ui.html, content='old 000')
    await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body='new one')
    await ben.should_see(kind=ui.html, content='new one')
    ben.find('Load older entries').click()
    await ben.should_see(kind=ui.html, content='old 000')
    texts = [t for t in _chatter_texts(ben) if 'old' in t or 'new one' in t]
    assert texts == [f'<p>old {i:03d}</p>\n' for i in range(105)] + ['<p>new one</p>\n']


async def test_typing_in_the_composer_sends_nothing_back_unless_there_is_something_to_show(user: User, people) -> None:
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    composer = user.find(marker='composer').elements.pop()
    sent = Sent(user)
    for text in ('H', 'He', 'Hel', 'Hello', 'Hello Carl'):
        composer.value = text  # keystrokes (the browser's own textarea shows them)
    await asyncio.sleep(0.2)
    assert [e.tag for e in sent.all if e is not composer] == []
    composer.value = 'Hello @be'  # a mention being typed: the suggestions appear …
    await user.should_see(marker='mention-option')
    composer.value = 'Hello @ben and'  # … and go again
    await user.should_not_see(marker='mention-option')


async def test_no_toast_for_the_ticket_this_tab_shows_but_on_other_pages(create_user: Callable[[], User], people,
                                                                          monkeypatch) -> None:
    from pulse_live.notify import planner
    # The planner does not notify users it knows are looking at the ticket. Make it not know (a tab that just
    # opened, or presence from another process that has not arrived yet): the tab itself must not toast.
    monkeypatch.setattr(planner.presence, 'viewing', lambda ticket_id: set())
    anna_row, ben_row = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await make_ticket(people)
    ben = create_user()
    ben.notify = toasts = ToastsByTab()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    ticket_tab = ben.client.id
    await ben.should_not_see(marker='bell-count')

    await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body='@ben have a look')
    await ben.should_see(kind=ui.html, content='have a look')  # in the chatter, live
    for _ in range(50):  # the bell handled it: marked read (Ben is looking at it)
        async with db.session() as s:
            note = (await s.execute(select(Notification).where(Notification.user_id == ben_row.id))).scalar_one()
        if note.read_at is not None:
            break
        await asyncio.sleep(0.1)
    assert note.read_at is not None
    assert [m for tab, m in toasts.by_tab if tab == ticket_tab] == [], 'no toast repeating what the tab shows'
    await ben.should_not_see(marker='bell-count')

    ben.client.delete()  # Ben leaves the ticket (the simulated user keeps a page's client until told)
    await ben.open('/tickets')  # another page: the toast is how Ben learns of it
    await ben.should_see('Log out')
    list_tab = ben.client.id
    await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body='@ben and this')
    await ben.should_see(marker='bell-count', content='1')
    assert any('mentioned you' in m and 'and this' in m for tab, m in toasts.by_tab if tab == list_tab)


STAFF = ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo', 'maria@pulse.demo', 'admin@pulse.demo')


async def test_a_change_seen_by_many_staff_pages_is_read_once_and_rebuilds_only_what_changed(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    from pulse_live.models import Status, Ticket
    from pulse_live.queries import sla as sla_queries
    from pulse_live.queries import tickets as ticket_queries
    from pulse_live.services import tickets as ticket_service
    anna_row = people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    viewers = [create_user() for _ in STAFF]
    for viewer, email in zip(viewers, STAFF, strict=True):
        await open_ticket(viewer, email, ticket.reference)
    reads = {'ticket': 0, 'sla': 0}

    def counting(name: str, read):
        async def counted(*args, **kwargs):
            reads[name] += 1
            return await read(*args, **kwargs)
        return counted
    monkeypatch.setattr(ticket_queries, 'ticket_view', counting('ticket', ticket_queries.ticket_view))
    monkeypatch.setattr(sla_queries, 'ticket_sla', counting('sla', sla_queries.ticket_sla))
    ben = viewers[1]
    badges = ben.find(marker='status-badge').elements.pop().parent_slot.parent
    work = ben.find(marker='work-panel').elements.pop()
    sent = Sent(ben)

    # a field no header part shows: every page shows the change, one read of the ticket and of its SLA for all
    # five pages, and neither the badges nor the work strip is rebuilt
    await ticket_service.update_ticket(actor=anna_row, ticket_id=ticket.id, expected_version=ticket.version,
                                       changes={'workaround': 'Power cycle'})
    for viewer in viewers:
        await viewer.should_see('Anna Keller changed Work-around — → Power cycle')
    # one read per change; a second only when a page came to it after the first read's answer was dropped
    assert reads['ticket'] <= 2, f'{reads["ticket"]} reads of the ticket for {len(viewers)} pages'
    assert reads['sla'] <= 2, f'{reads["sla"]} reads of the SLA for {len(viewers)} pages'
    assert badges not in sent.changed and work not in sent.changed, 'header parts rebuilt though nothing changed'

    # a change the header shows: its parts are rebuilt, still with one read for every page
    reads.update(ticket=0, sla=0)
    sent.mark()
    async with db.session() as s:
        version = (await s.get(Ticket, ticket.id)).version
    published = len(get_bus().published)
    await ticket_service.change_status(actor=anna_row, ticket_id=ticket.id, expected_version=version,
                                       status=Status.IN_PROGRESS.value)
    for viewer in viewers:
        await viewer.should_see(marker='status-badge', content=Status.IN_PROGRESS.label)
    assert badges in sent.changed and work in sent.changed
    changes = [e for e in get_bus().published[published:] if isinstance(e, TicketChanged)]
    assert 1 <= len(changes) <= 2  # the status, and what the clock made of it
    assert reads['ticket'] <= 2 * len(changes) < len(viewers), (reads, changes)
    assert reads['sla'] <= 2 * len(changes), (reads, changes)


async def test_a_page_without_its_socket_reads_nothing_until_it_is_back_then_shows_what_it_missed(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    from pulse_live.services import tickets as ticket_service
    anna_row, ben_row = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await make_ticket(people)
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    reads = count_chatter_reads(monkeypatch)

    # Ben's tab went to another page (or lost its connection): NiceGUI keeps his page for a reconnect
    client = ben.client
    socket_id, document_id = next(iter(client._socket_to_document_id.items()))
    tab_id = client.tab_id
    client.handle_disconnect(socket_id)
    assert not client.has_socket_connection
    for i in range(3):
        await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body=f'while away {i}')
    await ticket_service.update_ticket(actor=anna_row, ticket_id=ticket.id, expected_version=ticket.version,
                                       changes={'title': 'Printer on floor 4 is down'})
    await asyncio.sleep(0.3)
    assert ben_row.id not in reads, 'a page nobody sees re-read the chatter'
    assert 'while away 0' not in ' '.join(_chatter_texts(ben))

    # the socket comes back: everything missed is shown, once
    await client.handle_handshake(socket_id, tab_id, None, document_id, None)
    await ben.should_see(kind=ui.html, content='while away 2')
    await ben.should_see('Printer on floor 4 is down')
    texts = [t for t in _chatter_texts(ben) if 'while away' in t]
    assert texts == [f'<p>while away {i}</p>\n' for i in range(3)]


async def test_a_live_entry_is_one_element_per_page_built_once_per_way_of_seeing_it(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    """Five staff pages and the customer's portal page get a new message: its markup is built once for everyone who
    sees it alike (staff and the customer here: a public message without files) and once for its author's own page
    (their own bubble); every page receives it as one element, with nothing inside it to build."""
    from components import chatter_html
    from tests.ui.conftest import login
    daniel_row = people.users['daniel@pulse.demo']
    ticket = await make_ticket(people)
    staff = [create_user() for _ in STAFF]
    for viewer, email in zip(staff, STAFF, strict=True):
        await open_ticket(viewer, email, ticket.reference)
    carl = create_user()
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open(f'/portal/requests/{ticket.reference}')
    builds: list[tuple[int, bool]] = []
    build = chatter_html._message

    def counted(e, when: str, mine: bool) -> str:
        builds.append((e.id, mine))
        return build(e, when, mine)
    monkeypatch.setattr(chatter_html, '_message', counted)
    pages = [*staff, carl]
    sent = [Sent(page) for page in pages]

    await chatter.post_message(actor=daniel_row, ticket_id=ticket.id, body='Seen by **everyone**')
    for page in pages:
        await page.should_see(kind=ui.html, content='Seen by <strong>everyone</strong>')
    assert sorted(mine for _, mine in builds) == [False, True], builds  # Daniel's own bubble differs
    for page, s in zip(pages, sent, strict=True):
        entries = list({e.id: e for e in s.all if isinstance(e, ui.html) and 'everyone' in e.content}.values())
        assert len(entries) == 1 and not entries[0].default_slot.children, page.client.page.path
        assert _inside_boundary(entries[0])
    # the customer's page shows the markup the staff pages show (the same string object: built once, shared)
    staff_entry = staff[0].find(kind=ui.html, content='everyone').elements.pop()
    carl_entry = carl.find(kind=ui.html, content='everyone').elements.pop()
    assert carl_entry.content is staff_entry.content


async def test_a_change_wakes_only_the_pages_of_its_own_ticket(create_user: Callable[[], User], people,
                                                               monkeypatch) -> None:
    """Pages following other tickets are not called at all (they used to get a task each, per change, only to find
    the change was not theirs)."""
    from nicegui import background_tasks
    anna_row = people.users['anna@pulse.demo']
    watched, other = await make_ticket(people), await make_ticket(people, title='Other ticket')
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', watched.reference)
    others = [create_user() for _ in range(3)]
    for viewer, email in zip(others, STAFF[2:], strict=True):
        await open_ticket(viewer, email, other.reference)
    woken: list[str] = []
    create = background_tasks.create_or_defer

    def recording(coroutine, *, name: str = 'unnamed task', **kwargs):
        woken.append(name)
        return create(coroutine, name=name, **kwargs)
    monkeypatch.setattr(background_tasks, 'create_or_defer', recording)

    await chatter.post_message(actor=anna_row, ticket_id=watched.id, body='Only for this ticket')
    await ben.should_see(kind=ui.html, content='Only for this ticket')
    followers = [n for n in woken if 'ticket_live.py' in n]
    assert len(followers) == 1, followers  # Ben's page; none of the three pages of the other ticket


async def test_typing_with_many_viewers_merges_presence_once_per_change(create_user: Callable[[], User], people,
                                                                        monkeypatch) -> None:
    from pulse_live import presence
    from pulse_live.events import PresenceChanged
    ticket = await make_ticket(people)
    viewers = [create_user() for _ in STAFF]
    for viewer, email in zip(viewers, STAFF, strict=True):
        await open_ticket(viewer, email, ticket.reference)
    anna, ben = viewers[0], viewers[1]
    snapshots = [0]
    snapshot = presence.snapshot

    def counted(ticket_id: int) -> dict:
        snapshots[0] += 1
        return snapshot(ticket_id)
    monkeypatch.setattr(presence, 'snapshot', counted)
    published = len(get_bus().published)
    typing_label = ben.find(marker='typing').elements.pop()
    sent = Sent(ben)

    anna.find(marker='composer').type('Looking at it')
    await ben.should_see('Anna Keller is typing…')
    changes = [e for e in get_bus().published[published:] if isinstance(e, PresenceChanged) and e.ticket_id]
    assert changes and snapshots[0] <= len(changes), (snapshots[0], len(changes), len(viewers))
    assert [e for e in sent.changed if e is not typing_label] == [], 'only the typing line changed on Ben\'s page'


async def test_a_page_open_all_day_keeps_a_bounded_chatter(create_user: Callable[[], User], people,
                                                           monkeypatch) -> None:
    """Live entries join the page's tree; past ``Chatter.KEEP`` entries the oldest blocks leave it again (and
    "Load older entries" brings them back), so a busy ticket does not grow every open page without end. The 75 posts
    here run without giving the loop a turn (the SQLite writer is synchronous), so Ben's page reads them in one go: a
    burst is shown in blocks of ``Chatter.BLOCK`` too (it was one block of 75 that nothing pushed out)."""
    monkeypatch.setattr(Chatter, 'KEEP', 30)
    anna_row = people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    for i in range(75):
        await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body=f'busy {i:02d}')
    await ben.should_see(kind=ui.html, content='busy 74')
    texts = [t for t in _chatter_texts(ben) if 'busy' in t]
    assert len(texts) <= 30 + Chatter.BLOCK, len(texts)
    assert texts == [f'<p>busy {i:02d}</p>\n' for i in range(75 - len(texts), 75)]  # the newest, in order
    ben.find('Load older entries').click()
    await ben.should_see(kind=ui.html, content=f'busy {75 - len(texts) - 1:02d}')


async def test_the_unread_count_is_read_once_for_all_the_pages_of_a_person(create_user: Callable[[], User], people,
                                                                           monkeypatch) -> None:
    """A desk has the app open in several tabs, each with a bell: a notification (and its being read) re-counts
    the bell in every tab with one read, not one per tab (measured: benchmarks/desk_load.py)."""
    from components import bell
    from pulse_live.queries import notifications as note_queries
    from pulse_live.services import notifications
    anna_row, ben_row = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await make_ticket(people)
    tabs = [create_user() for _ in range(4)]
    for tab in tabs:
        await login(tab, 'ben@pulse.demo')  # each on its own list page (/tickets)
    reads = [0]
    count = note_queries.unread_count

    async def counted(user_id: int) -> int:
        reads[0] += 1
        return await count(user_id)
    monkeypatch.setattr(note_queries, 'unread_count', counted)
    monkeypatch.setattr(bell.note_queries, 'unread_count', counted)

    await chatter.post_message(actor=anna_row, ticket_id=ticket.id, body='@ben a look please')
    for tab in tabs:
        await tab.should_see(marker='bell-count', content='1')
    assert reads[0] == 1, f'{reads[0]} reads of the unread count for {len(tabs)} tabs'

    reads[0] = 0
    await notifications.mark_read(actor=ben_row)
    for tab in tabs:
        await tab.should_not_see(marker='bell-count')
    assert reads[0] == 1


def _record_scripts(monkeypatch) -> list[tuple[str, str]]:
    """Every page's ``run_javascript`` from now on, as (client id, code)."""
    from nicegui import Client
    scripts: list[tuple[str, str]] = []
    run = Client.run_javascript

    def recording(self, code: str, *args, **kwargs):
        scripts.append((self.id, code))
        return run(self, code, *args, **kwargs)
    monkeypatch.setattr(Client, 'run_javascript', recording)
    return scripts


async def test_many_staff_pages_get_a_live_entry_as_one_socket_message_and_build_nothing(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    """From ``live_broadcast_from`` staff pages following a ticket alike, a new entry is one socket message to all of
    them (python-socketio encodes it once) and one more to its author's own pages (their own bubble): no element is
    built on any page; a page asking after a reconnection for what it missed gets only its tail's entries, and
    anything else it sends is ignored. (What the browser makes of it: tests/e2e/test_live_broadcast.py.)"""
    from nicegui import core

    from components import live_entries
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_LIVE_BROADCAST_FROM', '3')
    reset_settings()
    monkeypatch.setattr(live_entries, 'SETTLED_S', 0.0)
    ticket = await make_ticket(people)
    pages = [create_user() for _ in STAFF]
    for page, email in zip(pages, STAFF, strict=True):
        await open_ticket(page, email, ticket.reference)
    ben, daniel = pages[1], pages[2]
    emits: list[tuple[str, dict, list[str]]] = []
    original = core.sio.emit

    async def emit(event, data=None, to=None, room=None, **kwargs) -> None:
        if event == live_entries.EVENT:
            emits.append((event, data, to or room))
        else:  # the pages' own updates
            await original(event, data, to=to, room=room, **kwargs)
    monkeypatch.setattr(core.sio, 'emit', emit)
    scripts = _record_scripts(monkeypatch)
    sent = [Sent(page) for page in pages]

    async def until(done: Callable[[], bool]) -> None:
        for _ in range(100):
            if done():
                return
            await asyncio.sleep(0.02)
        raise AssertionError('not within 2 s')

    await chatter.post_message(actor=people.users['daniel@pulse.demo'], ticket_id=ticket.id,
                               body='To <b>all</b> of **you**')
    await until(lambda: len(emits) >= 2)
    await asyncio.sleep(0.1)
    assert len(emits) == 2 and {event for event, _, _ in emits} == {live_entries.EVENT}
    others = next(data for _, data, rooms in emits if 'own' not in data)
    own = next(data for _, data, rooms in emits if 'own' in data)
    assert sorted(next(rooms for _, data, rooms in emits if data is others)) == \
        sorted(p.client.id for p in pages if p is not daniel)
    assert next(rooms for _, data, rooms in emits if data is own) == [daniel.client.id]
    assert others['t'] == own['t'] == ticket.id  # a tab that moved on to another ticket ignores it
    [[first_id, classes, markup]] = others['e']
    [[own_id, own_classes, own_markup]] = own['e']
    assert 'To &lt;b&gt;all&lt;/b&gt; of <strong>you</strong>' in markup and 'items-start' in classes
    assert own_id == first_id and own_classes == classes and own_markup != markup  # his own bubble
    for page, s in zip(pages, sent, strict=True):
        assert not [e for e in s.all if isinstance(e, ui.html) and 'of <strong>you</strong>' in e.content], \
            page.client.id

    # after a reconnection Ben's page says which entry its tail ends with; anything but {"last": n ≥ 0} is ignored
    await chatter.post_message(actor=people.users['anna@pulse.demo'], ticket_id=ticket.id, body='Second, from Anna')
    await until(lambda: len(emits) >= 4)
    second_id = emits[-1][1]['e'][0][0]
    layout = ben.client.layout
    listener = next(i for i, li in layout._event_listeners.items() if li.type == 'pulse_tail_sync')
    scripts.clear()
    for bad in ('x', None, [1], {'last': '1'}, {'last': -1}, {'last': True}, {'last': 1.5}, {},
                {'last': 10**30}, {'last': 2**63}):
        layout._handle_event({'listener_id': listener, 'args': bad})
    await asyncio.sleep(0.3)
    assert not [code for cid, code in scripts if cid == ben.client.id]
    layout._handle_event({'listener_id': listener, 'args': {'last': 0}})  # "nothing": only the tail's entries
    await until(lambda: any(cid == ben.client.id for cid, _ in scripts))
    [code] = [code for cid, code in scripts if cid == ben.client.id]
    entries, shown_ticket = json.loads('[' + code.removeprefix('window.pulseTail?.(').removesuffix(')') + ']')
    assert [entry[0] for entry in entries] == [first_id, second_id]
    assert shown_ticket == ticket.id  # added only while the page still shows this ticket


async def test_a_page_whose_entries_come_by_broadcast_keeps_a_bounded_chatter_too(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    """Entries sent to many pages at once live in the browser only; past ``Chatter.KEEP`` the page lets its oldest
    go as before — its blocks first, then the tail's oldest (one script per page, once per ``BLOCK`` entries) — and
    "Load older entries" brings them back."""
    from components import live_entries
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_LIVE_BROADCAST_FROM', '2')
    reset_settings()
    monkeypatch.setattr(live_entries, 'SETTLED_S', 0.0)
    monkeypatch.setattr(Chatter, 'KEEP', 10)
    ticket = await make_ticket(people)
    await chatter.post_message(actor=people.users['anna@pulse.demo'], ticket_id=ticket.id, body='before the pages')
    ben, daniel = create_user(), create_user()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await open_ticket(daniel, 'daniel@pulse.demo', ticket.reference)
    assert _chatter_texts(ben) == ['<p>before the pages</p>\n']
    scripts = _record_scripts(monkeypatch)
    sent_before = live_entries.sent['messages']
    posted = [await chatter.post_message(actor=people.users['anna@pulse.demo'], ticket_id=ticket.id,
                                         body=f'busy {i:02d}') for i in range(45)]
    await until(lambda: any('pulseTailDrop' in code for cid, code in scripts if cid == ben.client.id))
    assert live_entries.sent['messages'] - sent_before == 45  # every one went as one message to both pages
    assert _chatter_texts(ben) == []  # the entries it opened with left its tree
    drops = [code for cid, code in scripts if cid == ben.client.id and 'pulseTailDrop' in code]
    first_kept = int(re.search(r'pulseTailDrop\?\.\((\d+)\)', drops[-1]).group(1))
    ids = [e.id for e in posted]
    assert len(drops) == 1 and first_kept == ids[Chatter.KEEP + Chatter.BLOCK + 1 - Chatter.KEEP]
    ben.find('Load older entries').click()  # the entries before the first kept one, from the server
    await ben.should_see(kind=ui.html, content=f'busy {ids.index(first_kept) - 1:02d}')

    # the pages close: the ticket's followers go with them (and the ticket's entry, once nobody else follows it;
    # pages of earlier tests may still be listed under the same ticket id: NiceGUI's test reset deletes no client)
    closed = {ben.client, daniel.client}
    for page in (ben, daniel):
        page.client.delete()
    assert not [s for s in live_entries._followers.get(ticket.id, ()) if s.follower.client in closed]
