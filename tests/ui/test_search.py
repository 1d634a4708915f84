"""Search on screen: the header box (grouped results as you type), the results page with its filters, the portal's
suggestions with "This solved it", the ticket page's similar tickets. Simulated users on the real app."""
import asyncio
import html
import re

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.models import Article, Ticket
from pulse_live.services import chatter, kb
from pulse_live.services.kb import ArticleFields
from tests.factories import make_ticket
from tests.ui.conftest import login, until


async def test_an_agent_finds_a_message_from_the_header_and_opens_the_results_page(user: User, people) -> None:
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, title='Label printer offline')
    note = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Replaced the thermocouple today',
                                      internal=True)
    await login(user, 'ben@pulse.demo')
    user.find(marker='header-search').type('thermo')
    await user.should_see('Messages')
    await user.should_see('Internal note by Anna Keller', retries=100)
    assert hit_hrefs(box_results(user), 'message') == [f'/tickets/{ticket.reference}?entry={note.id}']
    await user.open('/search?q=thermocouple&status=open')
    await user.should_see(marker='search-groups')
    assert ticket.reference in user.find(marker='search-groups').elements.pop().content
    await user.open('/search?q=thermocouple&status=closed')
    await user.should_see('Nothing found')


async def test_stray_syntax_on_the_results_page_finds_nothing_without_an_error(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/search?q=%22NEAR(%20*%20-%3A%20AND%20OR')
    await user.should_see('Nothing found')


async def test_a_customer_finds_their_request_but_no_internal_note(user: User, people) -> None:
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, title='Docking station flickers')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='docking firmware bug, vendor ticket 5521',
                               internal=True)
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open('/search?q=docking')
    await user.should_see(marker='search-groups')
    groups = user.find(marker='search-groups').elements.pop().content
    assert hit_hrefs(groups, 'ticket') == [f'/portal/requests/{ticket.reference}']  # the request, not the note
    assert 'data-mark="search-hit search-message"' not in groups
    await user.should_not_see('vendor ticket')
    await user.open('/search?q=5521')
    await user.should_see('Nothing found')


async def test_the_portal_suggests_an_article_and_this_solved_it_ends_the_request(user: User, people) -> None:
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Reset your VPN password', body='Use the self-service page.', visibility='public', status='published'))
    await login(user, 'tom@globex.demo', expect='My requests')
    await user.open('/portal/new')
    user.find(marker='request-subject').type('vpn password expired')
    await user.should_see(marker='suggested-article', retries=100)
    await user.should_see('These articles may answer it already')
    user.find(marker='this-solved-it').click()
    await user.should_see('Glad it helped. No request was sent.')
    await user.should_not_see('Send request')
    async with db.session() as s:
        assert (await s.get(Article, article.id, populate_existing=True)).deflections == 1
        assert (await s.execute(select(func.count(Ticket.id)))).scalar_one() == 0


async def test_the_ticket_page_shows_similar_resolved_tickets(user: User, people) -> None:
    from pulse_live.services import tickets
    from tests.helpers import resolution_code_id
    anna = people.users['anna@pulse.demo']
    solved = await make_ticket(people, title='Teams camera black screen')
    await tickets.change_status(actor=anna, ticket_id=solved.id, expected_version=solved.version, status='resolved',
                                resolution_code_id=await resolution_code_id(), resolution_text='Updated the driver')
    this = await make_ticket(people, title='Camera shows a black screen in Teams')
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{this.reference}')
    await user.should_see(marker='related-panel')
    body = await related_body(user, 'search-ticket')
    assert 'Similar tickets' in body.content and 'Resolution: Fixed — Updated the driver' in body.content
    assert hit_hrefs(body.content, 'ticket') == [f'/tickets/{solved.reference}']


def box_results(user: User) -> str:
    """What the header's box shows under it (one static element, components/search_box.py)."""
    return user.find(marker='header-search-results').elements.pop().content


