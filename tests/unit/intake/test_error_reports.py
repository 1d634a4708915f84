"""Error reports in the process (SQLite and PostgreSQL): the protocol's parsing and fingerprints, one ticket per
group made through the ticket services, repeat counts batched and published without chatter entries, regressions
reopening, two "processes" racing on a new fingerprint, sources administered by admins, and what a customer sees.
The real sentry-sdk against a real server: test_error_reports_sdk.py."""
from __future__ import annotations

import asyncio
import gzip
import json
import zlib

import pytest
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.config import reset_settings
from pulse_live.errors import NotFound, PermissionDenied, ValidationError
from pulse_live.events import TicketChanged
from pulse_live.intake import error_reports as ingest
from pulse_live.models import (
    AuditLog,
    Channel,
    ErrorGroup,
    ErrorSource,
    ResolutionCode,
    Status,
    Ticket,
    TicketEvent,
    User,
)
from pulse_live.queries import error_reports as error_queries
from pulse_live.queries import portal
from pulse_live.queries import tickets as ticket_queries
from pulse_live.services import error_reports, error_sources, tickets
from pulse_live.services.error_reports import Grouper
from tests.factories import queue_ids

pytestmark = pytest.mark.usefixtures('fresh_presence')


@pytest.fixture(autouse=True)
def _fresh_error_state():
    error_reports.reset()
    yield
    error_reports.reset()


def exception_event(kind='ValueError', value='bad basket', frames=(('shop.cart', 'checkout', 12),), **extra):
    return {'event_id': 'e' * 32, 'level': 'error', 'platform': 'python', 'release': 'shop@1.2.3',
            'environment': 'production', 'user': {'id': '42', 'email': 'buyer@example.com'},
            'tags': {'region': 'eu'},
            'exception': {'values': [{'type': kind, 'value': value, 'stacktrace': {'frames': [
                {'module': m, 'function': f, 'lineno': n, 'in_app': True, 'filename': f'{m}.py',
                 'context_line': 'raise ValueError(x)'} for m, f, n in frames]}}]}, **extra}


def envelope(*items: tuple[dict, dict | bytes], header: dict | None = None) -> bytes:
    out = [json.dumps(header or {}).encode()]
    for item_header, payload in items:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        out += [json.dumps(item_header).encode(), data]
    return b'\n'.join(out) + b'\n'


async def _source(people, *, contact: bool = False, rate: int | None = None, name: str = 'Shop backend'):
    ada = people.users['admin@pulse.demo']
    queues = await queue_ids()
    async with db.session() as s:
        from pulse_live.models import Service
        service_id = (await s.execute(select(Service.id).where(Service.name == 'Website'))).scalar_one()
    source = await error_sources.create_source(
        actor=ada, name=name, organisation_id=people.orgs['acme'], queue_id=queues['2nd level'],
        service_id=service_id, contact_id=people.users['carl@acme.demo'].id if contact else None,
        rate_limit_per_minute=rate)
    info = await error_reports.source_keys.get(source.public_key)
    assert info is not None
    return source, info


async def _groups(source_id: int) -> list[ErrorGroup]:
    async with db.session() as s:
        return list((await s.execute(select(ErrorGroup).where(ErrorGroup.source_id == source_id)
                                     .order_by(ErrorGroup.id))).scalars())


async def _ticket(ticket_id: int) -> Ticket:
    async with db.session() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


# --- the protocol ---------------------------------------------------------------------------------------------------

def test_envelope_items_with_length_and_newline_delimited_and_other_types_skipped():
    event = exception_event()
    payload = json.dumps(event).encode()
    body = b'\n'.join([b'{"event_id":"abc"}',
                       json.dumps({'type': 'session', 'length': 11}).encode(), b'{"a":"b\nc"}',
                       json.dumps({'type': 'attachment', 'length': 5, 'filename': 'x.bin'}).encode(),
                       b'\x00\n\xff\n\x01',
                       json.dumps({'type': 'event', 'length': len(payload)}).encode(), payload,
                       json.dumps({'type': 'client_report'}).encode(), b'{"discarded_events":[]}',
                       json.dumps({'type': 'event'}).encode(), payload])
    header, events = ingest.parse_envelope(body)
    assert header == {'event_id': 'abc'}
    assert events == [event, event]


