"""The customer portal and customer identification, with simulated users (several at once): new requests (and
NiceGUI's upload route refusing an oversize upload before reading it), the request lists following requests that
become the user's later, a colleague on the team following a request live, reopening with a reason."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select, update

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.models import (
    Attachment,
    ConfigurationItem,
    EventKind,
    Organisation,
    ResolutionCode,
    Service,
    Ticket,
    TicketEvent,
)
from pulse_live.models import User as UserRow
from pulse_live.services import chatter, team, tickets
from tests.factories import load_ticket
from tests.ui.conftest import document_names, documents, login, send, until


async def _latest_ticket() -> Ticket:
    async with db.session() as s:
        return (await s.execute(select(Ticket).order_by(Ticket.id.desc()).limit(1))).scalar_one()


async def _table_shows(user: User, reference: str, *, marker: str | None = None) -> None:
    """Wait until a table on the page has a row with this reference (table cells are not elements)."""
    for _ in range(100):
        tables = user.find(marker=marker).elements if marker else user.find(ui.table).elements
        if any(row.get('reference') == reference for t in tables for row in t.rows):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f'{reference} never appeared in the table')


def _set(user: User, marker: str, value) -> None:
    with user.client:
        user.find(marker=marker).elements.pop().value = value


def carl_id(people) -> int:
    return people.users['carl@acme.demo'].id


async def _messages(ticket_id: int) -> list[str]:
    async with db.session() as s:
        return list((await s.execute(select(TicketEvent.body).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.kind == EventKind.MESSAGE))).scalars())


async def _reopen_dialog_on_resolved_request(user: User, people, title: str, *, reason: str) -> Ticket:
    """Anna resolves Carl's new request; Carl opens it in the portal, asks to reopen it and types his reason."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).limit(1))).scalar_one()
    t = await tickets.create_ticket(actor=anna, title=title, customer_id=carl.id)
    t = await tickets.change_status(actor=anna, ticket_id=t.id, expected_version=t.version, status='resolved',
                                    resolution_code_id=code, resolution_text='Done on our side')
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{t.reference}')
    user.find(marker='reopen-request').click()
    await user.should_see(marker='reopen-reason')
    user.find(marker='reopen-reason').type(reason)
    return t


async def test_customer_opens_a_request_agent_sees_it_live_and_they_talk(create_user: Callable[[], User],
                                                                         people) -> None:
    carl, anna = create_user(), create_user()
    await login(anna, 'anna@pulse.demo')
    await anna.open('/tickets')
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open('/portal/new')
    carl.find(marker='request-subject').type('Cannot print invoices')
    carl.find(marker='request-description').type('The printer says **E-53**.')
    async with db.session() as s:
        printing = (await s.execute(select(Service.id).where(Service.name == 'Printing'))).scalar_one()
    _set(carl, 'request-service', printing)
    _set(carl, 'request-urgency', 'high')
    _set(carl, 'request-impact', 'medium')
    upload = carl.find(ui.upload).elements.pop()
    await upload.handle_uploads([ui.upload.SmallFileUpload('error.txt', 'text/plain', b'E-53 on tray 2')])
    await carl.should_see(marker='picked-file')
    carl.find(marker='send-request').click()
    await carl.should_see(marker='request-title', retries=50)
    ticket = await _latest_ticket()
    await carl.should_see(ticket.reference)
    await carl.should_see(marker='request-status', content='Received')
    assert (ticket.title, ticket.customer_id, ticket.channel) == ('Cannot print invoices', carl_id(people), 'portal')
    assert (ticket.urgency, ticket.impact, ticket.service_id) == ('high', 'medium', printing)
    await until(lambda: 'data-mark="document"' in documents(carl))  # the file is on the request

    # the agent's list shows it without a reload
    await anna.should_see(ticket.reference, retries=100)

    # the agent answers publicly and writes an internal note; the customer sees the reply live, never the note
    await anna.open(f'/tickets/{ticket.reference}')
    send(anna, 'Internal: tray 2 sensor is known to be faulty', mode='note')
    await anna.should_see(kind=ui.html, content='Internal: tray 2', retries=30)
    send(anna, 'Hello Carl, a technician is on the way.', mode='reply')
    await carl.should_see(kind=ui.html, content='a technician is on the way', retries=50)
    await carl.should_not_see('Internal: tray 2')
    await carl.should_not_see(marker='internal-badge')

    # the customer answers with a file; the agent sees it live and can download it
    upload = carl.find(ui.upload).elements.pop()  # the composer's (the form is gone)
    await upload.handle_uploads([ui.upload.SmallFileUpload('photo.txt', 'text/plain', b'photo of the display')])
    send(carl, 'Here is a photo')
    await anna.should_see(kind=ui.html, content='Here is a photo', retries=50)
    await until(lambda: 'photo.txt' in document_names(anna))
    async with db.session() as s:
        att = (await s.execute(select(Attachment).where(Attachment.filename == 'photo.txt'))).scalar_one()
    response = await anna.http_client.get(f'/attachments/{att.id}')
    assert response.status_code == 200 and response.content == b'photo of the display'


