"""Log a call (services/calls.py): a chatter entry of its own kind with direction, duration, caller and note; checked
input; written like every ticket change (history row by the acting user, live, told by the planner); staff only, and
never shown or told to the customer."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.events import TicketChanged
from pulse_live.models import EventKind, MailOutbox, Notification, ResolutionCode
from pulse_live.queries import portal
from pulse_live.queries.tickets import ticket_events
from pulse_live.services import calls, tickets
from tests.factories import load_ticket, make_ticket
from tests.helpers import history

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online: the planner writes mails


@pytest.mark.parametrize(('typed', 'seconds'), [('12', 720), ('12:30', 750), (' 0:45 ', 45), ('1:05', 65),
                                                ('1439:59', 86399), (90, 90)])
def test_a_duration_is_minutes_or_minutes_and_seconds(typed, seconds) -> None:
    assert calls.parse_duration(typed) == seconds


@pytest.mark.parametrize(('typed', 'message'), [('', 'how long'), ('0', 'more than 0'), ('0:00', 'more than 0'),
                                                ('1440', 'less than 24 hours'), ('99999:00', 'less than 24 hours'),
                                                (86400, 'less than 24 hours'), (-5, 'more than 0'),
                                                ('12:75', 'not a duration'), ('ten', 'not a duration'),
                                                ('-3', 'not a duration'), ('1:2:3', 'not a duration'),
                                                (True, 'minutes')])
def test_a_duration_that_is_nothing_a_day_or_more_or_no_duration_is_refused(typed, message) -> None:
    with pytest.raises(ValidationError, match=message):
        calls.parse_duration(typed)


def test_durations_read_as_minutes_and_seconds() -> None:
    assert [calls.duration_text(s) for s in (45, 750, 3600 + 5 * 60)] == ['0:45', '12:30', '1:05:00']


async def test_a_logged_call_is_an_entry_of_its_own_by_the_agent_published_live(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, 'VPN drops every hour')
    get_bus().published.clear()

    event = await calls.log_call(actor=anna, ticket_id=ticket.id, direction='inbound', duration='12:30',
                                 note='Carl says it started **after** the update.')

    row = (await history(ticket.id, kind=EventKind.CALL))[-1]
    assert row.id == event.id and row.actor_id == anna.id and row.is_internal
    assert row.data == {'direction': 'inbound', 'seconds': 750, 'caller': carl.display_name, 'caller_id': carl.id,
                        'note': 'Carl says it started **after** the update.'}
    assert row.body == f'{anna.display_name} logged an inbound call with {carl.display_name}, 12:30'
    changes = [e for e in get_bus().published if isinstance(e, TicketChanged)]
    assert [(c.ticket_id, c.kind, c.event_ids, c.actor_id) for c in changes] == \
        [(ticket.id, 'message', (event.id,), anna.id)]
    # a call changes no field: nobody's open edit of the ticket becomes stale
    assert (await load_ticket(ticket.id)).version == ticket.version
    # staff read it in the conversation, with its facts
    shown, _ = await ticket_events(anna, ticket.id)
    assert [(e.kind, (e.data or {}).get('direction')) for e in shown][-1] == ('call', 'inbound')


async def test_someone_else_on_the_line_is_named_as_typed(people):
    ben = people.users['ben@pulse.demo']
    ticket = await make_ticket(people)
    await calls.log_call(actor=ben, ticket_id=ticket.id, direction='outbound', duration=95,
                         caller='  Reception\nAcme  +41 31 555 12 12 ')
    row = (await history(ticket.id, kind=EventKind.CALL))[-1]
    assert (row.data or {})['caller'] == 'Reception Acme +41 31 555 12 12'
    assert (row.data or {})['caller_id'] is None and (row.data or {})['direction'] == 'outbound'
    assert row.body.endswith('logged an outbound call with Reception Acme +41 31 555 12 12, 1:35')


@pytest.mark.parametrize(('values', 'message'), [
    ({'direction': 'sideways'}, 'neither inbound nor outbound'),
    ({'duration': '0'}, 'more than 0'),
    ({'duration': '25:00:00'}, 'not a duration'),
    ({'caller': 'x' * 201}, 'Caller: at most 200'),
    ({'note': 'x' * 20001}, 'too long'),
])
async def test_a_refused_call_says_why_and_writes_nothing(people, values, message):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    get_bus().published.clear()
    call = {'direction': 'inbound', 'duration': '5', **values}
    with pytest.raises(ValidationError, match=message):
        await calls.log_call(actor=anna, ticket_id=ticket.id, **call)
    assert await history(ticket.id, kind=EventKind.CALL) == []
    assert not [e for e in get_bus().published if isinstance(e, TicketChanged)]


async def test_only_staff_log_calls_and_not_on_a_closed_ticket(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people)
    with pytest.raises(PermissionDenied, match='Only staff'):
        await calls.log_call(actor=carl, ticket_id=ticket.id, direction='inbound', duration='3')
    async with db.session() as s:
        fixed = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
    t = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='resolved', resolution_code_id=fixed, resolution_text='Done')
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=t.version, status='closed')
    with pytest.raises(ValidationError, match='closed: reopen it to log a call'):
        await calls.log_call(actor=anna, ticket_id=ticket.id, direction='inbound', duration='3')
    assert await history(ticket.id, kind=EventKind.CALL) == []


async def test_the_customer_never_sees_nor_hears_of_a_logged_call(people):
    anna, carl, daniel = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'daniel@pulse.demo'))
    ticket = await make_ticket(people, 'Scanner jams')
    await calls.log_call(actor=anna, ticket_id=ticket.id, direction='inbound', duration='4',
                         note='He was angry about the invoice too')
    assert [e.kind for e in (await ticket_events(carl, ticket.id))[0]] == ['created']
    assert [e.kind for e in (await portal.request_events(carl, ticket.id))[0]] == ['created']

    async def told(user_id: int) -> list[str]:
        async with db.session() as s:
            mails = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == user_id))).scalars())
            bell = list((await s.execute(select(Notification.text).where(Notification.user_id == user_id))).scalars())
        return [item['text'] for mail in mails for item in mail.items or []] + bell

    assert not any('call' in text for text in await told(carl.id))
    # staff who follow the ticket are told, in one readable line
    assert f'{anna.display_name} logged an inbound call with {carl.display_name}, 4:00' in await told(daniel.id)