@pytest.mark.parametrize('body, words', [
    (b'', 'empty'),
    (b'\n\n', 'empty'),
    (b'not json\n', 'envelope header'),
    (b'[1,2]\n', 'not a JSON object'),
    (b'{}\n{"type":"event","length":500}\n{}', 'runs past the end'),
    (b'{}\n{"type":"event","length":-1}\n{}', 'non-negative'),
    (b'{}\n{"type":"event","length":"x"}\n{}', 'non-negative'),
    (b'{}\n{"length":2}\n{}', 'no type'),
    (b'{}\n{"type":"event"}\n{"unterminated', 'not valid JSON'),
    (b'{}\n{"type":"event"}\n[1]', 'not a JSON object'),
    (b'{}\n\xff\xfe\n', 'not valid JSON'),
])
def test_malformed_envelopes_are_refused_with_a_reason(body, words):
    with pytest.raises(ingest.Refused) as refused:
        ingest.parse_envelope(body)
    assert refused.value.status == 400
    assert words in refused.value.message


def test_decompression_gzip_deflate_and_a_bomb_stops_at_the_limit():
    data = b'{}\n' + b'x' * 1000
    assert ingest.decompress(gzip.compress(data), 'gzip', 10_000) == data
    assert ingest.decompress(zlib.compress(data), 'deflate', 10_000) == data
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert ingest.decompress(raw.compress(data) + raw.flush(), 'deflate', 10_000) == data
    bomb = gzip.compress(b'\0' * 50_000_000)  # ~50 kB that inflates to 50 MB
    with pytest.raises(ingest.Refused) as refused:
        ingest.decompress(bomb, 'gzip', 1_000_000)
    assert refused.value.status == 413
    for body, encoding, status in ((b'plain', 'gzip', 400), (gzip.compress(data)[:20], 'gzip', 400),
                                   (data, 'compress', 415)):
        with pytest.raises(ingest.Refused) as refused:
            ingest.decompress(body, encoding, 10_000)
        assert refused.value.status == status


def test_fingerprint_ignores_line_numbers_and_messages_but_not_frames_or_types():
    base = ingest.error_event(exception_event(value='basket 1', frames=(('shop.cart', 'checkout', 12),)))
    moved = ingest.error_event(exception_event(value='basket 2', frames=(('shop.cart', 'checkout', 40),)))
    other_type = ingest.error_event(exception_event(kind='KeyError', frames=(('shop.cart', 'checkout', 12),)))
    other_place = ingest.error_event(exception_event(frames=(('shop.cart', 'pay', 12),)))
    assert base.fingerprint == moved.fingerprint
    assert len({base.fingerprint, other_type.fingerprint, other_place.fingerprint}) == 3
    assert base.title == 'ValueError: basket 1'
    assert base.culprit == 'shop.cart in checkout'
    # library frames (not in app) do not count when there are app frames
    with_lib = exception_event(value='x', frames=(('shop.cart', 'checkout', 12),))
    with_lib['exception']['values'][0]['stacktrace']['frames'].append(
        {'module': 'requests.api', 'function': 'get', 'lineno': 3, 'in_app': False})
    assert ingest.error_event(with_lib).fingerprint == base.fingerprint


def test_custom_fingerprint_and_the_default_inside_it():
    a = ingest.error_event(exception_event(kind='TimeoutError', fingerprint=['payment-gateway']))
    b = ingest.error_event(exception_event(kind='ConnectionError', fingerprint=['payment-gateway']))
    assert a.fingerprint == b.fingerprint
    with_default_a = ingest.error_event(exception_event(kind='TimeoutError', fingerprint=['{{ default }}', 'eu']))
    with_default_b = ingest.error_event(exception_event(kind='ConnectionError', fingerprint=['{{default}}', 'eu']))
    plain = ingest.error_event(exception_event(kind='TimeoutError'))
    assert with_default_a.fingerprint != with_default_b.fingerprint
    assert len({with_default_a.fingerprint, plain.fingerprint, a.fingerprint}) == 3
    message = ingest.error_event({'logentry': {'message': 'Disk %s full', 'formatted': 'Disk /var full'}})
    assert message.title == 'Disk /var full'
    assert ingest.error_event({'message': 'Disk %s full'}).fingerprint == message.fingerprint


def test_context_is_bounded():
    frames = tuple((f'm{i}', f'f{i}', i) for i in range(500))
    event = exception_event(value='v' * 100_000, frames=frames, tags={f't{i}': 'x' * 1000 for i in range(500)})
    context = ingest.context_of(event)
    assert len(context['exceptions'][0]['frames']) == ingest.MAX_FRAMES
    assert len(context['exceptions'][0]['value']) == ingest.LONG_TEXT
    assert len(context['tags']) == ingest.MAX_TAGS
    assert len(json.dumps(context)) < 60_000