async def test_customer_page_shows_only_public_side(create_user: Callable[[], User], people) -> None:
    anna_row = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna_row, title='VPN', customer_id=carl_id(people),
                                         technical_details='Cert serial 0xDEADBEEF')
    await tickets.update_ticket(actor=anna_row, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'assignee_id': people.users['ben@pulse.demo'].id})
    carl = create_user()
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open(f'/tickets/{ticket.reference}')  # the agents' address sends him to the portal page
    await carl.should_see(marker='request-progress')
    for hidden in ('0xDEADBEEF', 'Ben Okafor', 'Assignee', 'Priority', 'Queue', 'Team', 'Pulse Support'):
        await carl.should_not_see(hidden)


async def test_customer_confirms_or_reopens_a_resolution(create_user: Callable[[], User], people) -> None:
    anna_row = people.users['anna@pulse.demo']
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).limit(1))).scalar_one()
    first = await tickets.create_ticket(actor=anna_row, title='Outlook asks for password', customer_id=carl_id(people))
    second = await tickets.create_ticket(actor=anna_row, title='Mailbox full', customer_id=carl_id(people))
    for t in (first, second):
        await tickets.change_status(actor=anna_row, ticket_id=t.id, expected_version=t.version, status='resolved',
                                    resolution_code_id=code, resolution_text='Removed saved credentials')
    carl = create_user()
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open(f'/portal/requests/{first.reference}')
    await carl.should_see(marker='request-status', content='Solved')
    await carl.should_see('Removed saved credentials')
    carl.find(marker='confirm-resolution').click()
    await carl.should_see('This request is closed', retries=30)
    await carl.should_not_see(marker='composer')  # removed, not just hidden
    await carl.should_not_see(marker='reopen-request')
    assert (await load_ticket(first.id)).status == 'closed'

    await carl.open(f'/portal/requests/{second.reference}')
    carl.find(marker='reopen-request').click()
    await carl.should_see(marker='reopen-confirm')
    carl.find(marker='reopen-confirm').click()
    await carl.should_see('Please tell us what is still not working')
    carl.find(marker='reopen-reason').type('Still full after the clean-up')
    carl.find(marker='reopen-confirm').click()
    await carl.should_see(marker='request-status', content='Received')  # the badge (the progress line always
    await carl.should_see(kind=ui.html, content='Still full after the clean-up')  # names every step)
    assert (await load_ticket(second.id)).status == 'open'


async def test_reopen_button_disappears_after_the_window(user: User, people, monkeypatch) -> None:
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_REOPEN_DAYS', '3')
    reset_settings()
    anna_row = people.users['anna@pulse.demo']
    t = await tickets.create_ticket(actor=anna_row, title='Old one', customer_id=carl_id(people))
    t = await tickets.change_status(actor=anna_row, ticket_id=t.id, expected_version=t.version, status='resolved',
                                    resolution_code_id=1, resolution_text='Done')
    from datetime import timedelta
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(resolved_at=t.resolved_at - timedelta(days=4)))
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{t.reference}')
    await user.should_see(marker='confirm-resolution')
    await user.should_not_see(marker='reopen-request')
    await user.should_see('more than 3 days ago')


