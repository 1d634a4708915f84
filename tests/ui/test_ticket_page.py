"""The agent's ticket page with two or three simulated users at once: live messages, fields and team, internal notes
hidden from the customer, uploads and downloads, safe merge of concurrent edits, the priority reason, Take, and the
team's support group and watch switches."""
from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable

import httpx
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import Priority, Queue
from pulse_live.services import chatter
from pulse_live.services import tickets as tickets_service
from tests.factories import make_ticket
from tests.ui.conftest import (
    detail_field,
    detail_shown,
    document_names,
    documents,
    login,
    open_ticket,
    send,
    team_picker,
    until,
)


async def _events(ticket_id):
    from pulse_live.models import User as UserModel
    from pulse_live.queries.tickets import ticket_events
    async with db.session() as s:
        admin = (await s.execute(select(UserModel).where(UserModel.email == 'admin@pulse.demo'))).scalar_one()
    events, _ = await ticket_events(admin, ticket_id, limit=1000)
    return events


async def test_message_from_a_appears_for_b(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    send(anna, 'Toner replaced, please **try again**')
    await anna.should_see(kind=ui.html, content='Toner replaced', retries=30)
    await ben.should_see(kind=ui.html, content='Toner replaced', retries=30)
    assert '<strong>try again</strong>' in ben.find(kind=ui.html, content='Toner replaced').elements.pop().content


async def test_priority_change_updates_badge_and_chatter_for_b(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await ben.should_not_see(marker='priority-badge', content='Major')
    assert detail_shown(anna, 'priority_id') == ('Minor', True)
    await detail_field(anna, 'priority_id')
    anna.find(marker='field-priority_id').click()
    anna.find('Major').click()
    await ben.should_see('Anna Keller changed Priority Minor → Major', retries=30)
    await ben.should_see(marker='priority-badge', content='Major')
    async with db.session() as s:
        major = (await s.execute(select(Priority.id).where(Priority.name == 'Major'))).scalar_one()
    assert detail_shown(ben, 'priority_id') == ('Major', True)  # Ben's field, untouched, shows it
    assert (await detail_field(ben, 'priority_id')).value == major  # and so does its editor


async def test_team_edit_appears_for_other_viewer(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await ben.should_not_see('Daniel Weber')
    await team_picker(anna)  # built when Anna goes into it
    anna.find(marker='team-picker').click()
    anna.find('Daniel Weber <daniel@pulse.demo>').click()
    anna.find(marker='team-add').click()
    await ben.should_see('Anna Keller added Daniel Weber to the team', retries=30)
    await ben.should_see(marker='team-member-name', content='>Daniel Weber<')


async def test_team_picker_whose_people_could_not_be_read_says_so_and_reads_again_on_the_next_focus(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    from pulse_live.errors import UNAVAILABLE_MESSAGE, Unavailable
    from pulse_live.queries import catalog
    ticket = await make_ticket(people)
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    real, calls = catalog.users_matching, []

    async def down_once(text, **kwargs):
        calls.append(text)
        if len(calls) == 1:
            raise Unavailable(UNAVAILABLE_MESSAGE)
        return await real(text, **kwargs)
    monkeypatch.setattr(catalog, 'users_matching', down_once)
    anna.find(marker='team-picker-face').trigger('focusin')
    await anna.should_see(UNAVAILABLE_MESSAGE, retries=30)
    assert calls == [''] and not [e for e in anna.client.elements.values() if 'team-picker' in e._markers]
    picker = await team_picker(anna)  # the face is still there, and going into it again reads the people
    assert len(calls) == 2 and 'Daniel Weber <daniel@pulse.demo>' in picker.options.values()
    assert not [e for e in anna.client.elements.values() if 'team-picker-face' in e._markers]


async def test_internal_note_is_invisible_to_customer(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna, carl = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open(f'/tickets/{ticket.reference}')  # customers are sent to their portal page for the request
    await carl.should_see(marker='request-title')
    await carl.should_see(ticket.reference)
    send(anna, 'Internal: customer is on the old firmware', mode='note')
    await anna.should_see(kind=ui.html, content='Internal: customer is on the old firmware', retries=30)
    send(anna, 'Public: we are on it', mode='reply')
    await carl.should_see(kind=ui.html, content='Public: we are on it', retries=30)
    await carl.should_not_see('Internal: customer is on the old firmware')
    await carl.should_not_see(marker='internal-switch')
    await carl.should_not_see(marker='composer-mode')
    await carl.should_not_see(marker='team-list')
    await carl.open(f'/portal/requests/{ticket.reference}')  # not on a fresh load either
    await carl.should_see('Public: we are on it')
    await carl.should_not_see('Internal: customer is on the old firmware')


async def test_upload_documents_and_authorised_download(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna, tom = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    upload = anna.find(ui.upload).elements.pop()
    await upload.handle_uploads([ui.upload.SmallFileUpload('error log.txt', 'text/plain', b'E-53 paper jam\n'),
                                 ui.upload.SmallFileUpload('page.html', 'text/html', b'<script>alert(1)</script>')])
    await anna.should_see(marker='pending-file')
    send(anna, 'Logs attached')
    await until(lambda: 'data-mark="document"' in documents(anna))
    entry = anna.find(marker='attachment-link').elements.pop()  # the entry that shows the files
    hrefs = {html.unescape(name): href for href, name in
             re.findall(r'<a href="(/attachments/\d+)" target="_blank"[^>]*>([^<]*)</a>', entry.content)}
    assert set(hrefs) == {'error log.txt', 'page.html'}

    cookies = anna.http_client.cookies
    async with httpx.AsyncClient(transport=anna.http_client._transport, base_url='http://test', cookies=cookies) as c:
        text_file = await c.get(hrefs['error log.txt'])
        html_file = await c.get(hrefs['page.html'])
    assert text_file.status_code == 200 and text_file.content == b'E-53 paper jam\n'
    assert html_file.headers['content-disposition'].startswith('attachment')  # never rendered inline
    assert html_file.headers['content-type'] == 'application/octet-stream'

    await login(tom, 'tom@globex.demo', expect='My requests')  # another organisation
    other = await tom.http_client.get(hrefs['error log.txt'])
    assert other.status_code == 404
    anonymous = await httpx.AsyncClient(transport=anna.http_client._transport, base_url='http://test') \
        .get(hrefs['error log.txt'])
    assert anonymous.status_code in (307, 404) and b'E-53' not in anonymous.content


async def test_over_limit_upload_is_refused_on_the_server(user: User, people, monkeypatch) -> None:
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_MAX_UPLOAD_BYTES', '1024')
    reset_settings()
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    upload = user.find(ui.upload).elements.pop()
    # straight to the server, as a crafted request would: the browser-side limit is not involved
    await upload.handle_uploads([ui.upload.SmallFileUpload('big.bin', 'application/octet-stream', b'x' * 5000)])
    await user.should_see('big.bin is too large')
    await user.should_not_see(marker='pending-file')
    # and the service refuses it even if a page let it through
    import pytest

    from pulse_live.errors import ValidationError
    from pulse_live.storage import UploadedFile
    with pytest.raises(ValidationError, match='too large'):
        await chatter.post_message(actor=people.users['anna@pulse.demo'], ticket_id=ticket.id, body='x',
                                   files=[UploadedFile('big.bin', 'application/octet-stream', b'x' * 5000)])


async def test_concurrent_edit_of_same_field_is_refused_with_fresh_value(create_user: Callable[[], User],
                                                                        people) -> None:
    ticket = await make_ticket(people, title='Original title')
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    ben_title = await detail_field(ben, 'title')
    with ben.client:
        ben_title.value = 'Ben was typing this'  # Ben is editing, not saved yet
    anna_title = await detail_field(anna, 'title')
    with anna.client:
        anna_title.value = 'Anna saved first'
    anna.find(marker='field-title').trigger('blur')
    await ben.should_see('Anna Keller changed Title Original title → Anna saved first', retries=30)
    assert ben_title.value == 'Ben was typing this'  # his typing is not wiped by the live update
    ben.find(marker='field-title').trigger('blur')
    await ben.should_see('changed by someone else', retries=30)
    assert ben_title.value == 'Anna saved first'  # the fresh value is shown
    events = [e for e in (await _events(ticket.id)) if e.field == 'title']
    assert [e.new_value for e in events] == ['Anna saved first']  # only what took effect is in the history


async def test_a_field_changed_again_while_its_last_change_is_on_its_way_is_saved_after_it(
        user: User, people, monkeypatch) -> None:
    """On a busy server a save takes a while; the agent changing the same field again meanwhile is not told that
    "someone else" changed it (their own first change was still on its way), and the second change is saved."""
    ticket = await make_ticket(people, title='Typo in the titel')
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    gate, original, calls = asyncio.Event(), tickets_service.update_ticket, []

    async def slow_update(**kwargs):
        calls.append(kwargs['changes'])
        if len(calls) == 1:
            await gate.wait()  # the server is busy with the first change
        return await original(**kwargs)
    monkeypatch.setattr(tickets_service, 'update_ticket', slow_update)
    title = await detail_field(user, 'title')
    with user.client:
        title.value = 'Typo in the title'
    user.find(marker='field-title').trigger('blur')
    await until(lambda: len(calls) == 1)
    with user.client:
        title.value = 'No typo in the title'  # and at once a better one
    user.find(marker='field-title').trigger('blur')
    await asyncio.sleep(0.2)
    gate.set()
    await user.should_see('Anna Keller changed Title Typo in the title → No typo in the title', retries=50)
    await asyncio.sleep(0.3)
    await user.should_not_see('changed by someone else')
    assert not [e for e in user.client.elements.values() if 'kept-title' in e._markers and e.visible]
    assert title.value == 'No typo in the title'
    assert [e.new_value for e in await _events(ticket.id) if e.field == 'title'] == \
        ['Typo in the title', 'No typo in the title']


async def test_edit_of_another_field_merges_safely(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, title='Merge me')
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    ben_desc = await detail_field(ben, 'description')
    with ben.client:
        ben_desc.value = 'Happens on every print job'
    anna_title = await detail_field(anna, 'title')
    with anna.client:
        anna_title.value = 'Merged title'
    anna.find(marker='field-title').trigger('blur')
    await ben.should_see('Anna Keller changed Title Merge me → Merged title', retries=30)
    ben.find(marker='field-description').trigger('blur')
    await anna.should_see('Ben Okafor changed Description — → Happens on every print job', retries=30)


async def test_double_click_on_send_posts_once(user: User, people) -> None:
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    send(user, 'Only once please')
    user.find('Send').click()
    await user.should_see(kind=ui.html, content='Only once please', retries=30)
    assert [e.body for e in await _events(ticket.id) if e.kind == 'message'] == ['Only once please']


async def test_raw_html_in_a_message_is_shown_as_text(user: User, people) -> None:
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    send(user, '<img src=x onerror=alert(1)> [link](javascript:alert(1)) @ben')
    await user.should_see(kind=ui.html, content='onerror', retries=30)
    html = user.find(kind=ui.html, content='onerror').elements.pop().content
    assert '<img' not in html and '&lt;img' in html
    assert 'href="javascript' not in html
    assert '<span class="mention">@ben</span>' in html


async def test_ticket_page_shows_priority_reason_and_takes(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, title='Mail slow')
    anna, ben = create_user(), create_user()
    for user, email in ((anna, 'anna@pulse.demo'), (ben, 'ben@pulse.demo')):
        await login(user, email)
        await user.open(f'/tickets/{ticket.reference}')
        await user.should_see(marker='priority-reason', content='Minor: impact Medium × urgency Medium')
    anna.find(marker='ticket-take').click()
    await ben.should_see('Anna Keller took the ticket', retries=30)
    await ben.should_see('Assignee: Anna Keller', retries=30)
    await ben.should_not_see(marker='ticket-take')


async def test_ticket_page_offers_take_only_to_members_of_its_queue(create_user: Callable[[], User], people) -> None:
    async with db.session() as s:
        second = (await s.execute(select(Queue.id).where(Queue.name == '2nd level'))).scalar_one()
    ticket = await make_ticket(people, title='Database replica lags', queue_id=second)  # Ben works 2nd level, Anna not
    anna, ben = create_user(), create_user()
    for user, email in ((anna, 'anna@pulse.demo'), (ben, 'ben@pulse.demo')):
        await login(user, email)
        await user.open(f'/tickets/{ticket.reference}')
        await user.should_see(marker='work-panel')
    await anna.should_not_see(marker='ticket-take')
    await anna.should_see(marker='ticket-take-locked')
    await ben.should_see(marker='ticket-take')
    await anna.should_see(marker='ticket-assign')  # a manager's way, and assigning others, stay open to her


async def test_the_team_names_the_support_group_once_and_every_watch_switch(user: User, people) -> None:
    ticket = await make_ticket(people, 'Printer on floor 3 is down')
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='team-list')
    await user.should_see('support group · whoever works the ticket')
    await user.should_not_see('support group support group')
    names = [re.search(r'data-member-name>([^<]*)<', e.content).group(1)
             for e in user.find(marker='team-member-name').elements]
    assert 'Pulse Support' in names, names  # the provider's name, once
    assert not any(name.endswith(' support group') for name in names), names
    switches = user.find(marker='watch-switch').elements
    assert switches, 'the team list shows watch switches'
    assert all(s.props.get('aria-label', '').startswith('Notify ') for s in switches)
    assert any(s.props['aria-label'] == 'Notify Carl Jensen' for s in switches)
    assert all(s.props['data-tip'].endswith(('is notified of changes', 'is not notified')) for s in switches)


async def test_the_first_response_holds_header_and_chatter_and_the_side_column_comes_over_the_socket(
        user: User, people) -> None:
    """Opening a ticket: the page the browser gets first has what the first paint shows (header, chatter, composer);
    the side column (SLA, customer, similar tickets, details, team, documents) is built once the page connected."""
    ticket = await make_ticket(people)
    await chatter.post_message(actor=people.users['ben@pulse.demo'], ticket_id=ticket.id, body='Printer on fire')
    await login(user, 'anna@pulse.demo')
    first = await user.http_client.get(f'/tickets/{ticket.reference}')
    assert first.status_code == 200
    assert ticket.reference in first.text and 'Printer on fire' in first.text
    for later in ('Similar tickets and articles', 'Technical details', 'Documents', 'Service level'):
        assert later not in first.text, later
    await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='documents', retries=100)
    for later in ('Similar tickets and articles', 'Technical details', 'Service level'):
        await user.should_see(later)
    await user.should_see(marker='face-title')


async def test_a_change_made_while_the_side_column_is_built_reaches_the_page(create_user: Callable[[], User],
                                                                             people, monkeypatch) -> None:
    """The page follows the ticket from the moment it is built, not only once its side column is there."""
    from pulse_live.queries import catalog
    gate = asyncio.Event()
    ticket_types = catalog.ticket_types

    async def held_ticket_types():  # the side column's first read waits until the changes below were made
        await gate.wait()
        return await ticket_types()
    ticket = await make_ticket(people)
    anna = create_user()
    await login(anna, 'anna@pulse.demo')
    monkeypatch.setattr(catalog, 'ticket_types', held_ticket_types)
    await anna.open(f'/tickets/{ticket.reference}')
    await chatter.post_message(actor=people.users['ben@pulse.demo'], ticket_id=ticket.id, body='Posted meanwhile')
    await tickets_service.update_ticket(actor=people.users['ben@pulse.demo'], ticket_id=ticket.id,
                                        expected_version=ticket.version, changes={'workaround': 'Use the other one'})
    await anna.should_see(kind=ui.html, content='Posted meanwhile', retries=100)
    await anna.should_not_see(marker='documents')
    gate.set()
    await anna.should_see(marker='documents', retries=100)
    await until(lambda: detail_shown(anna, 'workaround') == ('Use the other one', True))


async def test_a_link_to_an_old_entry_keeps_it_on_the_page_when_live_entries_arrive(user: User, people) -> None:
    """``?entry=`` loads the chatter back to an old entry (more than the page otherwise keeps); a live entry must
    not push the entry being read out of the page."""
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await make_ticket(people, 'A long conversation')
    first = await chatter.post_message(actor=ben, ticket_id=ticket.id, body='The very first finding', internal=True)
    for n in range(320):
        await chatter.post_message(actor=ben, ticket_id=ticket.id, body=f'Step {n}', internal=True)
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{ticket.reference}?entry={first.id}')
    await user.should_see('The very first finding', retries=100)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='A new finding', internal=True)
    await user.should_see('A new finding', retries=100)
    await user.should_see('The very first finding')


async def test_a_change_made_while_the_side_column_is_half_built_reaches_its_editors(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    """A change that arrives while the side column is being built (its similar tickets are still being read) is
    shown in the detail fields once it is."""
    from pulse_live.queries import search as search_queries
    gate, reading = asyncio.Event(), asyncio.Event()
    related_to_ticket = search_queries.related_to_ticket

    async def held_related(*args, **kwargs):
        reading.set()
        await gate.wait()
        return await related_to_ticket(*args, **kwargs)
    ticket = await make_ticket(people)
    anna = create_user()
    await login(anna, 'anna@pulse.demo')
    monkeypatch.setattr(search_queries, 'related_to_ticket', held_related)
    await anna.open(f'/tickets/{ticket.reference}')
    await asyncio.wait_for(reading.wait(), 30)  # the side column is being built: its similar tickets are read
    ben = people.users['ben@pulse.demo']
    await tickets_service.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                        changes={'workaround': 'Use the other one'})
    await chatter.post_message(actor=ben, ticket_id=ticket.id, body='After the change')
    await anna.should_see(kind=ui.html, content='After the change', retries=100)  # the change reached the page
    gate.set()
    await anna.should_see(marker='documents', retries=100)
    await until(lambda: detail_shown(anna, 'workaround') == ('Use the other one', True))


async def test_files_of_an_entry_read_while_the_side_column_comes_reach_its_documents(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    """A live entry with a file: the documents are read while the side column is still to come, and the read ends
    after it came. The list shown must be the one read then (a stand-in got it before, and the file never showed)."""
    from pulse_live import storage
    from pulse_live.queries import search as search_queries
    from pulse_live.queries import tickets as ticket_queries
    side_gate, side_reading = asyncio.Event(), asyncio.Event()
    files_gate, files_reading = asyncio.Event(), asyncio.Event()
    related_to_ticket, ticket_attachments = search_queries.related_to_ticket, ticket_queries.ticket_attachments

    async def held_related(*args, **kwargs):
        side_reading.set()
        await side_gate.wait()
        return await related_to_ticket(*args, **kwargs)

    async def held_ticket_attachments(*args, **kwargs):
        files_reading.set()
        await files_gate.wait()
        return await ticket_attachments(*args, **kwargs)
    ticket = await make_ticket(people)
    anna = create_user()
    await login(anna, 'anna@pulse.demo')
    monkeypatch.setattr(search_queries, 'related_to_ticket', held_related)
    monkeypatch.setattr(ticket_queries, 'ticket_attachments', held_ticket_attachments)
    await anna.open(f'/tickets/{ticket.reference}')
    await asyncio.wait_for(side_reading.wait(), 30)  # the side column is being built
    await chatter.post_message(actor=people.users['ben@pulse.demo'], ticket_id=ticket.id, body='The log',
                               files=[storage.UploadedFile('printer.log', 'text/plain', b'E-53')])
    await asyncio.wait_for(files_reading.wait(), 30)  # the page reads the documents again
    side_gate.set()
    await anna.should_see(marker='documents', retries=100)  # the side column came, the documents still being read
    files_gate.set()
    await until(lambda: 'printer.log' in document_names(anna))


async def test_a_ticket_page_that_never_connects_is_nobody_viewing(user: User, people) -> None:
    """A page fetched but never connected (a prefetch, a script, a link preview) stayed "viewing" until NiceGUI
    pruned it (60-70 s): the planner counted its user as looking at the ticket and told them nothing."""
    from pulse_live import presence
    ticket = await make_ticket(people)
    await login(user, 'anna@pulse.demo')
    anna_id = people.users['anna@pulse.demo'].id
    response = await user.http_client.get(f'/tickets/{ticket.reference}')
    assert response.status_code == 200 and ticket.reference in response.text
    await asyncio.sleep(0.3)
    assert anna_id not in presence.viewing(ticket.id)
    await user.open(f'/tickets/{ticket.reference}')  # a page that connects views it
    await until(lambda: anna_id in presence.viewing(ticket.id))


async def test_a_title_written_to_break_out_of_the_page_is_sent_escaped(user: User, people) -> None:
    """The page's elements go into its HTML as escaped JSON (components/render.install_fast_page_escape does NiceGUI's
    escaping faster): a title that closes the script, opens a template placeholder or a tag reaches the page as text."""
    hostile = '</script><script>alert(`${document.cookie}`)</script> & <b>bold</b>'
    ticket = await make_ticket(people, title=hostile)
    await login(user, 'anna@pulse.demo')
    page = await user.http_client.get(f'/tickets/{ticket.reference}')
    assert page.status_code == 200
    assert 'alert(' in page.text  # the title is in the page …
    for raw in ('<script>alert', '</script><script>', '`${', '<b>bold'):
        assert raw not in page.text, raw  # … never as markup or a template placeholder
    assert '&lt;/script&gt;&lt;script&gt;alert(&#96;&#36;{document.cookie}&#96;)&lt;/script&gt; &amp; ' \
           '&lt;b&gt;bold&lt;/b&gt;' in page.text
    await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='ticket-title', content=hostile)  # and shows as written


async def test_repeated_clicks_build_one_assign_dialog_which_goes_when_closed(user: User, people) -> None:
    """Each click on "Assign…" built another dialog with every agent as a choice, never removed: a script's 600
    clicks took the server from 257 MB to 783 MB. One is open at a time now, and a closed one leaves the page."""
    from nicegui import ui as nicegui_ui
    ticket = await make_ticket(people, title='Scanner jams')
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='ticket-assign')

    def dialogs() -> list:
        return [e for e in user.client.elements.values() if isinstance(e, nicegui_ui.dialog)]
    before = len(dialogs())
    for _ in range(5):
        user.find(marker='ticket-assign').click()
    await user.should_see(marker='assign-agent')
    await until(lambda: len(dialogs()) == before + 1)
    await asyncio.sleep(0.2)
    assert len(dialogs()) == before + 1
    [dialog] = [d for d in dialogs() if d.value]
    dialog.close()
    await until(lambda: len(dialogs()) == before)
    user.find(marker='ticket-assign').click()  # and a new one opens after it
    await until(lambda: len(dialogs()) == before + 1)


async def test_the_documents_list_shows_the_newest_and_says_older_ones_are_in_the_chatter(user: User, people) -> None:
    """Every file of a ticket was one list: 5,000 files (a customer posts 10 a message) made each opening of the
    page 30,000 elements and ~2.6 s of CPU, and each new file rebuilt it all on every open page of the ticket."""
    from pulse_live.queries.tickets import DOCUMENTS_SHOWN
    from pulse_live.storage import UploadedFile
    ticket = await make_ticket(people, title='Many scans')
    anna = people.users['anna@pulse.demo']
    count = DOCUMENTS_SHOWN + 7
    for start in range(0, count, 10):
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'scans from {start}', files=[
            UploadedFile(name=f'scan-{n:03d}.pdf', content_type='application/pdf', data=f'%PDF {n}'.encode())
            for n in range(start, min(start + 10, count))])
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{ticket.reference}')
    await until(lambda: 'data-mark="documents-older"' in documents(user))
    names = document_names(user)
    assert names == [f'scan-{n:03d}.pdf' for n in range(count - DOCUMENTS_SHOWN, count)]  # the newest, in order
    assert len([e for e in user.client.elements.values() if 'documents' in e._markers]) == 1  # one element for all


def test_the_documents_list_is_markup_with_every_name_escaped() -> None:
    """The list is one static element (components/documents.py); a file's and an uploader's names are text."""
    from datetime import datetime

    from components.documents import documents_html
    from pulse_live.queries.tickets import AttachmentView
    hostile = AttachmentView(id=7, filename='<img src=x onerror=alert(1)>.txt', content_type='text/plain', size=2048,
                             uploader='Eve "<b>boss</b>"', created_at=datetime(2026, 12, 6, 9, 30), is_internal=True)
    content = documents_html([hostile])
    assert '<img' not in content and '<b>' not in content
    assert '&lt;img src=x onerror=alert(1)&gt;.txt</a>' in content
    assert 'Eve &quot;&lt;b&gt;boss&lt;/b&gt;&quot;' in content
    assert 'href="/attachments/7" target="_blank"' in content and '>lock</i>' in content and '2.0 KB' in content
    assert 'No documents yet.' in documents_html([]) and 'No documents yet.' not in documents_html(None)


async def test_detail_fields_are_faces_until_the_user_goes_into_one(create_user: Callable[[], User], people) -> None:
    """The ticket page shows each detail field as its face (components/details.py): no editor, no select's options
    are built or sent until the user goes into the field. A face shows live changes; going into it builds that one
    editor, in its place, with the value of now."""
    ticket = await make_ticket(people, title='Printer <b>jams</b> & "smears"', description='Line one\nLine two')
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    editors = [e for e in anna.client.elements.values() if any(m.startswith('field-') for m in e._markers)]
    assert editors == []
    assert not [e for e in anna.client.elements.values() if 'team-picker' in e._markers]  # the team's: a face too
    details = next(e for e in anna.client.elements.values() if 'pl-details' in e.classes)
    assert {type(e).__name__ for e in details.descendants(include_self=False)} == {'Expansion', 'Html'}  # faces
    assert detail_shown(anna, 'title') == ('Printer <b>jams</b> & "smears"', True)  # as typed, escaped in the markup
    assert '<b>' not in anna.find(marker='face-title').elements.pop().content
    assert detail_shown(anna, 'description') == ('Line one\nLine two', True)
    assert detail_shown(anna, 'priority_id') == ('Minor', True)
    assert detail_shown(anna, 'assignee_id') == ('', True)

    # a change made elsewhere shows in the face
    await tickets_service.update_ticket(actor=people.users['ben@pulse.demo'], ticket_id=ticket.id,
                                        expected_version=ticket.version, changes={'title': 'Printer jams'})
    await until(lambda: detail_shown(anna, 'title') == ('Printer jams', True))

    # going into the title builds its editor where the face was, with the title of now; the others stay faces
    face = anna.find(marker='face-title').elements.pop()
    slot = face.parent_slot
    index = slot.children.index(face)
    title = await detail_field(anna, 'title')
    assert title.value == 'Printer jams' and slot.children.index(title) == index and face.is_deleted
    assert detail_shown(anna, 'title') is None and detail_shown(anna, 'description') == ('Line one\nLine two', True)
    with anna.client:
        title.value = 'Printer jams on tray 2'
    anna.find(marker='field-title').trigger('blur')
    await anna.should_see('Anna Keller changed Title Printer jams → Printer jams on tray 2', retries=50)
    picker = await team_picker(anna)  # its people are read when it is built
    assert 'Daniel Weber <daniel@pulse.demo>' in picker.options.values()