# --- groups and tickets ---------------------------------------------------------------------------------------------

async def test_first_event_opens_a_ticket_repeats_count_without_chatter_and_publish(people):
    source, info = await _source(people, contact=True)
    first = ingest.error_event(exception_event(value='basket 1'))
    group_id = await error_reports.grouper.record(info, first)
    [group] = await _groups(source.id)
    assert group.id == group_id and group.count == 1 and group.ticket_id is not None
    ticket = await _ticket(group.ticket_id)
    assert (ticket.title, ticket.channel, ticket.status) == ('ValueError: basket 1', Channel.ERROR_REPORT, 'open')
    assert ticket.queue_id == (await queue_ids())['2nd level']
    assert ticket.customer_id == people.users['carl@acme.demo'].id
    assert ticket.organisation_id == people.orgs['acme']
    assert ticket.creator_id == source.user_id
    async with db.session() as s:
        account = await s.get(User, source.user_id)
        entries_before = (await s.execute(select(func.count(TicketEvent.id))
                                          .where(TicketEvent.ticket_id == ticket.id))).scalar_one()
    assert account is not None and not account.is_active and account.display_name == 'Error reports: Shop backend'

    get_bus().published.clear()
    for n in (2, 3):
        await error_reports.grouper.record(info, ingest.error_event(exception_event(value=f'basket {n}',
                                                                                    release='shop@1.2.4')))
    await error_reports.grouper.flush()
    [group] = await _groups(source.id)
    assert group.count == 3 and group.last_seen >= group.first_seen
    assert group.last_event['release'] == 'shop@1.2.4' and group.last_event['user']['id'] == '42'
    changes = [e for e in get_bus().published if isinstance(e, TicketChanged)]
    assert [(c.ticket_id, c.kind, c.event_ids) for c in changes] == [(ticket.id, 'error_count', ())]
    async with db.session() as s:
        entries_after = (await s.execute(select(func.count(TicketEvent.id))
                                         .where(TicketEvent.ticket_id == ticket.id))).scalar_one()
    assert entries_after == entries_before  # a repeat is a count, not an entry

    other = await error_reports.grouper.record(info, ingest.error_event(exception_event(kind='KeyError')))
    assert other != group_id and len(await _groups(source.id)) == 2


async def test_a_resolved_group_happening_again_reopens_its_ticket_as_a_regression(people):
    _source_row, info = await _source(people)
    anna = people.users['anna@pulse.demo']
    await error_reports.grouper.record(info, ingest.error_event(exception_event()))
    [group] = await _groups(info.id)
    assert group.ticket_id is not None
    ticket = await _ticket(group.ticket_id)
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).limit(1))).scalar_one()
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version, status='resolved',
                                resolution_code_id=code, resolution_text='Fixed in 1.2.4')
    await error_reports.grouper.record(info, ingest.error_event(exception_event()))
    await error_reports.grouper.flush()
    ticket = await _ticket(ticket.id)
    assert ticket.status == Status.OPEN
    [group] = await _groups(info.id)
    assert group.regressions == 1 and group.count == 2
    async with db.session() as s:
        bodies = list((await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id)
                                       .order_by(TicketEvent.id))).scalars())
    assert 'Regression: "ValueError: bad basket" happened again' in bodies[-1]

    # closed too (a closed ticket needs a reason to reopen: the regression is the reason)
    ticket = await _ticket(ticket.id)
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version, status='resolved',
                                resolution_code_id=code, resolution_text='Fixed again')
    ticket = await _ticket(ticket.id)
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version, status='closed')
    await error_reports.grouper.record(info, ingest.error_event(exception_event()))
    await error_reports.grouper.flush()
    assert (await _ticket(ticket.id)).status == Status.OPEN
    assert (await _groups(info.id))[0].regressions == 2


async def test_two_processes_seeing_a_new_fingerprint_at_once_make_one_ticket(people):
    _source_row, info = await _source(people)
    processes = [Grouper() for _ in range(6)]  # no shared memory: only the database decides
    event = ingest.error_event(exception_event(kind='RaceError'))
    await asyncio.gather(*(p.record(info, event) for p in processes for _ in range(3)))
    for p in processes:
        await p.flush()
        await p.stop()
    [group] = await _groups(info.id)
    assert group.count == 18 and group.ticket_id is not None
    async with db.session() as s:
        made = (await s.execute(select(func.count(Ticket.id)).where(Ticket.channel == Channel.ERROR_REPORT)
                                )).scalar_one()
    assert made == 1