async def test_org_admin_sees_the_organisations_requests(create_user: Callable[[], User], people) -> None:
    eva_row = people.users['eva@acme.demo']
    evas = await tickets.create_ticket(actor=eva_row, title='Eva: Salesforce sync')
    carls = await tickets.create_ticket(actor=people.users['carl@acme.demo'], title='Carl: ERP login')
    carl, eva = create_user(), create_user()
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.should_see(marker='tab-organisation')
    mine, organisation = sorted(carl.find(marker='requests').elements, key=lambda t: len(t.rows))  # (a set)
    assert [r['reference'] for r in mine.rows] == [carls.reference]
    assert {r['reference'] for r in organisation.rows} == {carls.reference, evas.reference}
    assert {r['requester'] for r in organisation.rows} == {'Carl Jensen', 'Eva Lindqvist'}
    await login(eva, 'eva@acme.demo', expect='My requests')
    await _table_shows(eva, evas.reference)
    assert [r['reference'] for r in eva.find(marker='requests').elements.pop().rows] == [evas.reference]
    await eva.should_not_see(marker='tab-organisation')
    # her list is live: a reply by an agent moves her request up, a new one by an agent for her appears
    new = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Phone call: headset',
                                      customer_id=eva_row.id, channel='phone')
    await _table_shows(eva, new.reference)


