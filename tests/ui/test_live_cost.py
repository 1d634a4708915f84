"""What a live change costs every open view of a ticket, and that the cheaper paths still show the right things.

Every browser showing a ticket re-renders part of its page for each live change. NiceGUI renders plain elements
(rows, labels, html) inside the render function of the nearest Vue component, so a live change must stay inside
a render boundary (``components.chatter.render_boundary``) or the whole page is rebuilt in every viewer's browser
(measured: benchmarks/README.md). These tests pin that down without timing anything: which elements a change
sends, and where they sit.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import context, ui
from nicegui.element import Element
from nicegui.testing import User
from nicegui.testing.user_notify import UserNotify
from sqlalchemy import select

from components.chatter import Chatter
from pulse_live import db
from pulse_live.models import Notification
from pulse_live.services import chatter
from tests.factories import make_ticket
from tests.ui.conftest import open_ticket


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
    stream = user.find(marker='chatter').elements.pop()
    return [e.content for e in stream.descendants() if isinstance(e, ui.html)]


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