async def _post(source, body: bytes) -> tuple[int, dict]:
    """One report through the ingest's ASGI app, as a server hands it over; (status, JSON answer)."""
    async def app(scope, receive, send):
        raise AssertionError('a report reached the app behind the ingest')
    scope = {'type': 'http', 'method': 'POST', 'path': f'/api/{source.id}/envelope/', 'query_string': b'',
             'headers': [(b'x-sentry-auth', f'Sentry sentry_key={source.public_key}, sentry_version=7'.encode()),
                         (b'content-length', str(len(body)).encode())]}

    async def receive():
        return {'type': 'http.request', 'body': body, 'more_body': False}
    sent: list[dict] = []

    async def send(message):
        sent.append(message)
    await ingest.IngestMiddleware(app)(scope, receive, send)
    return sent[0]['status'], json.loads(sent[1]['body'])


async def _counts(source_id: int) -> dict[str, int]:
    return {g.title.split(':')[0]: g.count for g in await _groups(source_id)}


async def test_parallel_reports_make_one_ticket_per_fingerprint_and_count_exactly(people):
    source, _info = await _source(people, rate=100_000)
    kinds = ['AlphaError', 'BetaError', 'GammaError']
    bodies = [envelope(({'type': 'event'}, exception_event(kind=kind, value=f'n {n}')))
              for n in range(12) for kind in kinds]
    answers = await asyncio.gather(*(_post(source, body) for body in bodies))
    assert {status for status, _ in answers} == {200}
    await error_reports.grouper.flush()
    assert await _counts(source.id) == dict.fromkeys(kinds, 12)
    groups = await _groups(source.id)
    assert all(g.ticket_id is not None for g in groups) and len({g.ticket_id for g in groups}) == 3
    async with db.session() as s:
        made = (await s.execute(select(func.count(Ticket.id)).where(Ticket.channel == Channel.ERROR_REPORT)
                                )).scalar_one()
    assert made == 3
    # a report of several events counts each; the context written is the latest event's (built at the flush)
    status, _ = await _post(source, envelope(*[({'type': 'event'}, exception_event(kind=kind, value='latest'))
                                               for kind in kinds]))
    await error_reports.grouper.flush()
    assert status == 200 and await _counts(source.id) == dict.fromkeys(kinds, 13)
    assert all(g.last_event['exceptions'][0]['value'] == 'latest' for g in await _groups(source.id))


async def test_two_processes_with_parallel_repeats_count_exactly(people):
    _source_row, info = await _source(people)
    processes = [Grouper(), Grouper()]  # no shared memory: only the database
    events = [ingest.error_event(exception_event(kind=kind)) for kind in ('OneError', 'TwoError')]
    await asyncio.gather(*(p.record(info, e) for p in processes for e in events for _ in range(15)))
    await asyncio.gather(*(p.flush() for p in processes))  # both write at once
    assert await _counts(info.id) == {'OneError': 30, 'TwoError': 30}
    for p in processes:
        await p.stop()
    assert await _counts(info.id) == {'OneError': 30, 'TwoError': 30}  # nothing written twice
    async with db.session() as s:
        made = (await s.execute(select(func.count(Ticket.id)).where(Ticket.channel == Channel.ERROR_REPORT)
                                )).scalar_one()
    assert made == 2


async def test_a_repeat_that_cannot_be_described_is_still_counted_and_blocks_no_flush(people):
    _source_row, info = await _source(people)
    event = ingest.error_event(exception_event(kind='OddError', release='shop@1'))
    await error_reports.grouper.record(info, event)

    def broken():
        raise RecursionError('too deep')
    await error_reports.grouper.record_lazily(info, event.fingerprint, event.received_at, broken)
    await error_reports.grouper.flush()
    [group] = await _groups(info.id)
    assert group.count == 2 and group.last_event['release'] == 'shop@1'  # the context before stays
    await error_reports.grouper.record(info, ingest.error_event(exception_event(kind='OddError', release='shop@2')))
    await error_reports.grouper.flush()
    [group] = await _groups(info.id)
    assert group.count == 3 and group.last_event['release'] == 'shop@2'


async def test_a_group_whose_ticket_was_never_made_is_taken_over(people):
    _source_row, info = await _source(people)
    event = ingest.error_event(exception_event(kind='OrphanError'))
    async with db.session() as s, s.begin():  # a process died between the group and its ticket, long ago
        s.add(ErrorGroup(source_id=info.id, fingerprint=event.fingerprint, title=event.title, count=1,
                         first_seen=event.received_at, last_seen=event.received_at,
                         claimed_at=event.received_at - error_reports.CLAIM_TIMEOUT * 2, regressions=0))
    await error_reports.grouper.record(info, event)
    [group] = await _groups(info.id)
    assert group.ticket_id is not None and (await _ticket(group.ticket_id)).title == 'OrphanError: bad basket'