async def test_identification_form_finds_the_caller_and_fills_in(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    _set(user, 'caller-search', '0045 33 12 34 56')  # as the browser sends it: once, after the debounce
    await user.should_see(marker='caller-hit', retries=30)
    await user.should_see('Carl Jensen')
    user.find(marker='caller-hit').click()
    await user.should_see(marker='caller-card', retries=30)
    for text in ('carl@acme.demo', '+45 33 12 34 56', 'Copenhagen', 'Finance', 'ACME Corp', 'Gold',
                 'Laptop CPH-LT-0231', 'Cisco AnyConnect 4.10', 'Windows 11 Pro 23H2', 'Printer floor 3'):
        await user.should_see(text)
    user.find(marker='new-title').type('VPN drops every 10 minutes')
    _set(user, 'new-channel', 'walk_in')
    user.find(marker='new-create').click()
    await user.should_see(marker='ticket-title', retries=50)  # the new ticket's page
    ticket = await _latest_ticket()
    assert (ticket.customer_id, ticket.channel, ticket.organisation_id) == \
        (carl_id(people), 'walk_in', people.orgs['acme'])


async def test_identification_by_name_id_and_recent_tickets(user: User, people) -> None:
    tom = people.users['tom@globex.demo']
    old = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Scanner jam', customer_id=tom.id)
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    _set(user, 'caller-search', str(tom.id))  # as the browser sends it: once, after the debounce
    await user.should_see('Tom Baker', retries=30)
    _set(user, 'caller-search', 'bak to')
    await user.should_see(marker='caller-hit', retries=30)
    user.find(marker='caller-hit').click()
    await user.should_see(marker='caller-card', retries=30)
    await user.should_see(old.reference)
    await user.should_see('Scanner jam')
    await user.should_see('Standard')  # Globex's tier
    user.find(marker='caller-change').click()
    await user.should_see(marker='caller-search')


async def test_unknown_caller_is_created_inline(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    _set(user, 'caller-search', '+41 44 123 45 67')
    await user.should_see(marker='caller-none', retries=30)
    user.find(marker='caller-new').click()
    await user.should_see(marker='customer-save', retries=30)
    assert user.find(marker='customer-phone').elements.pop().value == '+41 44 123 45 67'
    user.find(marker='customer-name').type('Petra Novak')
    user.find(marker='customer-email').type('not-an-email')
    _set(user, 'customer-organisation', people.orgs['globex'])
    user.find(marker='customer-save').click()
    await user.should_see('not a valid e-mail address')  # validated, nothing stored
    user.find(marker='customer-email').clear()
    user.find(marker='customer-email').type('petra.novak@globex.demo')
    user.find(marker='customer-save').click()
    await user.should_see(marker='caller-card', retries=30)
    await user.should_see('petra.novak@globex.demo')
    async with db.session() as s:
        petra = (await s.execute(select(UserRow).where(UserRow.email == 'petra.novak@globex.demo'))).scalar_one()
    assert (petra.role, petra.organisation_id, petra.phone) == ('customer', people.orgs['globex'], '+41 44 123 45 67')


async def test_profile_page_and_configuration_items(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open(f'/customers/{carl_id(people)}')
    await user.should_see('Laptop CPH-LT-0231')
    user.find(marker='item-add').click()
    await user.should_see(marker='item-name')
    user.find(marker='item-name').type('Headset CPH-H-7')
    user.find(marker='item-model').type('Jabra Evolve2 65')
    user.find(marker='item-serial').type('JB-778')
    user.find(marker='item-save').click()
    await user.should_see('Headset CPH-H-7', retries=30)
    await user.should_see('Jabra Evolve2 65 · S/N JB-778')
    async with db.session() as s:
        item = (await s.execute(select(ConfigurationItem).where(ConfigurationItem.name == 'Headset CPH-H-7'))) \
            .scalar_one()
    assert item.user_id == carl_id(people) and item.organisation_id == people.orgs['acme']


async def test_directory_pages_for_managers_and_admins(create_user: Callable[[], User], people) -> None:
    maria, ada = create_user(), create_user()
    await login(maria, 'maria@pulse.demo')
    await maria.open('/organisations')
    maria.find(marker='org-new').click()
    await maria.should_see(marker='org-name')
    maria.find(marker='org-name').type('Initech')
    maria.find(marker='org-save').click()
    await maria.should_see(kind=ui.link, content='Initech', retries=30)
    async with db.session() as s:
        assert (await s.execute(select(Organisation.tier).where(Organisation.name == 'Initech'))).scalar_one() == \
            'standard'
    await maria.open('/admin/services')  # admins only
    await maria.should_not_see(marker='service-new')

    await login(ada, 'admin@pulse.demo')
    await ada.open('/admin/services')
    ada.find(marker='service-new').click()
    await ada.should_see(marker='service-name')
    ada.find(marker='service-name').type('VPN')
    ada.find(marker='service-save').click()
    await ada.should_see('A service named VPN exists already')
    ada.find(marker='service-name').clear()
    ada.find(marker='service-name').type('Telephony')
    ada.find(marker='service-save').click()
    await ada.should_see(kind=ui.label, content='Telephony', retries=30)
    await ada.open('/customers')
    table = ada.find(marker='customers-table').elements.pop()
    assert {'Carl Jensen (org admin)', 'Eva Lindqvist', 'Tom Baker'} <= {r['name'] for r in table.rows}
    ada.find(marker='customer-search').type('+45 33 12 34 57')
    for _ in range(100):
        if [r['name'] for r in table.rows] == ['Eva Lindqvist']:
            break
        await asyncio.sleep(0.05)
    assert [r['name'] for r in table.rows] == ['Eva Lindqvist']


async def test_message_to_a_closed_request_is_impossible_from_the_page(user: User, people) -> None:
    carl_row = people.users['carl@acme.demo']
    t = await tickets.create_ticket(actor=carl_row, title='Done already')
    await chatter.post_message(actor=carl_row, ticket_id=t.id, body='first')
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(status='closed'))
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{t.reference}')
    await user.should_see('This request is closed')
    await user.should_not_see(marker='composer')


async def test_typing_fast_shows_the_results_of_the_last_text(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    user.find(marker='caller-search').type('eva@acme')  # one search per keystroke, answers may overtake each other
    await user.should_see('Eva Lindqvist', retries=30)
    await asyncio.sleep(0.3)
    await user.should_not_see('Carl Jensen')  # an older answer ('e', 'ev'…) never replaces the newest
    assert len(user.find(marker='caller-hit').elements) == 1


async def test_colleague_follows_the_request_until_taken_off_the_team(user: User, people) -> None:
    anna, carl, eva = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'eva@acme.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Invoices do not print', customer_id=carl.id)
    member = await team.add_member(actor=anna, ticket_id=ticket.id, user_id=eva.id)

    await login(user, 'eva@acme.demo', expect='My requests')
    await _table_shows(user, ticket.reference)  # listed under "Mine"
    await user.open(f'/portal/requests/{ticket.reference}')
    await user.should_see(marker='request-title', content='Invoices do not print')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='A technician comes at 14:00')
    await user.should_see(kind=ui.html, content='A technician comes at 14:00')

    await team.remove_member(actor=anna, ticket_id=ticket.id, member_id=member.id)
    await user.should_see('You no longer have access to this request.')
    await user.should_not_see(marker='request-title')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Only for Carl from now on')
    await user.should_not_see(kind=ui.html, content='Only for Carl from now on')
    response = await user.http_client.get(f'/portal/requests/{ticket.reference}')
    assert response.status_code == 404


async def test_portal_list_shows_a_request_once_the_user_becomes_its_customer(user: User, people) -> None:
    anna, eva = people.users['anna@pulse.demo'], people.users['eva@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Phoned in for Eva')  # nobody's yet
    await login(user, 'eva@acme.demo', expect='My requests')
    await user.should_see(marker='requests')
    await asyncio.sleep(0.3)
    assert not [r for t in user.find(marker='requests').elements for r in t.rows]

    await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'customer_id': eva.id})
    await _table_shows(user, ticket.reference, marker='requests')  # live, without reloading