def hit_hrefs(content: str, kind: str) -> list[str]:
    """The links of the hits of one kind in a block of hits (``search_box.hit_link_html``), in order."""
    pattern = rf'<a class="[^"]*search-hit[^"]*" href="([^"]*)" data-mark="search-hit search-{kind}"'
    return [html.unescape(href) for href in re.findall(pattern, content)]


async def related_body(user: User, marker: str):
    """The ticket page's similar tickets and articles: one static block (components/related_panel.py), read after
    the page connected (the side column)."""
    for _ in range(100):
        bodies = [e for e in user.client.elements.values() if 'related-body' in e._markers]
        if bodies and f'data-mark="search-hit {marker}"' in bodies[0].content:
            return bodies[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f'no {marker} in the related panel')


async def test_a_hit_is_its_link_and_one_static_block_with_every_text_escaped(user: User, people) -> None:
    """A ticket page shows up to ten hits, the header's search up to 25: each is the link and one HTML block (it
    was 8–12 elements, built for every ticket page opened), and nothing a user typed becomes markup. On the ticket
    page all of them are one block (the related panel)."""
    from pulse_live.services import tickets
    from tests.helpers import resolution_code_id
    anna = people.users['anna@pulse.demo']
    solved = await make_ticket(people, title='Printer <b>jam</b> on floor 3')
    await tickets.change_status(actor=anna, ticket_id=solved.id, expected_version=solved.version, status='resolved',
                                resolution_code_id=await resolution_code_id(),
                                resolution_text='Cleared the <img src=x onerror=alert(1)> tray')
    this = await make_ticket(people, title='Printer jam again on floor 3')
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{this.reference}')
    body = await related_body(user, 'search-ticket')  # the side column's search, after connecting
    assert isinstance(body, ui.html) and not body.default_slot.children
    assert hit_hrefs(body.content, 'ticket') == [f'/tickets/{solved.reference}']
    assert 'Resolution: Fixed — Cleared the &lt;img src=x onerror=alert(1)&gt; tray' in body.content
    assert '&lt;b&gt;' in body.content and '<b>' not in body.content and '<img' not in body.content
    assert 'resolved' in body.content  # the status badge
    panel = next(e for e in user.client.elements.values() if 'related-panel' in e._markers)
    assert list(panel.descendants()) == [body]  # the expansion holds its block only, whatever it shows


async def test_a_burst_of_changes_in_the_header_box_runs_one_search_at_a_time(user: User, people, monkeypatch) -> None:
    """A socket sent 5,000 changes of the header box in 0.15 s: every one searched (the browser's debounce is the
    browser's), the server was busy for 26 s and other pages waited. Now a box searches once at a time, then once
    more with the newest text; the results are those of the last text."""
    import asyncio
    import json

    from pulse_live.queries import search as search_queries
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, title='Label printer offline')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Replaced the thermocouple today')
    await login(user, 'carl@acme.demo', expect='My requests')
    box = user.find(marker='header-search').elements.pop()
    searched: list[str] = []
    original = search_queries.search

    async def counting(viewer, text, **kwargs):
        searched.append(text)
        await asyncio.sleep(0.05)  # a search takes a moment: the burst arrives meanwhile
        return await original(viewer, text, **kwargs)
    monkeypatch.setattr(search_queries, 'search', counting)
    lid = next(lid for lid, listener in box._event_listeners.items() if listener.type.startswith('update:'))
    from nicegui import core
    sid = next(iter(user.client._socket_to_document_id))
    for n in range(200):
        core.sio.handlers['/']['event'](sid, {'client_id': user.client.id, 'id': box.id, 'listener_id': lid,
                                              'type': box._event_listeners[lid].type,
                                              'args': [json.dumps(f'printer {n}')]})
    core.sio.handlers['/']['event'](sid, {'client_id': user.client.id, 'id': box.id, 'listener_id': lid,
                                          'type': box._event_listeners[lid].type, 'args': [json.dumps('printer')]})
    await until(lambda: 'data-mark="header-search-all"' in box_results(user))
    await asyncio.sleep(0.3)
    assert len(searched) <= 3, searched
    assert searched[-1] == 'printer'  # the newest text is what the box shows results for
    assert ticket.reference in box_results(user)