async def test_rate_limit_counts_refusals_per_source(people):
    _source_row, info = await _source(people, rate=3)
    error_reports.rate_limiter.reset()
    taken = [(await error_reports.rate_limiter.take(info, 1))[0] for _ in range(4)]
    assert taken == [1, 1, 1, 0]
    assert (await error_reports.rate_limiter.take(info, 2))[0] == 0  # a report of two: neither is stored
    error_reports.grouper.count_rate_limited(info, 2)
    await error_reports.grouper.flush()
    async with db.session() as s:
        assert (await s.get(ErrorSource, info.id)).rate_limited == 2


# --- sources (admins) and what others see ---------------------------------------------------------------------------

async def test_only_admins_manage_sources_and_revoking_is_audited(people):
    anna, ada = people.users['anna@pulse.demo'], people.users['admin@pulse.demo']
    queues = await queue_ids()
    with pytest.raises(PermissionDenied):
        await error_sources.create_source(actor=anna, name='Mine', organisation_id=people.orgs['acme'],
                                          queue_id=queues['1st level'])
    with pytest.raises(ValidationError, match='Contact'):
        await error_sources.create_source(actor=ada, name='Wrong contact', organisation_id=people.orgs['acme'],
                                          queue_id=queues['1st level'], contact_id=people.users['tom@globex.demo'].id)
    with pytest.raises(ValidationError, match='queue'):
        await error_sources.create_source(actor=ada, name='No queue', organisation_id=people.orgs['acme'],
                                          queue_id=None)
    source, _info = await _source(people)
    assert error_sources.dsn(source, 'https://desk.example.com/help/') == \
        f'https://{source.public_key}@desk.example.com/help/{source.id}'
    with pytest.raises(PermissionDenied):
        await error_sources.revoke_source(actor=anna, source_id=source.id)
    with pytest.raises(NotFound):
        await error_sources.revoke_source(actor=ada, source_id=99999)
    await error_sources.revoke_source(actor=ada, source_id=source.id)
    info = await error_reports.source_keys.get(source.public_key)
    assert info is not None and not info.is_active
    async with db.session() as s:
        actions = list((await s.execute(select(AuditLog.action).where(AuditLog.entity == 'error_source')
                                        .order_by(AuditLog.id))).scalars())
    assert actions == ['create', 'update']
    assert [r.name for r in await error_queries.sources(ada)] == ['Shop backend']
    assert await error_queries.sources(anna) == []


async def test_the_customer_sees_the_request_but_never_the_technical_details(people):
    _source_row, info = await _source(people, contact=True)
    carl, eva, ben = (people.users[e] for e in ('carl@acme.demo', 'eva@acme.demo', 'ben@pulse.demo'))
    secret_frame = 'charge_card_with_token'
    await error_reports.grouper.record(info, ingest.error_event(
        exception_event(frames=(('shop.pay', secret_frame, 7),))))
    [group] = await _groups(info.id)
    assert group.ticket_id is not None
    # staff: the details, with the stack trace
    details = await error_queries.group_for_ticket(ben, group.ticket_id)
    assert details is not None and details.count == 1
    assert details.last_event['exceptions'][0]['frames'][0]['function'] == secret_frame
    # the contact: the request in the portal, its title and description, no details anywhere
    assert await error_queries.group_for_ticket(carl, group.ticket_id) is None
    view = await portal.request_view(carl, group.ticket_id)
    assert view is not None
    shown = json.dumps([str(v) for v in vars(view).values()], default=str)
    assert 'ValueError: bad basket' in shown and 'Reported automatically' in shown
    assert secret_frame not in shown and 'shop@1.2.3' not in shown
    events, _older = await ticket_queries.ticket_events(carl, group.ticket_id)
    assert secret_frame not in json.dumps([vars(e) for e in events], default=str)
    # a colleague who is not the contact does not see it at all
    assert group.ticket_id not in {r.id for r in await portal.requests(eva)}


async def test_without_contact_the_ticket_stays_with_the_provider(people):
    _source_row, info = await _source(people)
    await error_reports.grouper.record(info, ingest.error_event(exception_event()))
    [group] = await _groups(info.id)
    ticket = await _ticket(group.ticket_id)
    assert ticket.customer_id is None and ticket.organisation_id == people.orgs['provider']
    assert group.ticket_id not in {r.id for r in await portal.requests(people.users['carl@acme.demo'],
                                                                       scope='organisation')}