async def test_portal_list_shows_a_request_once_the_user_is_put_on_its_team(user: User, people) -> None:
    anna, carl, eva = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'eva@acme.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Shared printer jams', customer_id=carl.id)
    await login(user, 'eva@acme.demo', expect='My requests')
    await user.should_see(marker='requests')
    await asyncio.sleep(0.3)
    assert not [r for t in user.find(marker='requests').elements for r in t.rows]

    await team.add_member(actor=anna, ticket_id=ticket.id, user_id=eva.id)
    await _table_shows(user, ticket.reference, marker='requests')


async def test_a_refused_reopen_posts_no_message(user: User, people, monkeypatch) -> None:
    monkeypatch.setenv('PULSE_REOPEN_DAYS', '3')
    reset_settings()
    t = await _reopen_dialog_on_resolved_request(user, people, 'Mailbox full', reason='Still full')

    # meanwhile the reopen period runs out (the page still offers the button)
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == t.id).values(resolved_at=t.resolved_at - timedelta(days=4)))
    for _ in range(2):  # an impatient second click must not post anything either
        user.find(marker='reopen-confirm').click()
        await user.should_see('can no longer be reopened')
    await asyncio.sleep(0.3)
    assert await _messages(t.id) == []
    async with db.session() as s:
        assert (await s.get(Ticket, t.id)).status == 'resolved'
        assert (await s.execute(select(func.count(TicketEvent.id)).where(
            TicketEvent.ticket_id == t.id, TicketEvent.kind == EventKind.MESSAGE))).scalar_one() == 0


async def test_reopen_changes_the_status_and_posts_the_reason_once(user: User, people) -> None:
    t = await _reopen_dialog_on_resolved_request(user, people, 'VPN drops', reason='Drops again every hour')
    user.find(marker='reopen-confirm').click()
    await user.should_see(marker='request-status', content='Received')
    await user.should_see(kind=ui.html, content='Drops again every hour')
    assert await _messages(t.id) == ['Drops again every hour']


