"""What an open ticket page holds on the server. Every NiceGUI element is built, sent and held for each open page (its
props, classes and style are observable collections: ~4–5 KB of memory per element and page, benchmarks/README.md),
so the page's read-only parts are static markup (components/markup.py) and the count of elements does not grow with
what the ticket has: its files, its similar tickets, its customer's other tickets."""
from __future__ import annotations

import re
from collections.abc import Callable

from nicegui.testing import User

from pulse_live import presence
from pulse_live.services import chatter
from pulse_live.storage import UploadedFile
from tests.factories import make_ticket
from tests.ui.conftest import documents, open_ticket, until

# an agent's ticket page with one entry (the opening): 187 elements before the static parts (2026-12-06), 134 after
AGENT_TICKET_PAGE = 136


def entries(user: User) -> int:
    return sum(1 for e in user.client.elements.values() if 'chatter-entry' in e._markers)


def related(user: User) -> str:
    found = [e for e in user.client.elements.values() if 'related-body' in e._markers]
    return found[0].content if found else ''


async def test_an_agents_ticket_page_does_not_grow_with_its_files_and_similar_tickets(
        create_user: Callable[[], User], people) -> None:
    anna = people.users['anna@pulse.demo']
    plain = await make_ticket(people, title='Coffee machine in the lobby leaks')
    for n in range(6):  # similar tickets: they share the busy ticket's words
        await make_ticket(people, title=f'Label printer {n} prints blank labels')
    busy = await make_ticket(people, title='Label printer prints blank labels again')
    for start in (0, 10):
        await chatter.post_message(actor=anna, ticket_id=busy.id, body=f'Scans from {start}', files=[
            UploadedFile(name=f'scan-{n:02d}.pdf', content_type='application/pdf', data=b'%PDF')
            for n in range(start, start + 10)])

    a, b = create_user(), create_user()
    await open_ticket(a, 'ben@pulse.demo', plain.reference)
    await open_ticket(b, 'ben@pulse.demo', busy.reference)
    await until(lambda: presence.viewed_in(plain.id, a.client.id) and presence.viewed_in(busy.id, b.client.id))
    await until(lambda: documents(b).count('data-mark="document"') == 20)
    await until(lambda: related(b).count('data-mark="search-hit search-ticket"') >= 5)
    await until(lambda: 'None found.' in related(a))

    assert len(a.client.elements) <= AGENT_TICKET_PAGE, len(a.client.elements)
    # 20 files and several similar tickets: two more entries are the only elements more
    assert len(b.client.elements) - entries(b) == len(a.client.elements) - entries(a)


async def test_the_entries_a_page_opens_with_are_one_element_and_a_live_one_its_own(
        create_user: Callable[[], User], people) -> None:
    """A page opened with 30 entries built 30 elements for them (kept, sent and mounted each); they are one now, with
    each entry's markup as its element rendered it (``data-entry``, its classes), in order."""
    from nicegui import ui
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, title='Scanner on floor three drops pages')
    for n in range(30):
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'Step {n:02d} of the checks')
    ben = create_user()
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)

    def chatter_elements() -> list:
        return [e for e in ben.client.elements.values()
                if isinstance(e, ui.html) and ('data-entry' in e.props or 'data-entry="' in e.content)]
    [opened] = chatter_elements()
    steps = [int(n) for n in re.findall(r'Step (\d\d) of the checks', opened.content)]
    assert steps == list(range(30))
    assert opened.content.count('data-entry="') == 31  # the opening entry and the 30 messages
    assert opened.content.count('<div class="') >= 31
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Step 30, live')
    await until(lambda: len(chatter_elements()) == 2)
    assert 'Step 30, live' in chatter_elements()[1].content and 'Step 30, live' not in opened.content