async def test_a_source_tied_to_a_service_files_its_tickets_under_that_service(people):
    """The source's service is the tickets' service (with a contact and without one), so they count for that
    service's lists, SLA and reports; nothing of it was checked before."""
    from pulse_live.models import Service
    async with db.session() as s:
        website = (await s.execute(select(Service.id).where(Service.name == 'Website'))).scalar_one()
    for contact, name in ((True, 'Shop with contact'), (False, 'Shop without contact')):
        source, info = await _source(people, contact=contact, name=name)
        assert source.service_id == website
        await error_reports.grouper.record(info, ingest.error_event(exception_event(value=name)))
        [group] = await _groups(source.id)
        ticket = await _ticket(group.ticket_id)
        assert ticket.service_id == website
        assert ticket.customer_id == (people.users['carl@acme.demo'].id if contact else None)
        assert ticket.queue_id == (await queue_ids())['2nd level']


async def test_a_source_whose_service_was_retired_files_its_tickets_without_it_but_with_contact_and_queue(people):
    """A new ticket takes no retired service (services/tickets.py); the source's tickets then go without the
    service, keeping the contact and the queue (a refused ticket was retried without all three)."""
    from pulse_live.models import Service
    from pulse_live.services import customers
    source, info = await _source(people, contact=True)
    await customers.save_service(actor=people.users['admin@pulse.demo'], service_id=source.service_id,
                                 name='Website', criticality='high', is_active=False)
    await error_reports.grouper.record(info, ingest.error_event(exception_event()))
    [group] = await _groups(source.id)
    ticket = await _ticket(group.ticket_id)
    assert ticket.service_id is None and ticket.customer_id == people.users['carl@acme.demo'].id
    assert ticket.queue_id == (await queue_ids())['2nd level']
    async with db.session() as s:
        assert (await s.get(Service, source.service_id)).is_active is False


async def test_stopping_while_counts_are_being_written_writes_each_count_once(people, monkeypatch):
    """Shutdown while the flusher is inside a write that has committed: the counts are not merged back and
    written a second time by the final flush."""
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_ERROR_FLUSH_S', '0.05')
    reset_settings()
    _source_row, info = await _source(people)
    p = Grouper()
    event = ingest.error_event(exception_event(kind='ShutdownError'))
    await p.record(info, event)  # the group and its ticket
    await p.flush()
    real_write = p._write
    inside = asyncio.Event()

    async def slow_write(pending, limited):
        result = await real_write(pending, limited)  # committed
        inside.set()
        await asyncio.sleep(0.5)  # still inside the flush when shutdown comes
        return result
    monkeypatch.setattr(p, '_write', slow_write)
    for _ in range(4):
        await p.record(info, event)
    await asyncio.wait_for(inside.wait(), 10)
    await p.stop()
    [group] = await _groups(info.id)
    assert group.count == 5


async def _post_raw(path: str, body: bytes, headers: list[tuple[bytes, bytes]], client: str = '203.0.113.7'):
    """A report through the ingest as a server hands it over: (status, JSON answer, whether the body was read)."""
    async def app(scope, receive, send):
        raise AssertionError('a report reached the app behind the ingest')
    scope = {'type': 'http', 'method': 'POST', 'path': path, 'query_string': b'', 'client': (client, 40000),
             'headers': [*headers, (b'content-length', str(len(body)).encode())]}
    read = []

    async def receive():
        read.append(True)
        return {'type': 'http.request', 'body': body, 'more_body': False}
    sent: list[dict] = []

    async def send(message):
        sent.append(message)
    await ingest.IngestMiddleware(app)(scope, receive, send)
    return sent[0]['status'], json.loads(sent[1]['body']), bool(read)


async def test_a_report_nested_deeper_than_json_goes_is_taken_never_a_server_error(people):
    """An exception type of 1,000 nested lists: the answer was 503 (RecursionError writing its title) and the SDK
    retried it for ever."""
    _source_row, info = await _source(people)
    deep = '[' * 1000 + '"Deep"' + ']' * 1000
    auth = [(b'x-sentry-auth', f'Sentry sentry_key={info.public_key}, sentry_version=7'.encode())]
    for n, where in enumerate(('type', 'runtime', 'sdk')):
        event = exception_event(kind=f'DeepError{n}')
        event['contexts'] = {'runtime': {'name': 'PLACE-runtime', 'version': '3.11'}}
        event['sdk'] = {'name': 'PLACE-sdk', 'version': '2.0'}
        body = json.dumps(event)
        body = (body.replace(f'"DeepError{n}"', deep) if where == 'type' else body.replace(f'"PLACE-{where}"', deep))
        status, _answer, _read = await _post_raw(f'/api/{info.id}/store/', body.encode(), auth)
        assert status == 200, (where, status, _answer)
    await error_reports.grouper.flush()
    assert len(await _groups(info.id)) == 3