async def test_an_oversize_upload_is_refused_before_it_is_read(user: User, people, monkeypatch) -> None:
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open('/portal/new')
    upload = user.find(ui.upload).elements.pop()
    url = upload.props['url']
    assert url.startswith('/_nicegui/client/') and '/upload/' in url

    monkeypatch.setenv('PULSE_MAX_UPLOAD_BYTES', '1000')
    monkeypatch.setenv('PULSE_MAX_UPLOAD_FILES', '2')
    reset_settings()
    from pulse_live.upload_limit import request_limit
    too_much = b'x' * (request_limit() + 1)
    response = await user.http_client.post(url, files={'file': ('big.log', too_much, 'text/plain')})
    assert response.status_code == 413
    assert 'too large' in response.json()['detail']

    sent = 0

    async def endless():  # no Content-Length: the body is counted as it arrives and cut off
        nonlocal sent
        boundary = b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.log"\r\n\r\n'
        yield boundary
        for _ in range(10_000):
            sent += 4096
            yield b'x' * 4096
    response = await user.http_client.post(url, content=endless(),
                                           headers={'Content-Type': 'multipart/form-data; boundary=b0undary'})
    assert response.status_code == 413
    assert sent < request_limit() + 3 * 4096  # not read to the end

    fine = await user.http_client.post(url, files={'file': ('small.log', b'E-53', 'text/plain')})
    assert fine.status_code == 200
    await user.should_see(marker='picked-file')  # the small file arrived as usual


async def test_a_double_click_on_send_opens_one_request(user: User, people) -> None:
    """Two clicks on "Send request" before the first one's answer: one request, not two."""
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open('/portal/new')
    user.find(marker='request-subject').type('Scanner jams on every page')
    user.find(marker='request-description').type('Since this morning.')
    async with db.session() as s:
        before = (await s.execute(select(func.count(Ticket.id)))).scalar_one()
    send_button = user.find(marker='send-request')
    send_button.click()
    send_button.click()  # the second click arrives while the first is being handled
    await user.should_see(marker='request-title', retries=50)
    await asyncio.sleep(0.5)  # a second create, if any, has committed by now
    async with db.session() as s:
        titles = (await s.execute(select(Ticket.title).order_by(Ticket.id.desc()).limit(3))).scalars().all()
        after = (await s.execute(select(func.count(Ticket.id)))).scalar_one()
    assert after == before + 1 and titles.count('Scanner jams on every page') == 1


async def test_an_entry_link_to_an_internal_note_shows_the_request_without_the_note(user: User, people) -> None:
    """``?entry=`` naming an internal note (guessed, or from an agent's link): the request opens as usual, the note
    is neither loaded nor landed on; an entry of the request the customer may see is."""
    carl_row, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    t = await tickets.create_ticket(actor=carl_row, title='Screen flickers')
    reply = await chatter.post_message(actor=anna, ticket_id=t.id, body='Which cable do you use?')
    note = await chatter.post_message(actor=anna, ticket_id=t.id, body='Probably the dock again', internal=True)
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{t.reference}?entry={note.id}')
    await user.should_see(marker='request-title')
    await user.should_see('Which cable do you use?')
    await user.should_not_see('Probably the dock again')
    await user.open(f'/portal/requests/{t.reference.lower()}?entry={reply.id}')  # redirected, the entry kept
    await user.should_see(marker='request-title')
    await user.should_see('Which cable do you use?')


async def test_saving_a_new_organisation_shows_it_in_the_list(user: User, people) -> None:
    """The dialog goes a moment after it closed (components/dialogs.py); what its Save does after closing it —
    going to the list — runs in it meanwhile."""
    await login(user, 'maria@pulse.demo')
    await user.open('/organisations')
    user.find(marker='org-new').click()
    await user.should_see(marker='org-name')
    user.find(marker='org-name').type('Initech')
    user.find(marker='org-save').click()
    await user.should_see('Initech', retries=30)
    await user.should_not_see(marker='org-name')
