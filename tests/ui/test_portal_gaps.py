"""Gaps found by an audit, through the real app: deactivated customers in the directory, the portal list following
requests that become the user's later, a refused reopen posting nothing, and the upload size limit on NiceGUI's
upload route."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select, update

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.models import EventKind, ResolutionCode, Ticket, TicketEvent
from pulse_live.services import customers, team, tickets
from tests.ui.conftest import login
from tests.ui.test_portal import _table_shows


def _directory(user: User) -> dict[int, dict]:
    return {row['id']: row for row in user.find(marker='customers-table').elements.pop().rows}


async def _directory_shows(user: User, person_id: int, present: bool = True) -> dict[int, dict]:
    for _ in range(100):
        rows = _directory(user)
        if (person_id in rows) == present:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f'person {person_id} {"never appeared" if present else "stayed"} in the directory')


async def test_deactivated_customer_is_listed_with_show_inactive(user: User, people) -> None:
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    await customers.save_customer(actor=anna, user_id=tom.id, email=tom.email, display_name=tom.display_name,
                                  organisation_id=tom.organisation_id, phone=tom.phone, is_active=False)
    await login(user, 'anna@pulse.demo')
    await user.open('/customers')
    await user.should_see(marker='customers-inactive')
    rows = await _directory_shows(user, people.users['carl@acme.demo'].id)
    assert tom.id not in rows

    user.find(marker='customers-inactive').click()  # "Show inactive"
    rows = await _directory_shows(user, tom.id)
    assert rows[tom.id]['active'] is False  # the name cell shows an "inactive" badge for these rows
    assert all(row['active'] for pid, row in rows.items() if pid != tom.id)
    table = user.find(marker='customers-table').elements.pop()
    assert 'inactive</q-badge>' in table.slots['body-cell-name'].template

    user.find(marker='customer-search').type('tom@globex')  # searching finds them too
    await _directory_shows(user, people.users['carl@acme.demo'].id, present=False)
    assert list(_directory(user)) == [tom.id]

    await user.open('/customers?inactive=true&q=tom')  # the address keeps the choice
    await _directory_shows(user, tom.id)


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