async def test_a_report_over_its_source_s_rate_is_refused_before_its_body_is_read(people):
    _source_row, info = await _source(people, rate=1)
    error_reports.rate_limiter.reset()
    auth = [(b'x-sentry-auth', f'Sentry sentry_key={info.public_key}, sentry_version=7'.encode())]
    body = envelope(({'type': 'event'}, exception_event()))
    assert (await _post_raw(f'/api/{info.id}/envelope/', body, auth))[::2] == (200, True)
    status, answer, read = await _post_raw(f'/api/{info.id}/envelope/', body, auth)
    assert (status, read) == (429, False) and 'counted, not stored' in answer['detail']


async def test_an_address_sending_wrong_keys_is_refused_without_reading_what_it_sends(people, monkeypatch):
    from pulse_live.config import reset_settings
    from pulse_live.rate_limit import get_limiter
    monkeypatch.setenv('PULSE_API_AUTH_FAILURES_PER_MINUTE', '3')
    reset_settings()
    get_limiter().clear()
    _source_row, info = await _source(people)
    wrong = [(b'x-sentry-auth', b'Sentry sentry_key=' + b'0' * 32 + b', sentry_version=7')]
    body = envelope(({'type': 'event'}, exception_event()))
    answers = [await _post_raw(f'/api/{info.id}/envelope/', body, wrong) for _ in range(4)]
    assert [status for status, _, _ in answers] == [401, 401, 401, 429]
    assert answers[-1][2] is False  # the fourth was not read
    # in the envelope's DSN only: read, refused, counted too
    in_dsn = envelope(({'type': 'event'}, exception_event()),
                      header={'dsn': f'http://{"1" * 32}@example.com/{info.id}'})
    assert (await _post_raw(f'/api/{info.id}/envelope/', in_dsn, [], client='198.51.100.9'))[0] == 401
    # without a key in the headers the body is not read from an address over the limit
    no_header = await _post_raw(f'/api/{info.id}/envelope/', in_dsn, [])
    assert no_header[::2] == (429, False)
    # the right key is never held back by wrong ones, from this address or another (one host, a NAT, a proxy)
    right = [(b'x-sentry-auth', f'Sentry sentry_key={info.public_key}, sentry_version=7'.encode())]
    assert (await _post_raw(f'/api/{info.id}/envelope/', body, right))[0] == 200
    assert (await _post_raw(f'/api/{info.id}/envelope/', body, right, client='192.0.2.1'))[0] == 200
    # a revoked key (403) is a known source's: it does not count as guessing
    get_limiter().clear()
    await error_sources.revoke_source(actor=people.users['admin@pulse.demo'], source_id=info.id)
    error_reports.source_keys.forget()
    assert [(await _post_raw(f'/api/{info.id}/envelope/', body, right, client='192.0.2.9'))[0]
            for _ in range(5)] == [403] * 5


async def test_new_groups_per_minute_are_limited_so_a_key_cannot_flood_the_desk_with_tickets(people, monkeypatch):
    """From an attack sweep: the DSN key is public (browser SDKs ship it), and every event with a new fingerprint
    opened a ticket titled as sent — 100 tickets from one request, in the contact's portal. New groups are limited
    per source (``error_new_groups_per_minute``); events of known groups still count; the rest is counted as
    rate-limited, not stored, and a report with nothing stored is answered 429."""
    monkeypatch.setenv('PULSE_ERROR_NEW_GROUPS_PER_MINUTE', '5')
    reset_settings()
    source, _info = await _source(people, rate=100_000, contact=True)
    flood = envelope(*[({'type': 'event'}, {'message': f'\u202eHACKED {n} - click http://evil.example',
                                            'fingerprint': [f'spam-{n}']}) for n in range(100)])
    status, _ = await _post(source, flood)
    assert status == 200
    await error_reports.grouper.flush()
    groups = await _groups(source.id)
    assert len(groups) == 5 and len({g.ticket_id for g in groups}) == 5
    titles = [(await _ticket(g.ticket_id)).title for g in groups]
    assert all(t.startswith('HACKED ') for t in titles), titles  # the direction override dropped
    async with db.session() as s:
        assert (await s.get(ErrorSource, source.id)).rate_limited == 95
    # a known group still counts; a new one is refused with a reason
    status, _ = await _post(source, envelope(({'type': 'event'}, {'message': 'again', 'fingerprint': ['spam-0']})))
    assert status == 200
    status, answer = await _post(source, envelope(({'type': 'event'}, {'message': 'new', 'fingerprint': ['spam-x']})))
    assert status == 429 and 'new groups a minute' in answer['detail']
    await error_reports.grouper.flush()
    assert [g.count for g in await _groups(source.id)][0] == 2 and len(await _groups(source.id)) == 5
    assert error_reports.grouper._locks == {}  # nothing kept for the refused fingerprints


async def test_the_groups_a_process_remembers_are_bounded_and_one_forgotten_still_counts(people, monkeypatch):
    """Each new fingerprint stayed in the process's memory for good. Past ``MAX_KNOWN`` the oldest half is
    forgotten; an event of a forgotten group is counted on that group again (no second group, no second ticket)."""
    monkeypatch.setattr(error_reports, 'MAX_KNOWN', 10)
    monkeypatch.setenv('PULSE_ERROR_NEW_GROUPS_PER_MINUTE', '1000')
    reset_settings()
    source, _info = await _source(people, rate=100_000)
    for n in range(25):
        status, _ = await _post(source, envelope(({'type': 'event'}, {'message': f'kind {n}',
                                                                      'fingerprint': [f'kind-{n}']})))
        assert status == 200
    assert len(error_reports.grouper.known) <= 10
    status, _ = await _post(source, envelope(({'type': 'event'}, {'message': 'kind 0 again',
                                                                  'fingerprint': ['kind-0']})))
    assert status == 200
    await error_reports.grouper.flush()
    groups = await _groups(source.id)
    assert len(groups) == 25 and len({g.ticket_id for g in groups}) == 25
    assert groups[0].count == 2 and all(g.count == 1 for g in groups[1:])


def _store_body(event: dict) -> bytes:
    return json.dumps(event).encode()


def test_a_list_where_text_belongs_is_shown_by_its_start_and_the_default_grouping_is_made_once(monkeypatch):
    """A 4 KB gzip report (a fingerprint naming {{ default }} 30 times, five exception types each a list of 400,000
    zeros) held the event loop 3 s: the whole list was encoded to keep 200 characters, 150 times."""
    event = {'fingerprint': ['{{ default }}'] * 30,
             'exception': {'values': [{'type': [0] * 400_000, 'value': 'boom'} for _ in range(5)]}}
    made = []
    real = ingest.default_grouping
    monkeypatch.setattr(ingest, 'default_grouping', lambda e: (made.append(1), real(e))[1])
    encoded: list[int] = []
    real_dumps = ingest.json.dumps
    monkeypatch.setattr(ingest.json, 'dumps', lambda v, *a, **k: (encoded.append(1), real_dumps(v, *a, **k))[1])
    parts = ingest.grouping(event)
    assert made == [1] and len(parts) == 1 + 30 * 5
    assert parts[1] == ('[' + ', '.join(['0'] * 100))[:200]  # the start of the list, as its JSON begins
    assert sum(encoded) < 2_000  # item by item, never the whole list
    error = ingest.error_event(event, parts=parts)
    assert error.title.startswith('[0, 0, 0') and len(error.title) <= 2_000 + 2


async def test_parallel_large_reports_are_parsed_one_at_a_time_and_not_kept(people):
    """Ten reports of 5.7 KB each inflating to 3.9 MB, sent at once, held ~1 GB while they waited in turn; each
    parsed report was also kept by the grouper until the next write of counts."""
    import tracemalloc
    source, _info = await _source(people, rate=100_000)
    bodies = [gzip.compress(_store_body({'message': f'big {n}', 'extra': [{'a': 1}] * 380_000}))
              for n in range(10)]
    for body in bodies:
        assert len(body) < 10_000

    async def post(body: bytes):
        return await _post_raw(f'/api/{source.id}/store/', body,
                               [(b'x-sentry-auth', f'Sentry sentry_key={source.public_key}'.encode()),
                                (b'content-encoding', b'gzip')])
    tracemalloc.start()
    try:
        answers = await asyncio.gather(*(post(b) for b in bodies))
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        await error_reports.grouper.flush()
        kept = tracemalloc.get_traced_memory()[0] / 1e6
    finally:
        tracemalloc.stop()
    assert [status for status, _, _ in answers] == [200] * 10
    assert peak < 250, peak  # one parsed report at a time (~80 MB each), not ten
    assert kept < 50, kept
