"""Access is enforced on the server: tables of attempts a customer might make, each one refused and logged.

Part 1 (services and queries, on SQLite and PostgreSQL): what a crafted websocket event would end up calling,
called directly: other organisations' tickets and attachments, agent-only fields and actions.
Part 2 (the real app with simulated users, SQLite): over HTTP (URLs, attachment ids, agent pages) and over the
websocket (events crafted for elements that are not on the customer's page; forbidden controls not rendered).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from nicegui import ui
from nicegui.nicegui import _on_event
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import NotFound, PermissionDenied
from pulse_live.models import Attachment, Priority, Queue, ResolutionCode, TeamMember, Ticket, TicketEvent
from pulse_live.queries import customers as customer_queries
from pulse_live.queries import dashboard as dashboard_queries
from pulse_live.queries import portal as portal_queries
from pulse_live.queries import work_config
from pulse_live.queries.tickets import attachment_for_download, find_ticket_id, ticket_view
from pulse_live.services import chatter, customers, team, tickets
from pulse_live.services import queues as queue_services
from pulse_live.storage import UploadedFile
from tests.conftest import let_database_threads_finish
from tests.factories import People, deactivate_customer, people_for_test
from tests.ui.conftest import detail_field, login

SECURITY_LOGGER = 'pulse_live.security'


@dataclass
class World:
    people: People
    carls: Ticket      # ACME, Carl is the customer (org admin)
    evas: Ticket       # ACME, Eva's own request
    globex: Ticket     # Globex (Tom)
    public_att: int    # on the Globex ticket
    internal_att: int  # internal, on Carl's ticket

    def user(self, email: str):
        return self.people.users[email]


async def _world(people: People) -> World:
    anna, carl, eva, tom = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'eva@acme.demo',
                                                       'tom@globex.demo'))
    carls = await tickets.create_ticket(actor=anna, title='ACME printer', customer_id=carl.id)
    evas = await tickets.create_ticket(actor=eva, title='Eva mailbox')
    globex = await tickets.create_ticket(actor=tom, title='Globex secret project', description='Top secret')
    public = await chatter.post_message(actor=tom, ticket_id=globex.id, body='plan',
                                        files=[UploadedFile('plan.txt', 'text/plain', b'GLOBEX PLAN')])
    internal = await chatter.post_message(actor=anna, ticket_id=carls.id, body='note', internal=True,
                                          files=[UploadedFile('notes.txt', 'text/plain', b'AGENTS ONLY')])
    async with db.session() as s:
        public_att = (await s.execute(select(Attachment.id).where(Attachment.event_id == public.id))).scalar_one()
        internal_att = (await s.execute(select(Attachment.id).where(Attachment.event_id == internal.id))).scalar_one()
    return World(people, carls, evas, globex, public_att, internal_att)


async def _ids(model, name_col, name):
    async with db.session() as s:
        return (await s.execute(select(model.id).where(name_col == name))).scalar_one()


# --- part 1: services and queries -------------------------------------------------------------------------

async def _refused_none(coro) -> None:
    assert await coro in (None, [])


async def _refused_raises(coro, error=(PermissionDenied, NotFound)) -> None:
    with pytest.raises(error):
        await coro


SERVICE_CASES: dict[str, Callable[[World], Awaitable[None]]] = {
    'other organisation: ticket by reference':
        lambda w: _refused_none(find_ticket_id(w.user('carl@acme.demo'), w.globex.reference)),
    'other organisation: ticket by id':
        lambda w: _refused_none(find_ticket_id(w.user('carl@acme.demo'), str(w.globex.id))),
    'other organisation: ticket view':
        lambda w: _refused_none(ticket_view(w.user('tom@globex.demo'), w.carls.id)),
    'other organisation: portal request view':
        lambda w: _refused_none(portal_queries.request_view(w.user('carl@acme.demo'), w.globex.id)),
    "colleague's request (not an org admin)":
        lambda w: _refused_none(find_ticket_id(w.user('eva@acme.demo'), w.carls.reference)),
    "organisation's list (not an org admin)":
        lambda w: _refused_none(portal_queries.requests(w.user('eva@acme.demo'), scope='organisation')),
    'other organisation: attachment by id':
        lambda w: _refused_none(attachment_for_download(w.user('carl@acme.demo'), w.public_att)),
    'internal attachment on own ticket':
        lambda w: _refused_none(attachment_for_download(w.user('carl@acme.demo'), w.internal_att)),
    'other organisation: post a message':
        lambda w: _refused_raises(chatter.post_message(actor=w.user('carl@acme.demo'), ticket_id=w.globex.id,
                                                       body='hello')),
    'other organisation: change a field':
        lambda w: _refused_raises(tickets.update_ticket(actor=w.user('carl@acme.demo'), ticket_id=w.globex.id,
                                                        expected_version=w.globex.version,
                                                        changes={'title': 'pwned'})),
    'internal note by a customer':
        lambda w: _refused_raises(chatter.post_message(actor=w.user('carl@acme.demo'), ticket_id=w.carls.id,
                                                       body='sneaky', internal=True)),
    'change priority':
        lambda w: _priority(w),
    'change assignee':
        lambda w: _refused_raises(tickets.update_ticket(actor=w.user('carl@acme.demo'), ticket_id=w.carls.id,
                                                        expected_version=w.carls.version,
                                                        changes={'assignee_id': w.user('anna@pulse.demo').id})),
    'change queue':
        lambda w: _queue(w),
    'change technical details (internal field)':
        lambda w: _refused_raises(tickets.update_ticket(actor=w.user('carl@acme.demo'), ticket_id=w.carls.id,
                                                        expected_version=w.carls.version,
                                                        changes={'technical_details': 'x'})),
    'change channel (internal field)':
        lambda w: _refused_raises(tickets.update_ticket(actor=w.user('carl@acme.demo'), ticket_id=w.carls.id,
                                                        expected_version=w.carls.version,
                                                        changes={'channel': 'phone'})),
    'resolve own ticket':
        lambda w: _resolve(w),
    'open a request for someone else':
        lambda w: _refused_raises(tickets.create_ticket(actor=w.user('carl@acme.demo'), title='x',
                                                        customer_id=w.user('tom@globex.demo').id)),
    'open a request with an assignee':
        lambda w: _refused_raises(tickets.create_ticket(actor=w.user('carl@acme.demo'), title='x',
                                                        assignee_id=w.user('anna@pulse.demo').id)),
    'search people (identification)':
        lambda w: _refused_none(customer_queries.search_people(w.user('carl@acme.demo'), 'tom')),
    'see a customer profile':
        lambda w: _refused_none(customer_queries.customer_profile(w.user('carl@acme.demo'),
                                                                  w.user('tom@globex.demo').id)),
    'create a customer':
        lambda w: _refused_raises(customers.save_customer(actor=w.user('carl@acme.demo'), email='x@acme.demo',
                                                          display_name='X', organisation_id=w.people.orgs['acme'])),
    'make oneself organisation admin':
        lambda w: _refused_raises(customers.save_customer(
            actor=w.user('eva@acme.demo'), user_id=w.user('eva@acme.demo').id, email='eva@acme.demo',
            display_name='Eva', organisation_id=w.people.orgs['acme'], is_org_admin=True)),
    'read the dashboard (customer)':
        lambda w: _refused_raises(dashboard_queries.dashboard(w.user('carl@acme.demo'))),
    'read the dashboard (agent)':
        lambda w: _refused_raises(dashboard_queries.dashboard(w.user('anna@pulse.demo'))),
    'read the queue configuration (agent)':
        lambda w: _refused_raises(work_config.work_config(w.user('anna@pulse.demo'))),
    'create a queue (agent)':
        lambda w: _refused_raises(queue_services.create_queue(actor=w.user('anna@pulse.demo'), name='Shadow')),
    "switch off another member's watch":
        lambda w: _others_watch(w),
    'move an organisation admin to another organisation (agent)':
        lambda w: _refused_raises(customers.save_customer(
            actor=w.user('anna@pulse.demo'), user_id=w.user('carl@acme.demo').id, email='carl@acme.demo',
            display_name='Carl Jensen', organisation_id=w.people.orgs['globex'], is_org_admin=True)),
}


async def test_an_agent_cannot_widen_an_organisation_admins_reach_but_a_manager_can(people) -> None:
    """Carl is an organisation admin of ACME: moved to Globex he would see every Globex request. Agents are refused
    (like granting the flag), nothing changes; a manager may, and Carl's open pages are told (AccountChanged)."""
    from pulse_live.bus import get_bus
    from pulse_live.events import AccountChanged
    from pulse_live.queries import portal as portal_q
    world = await _world(people)
    carl = world.user('carl@acme.demo')
    globex = world.people.orgs['globex']
    with pytest.raises(PermissionDenied):
        await customers.save_customer(actor=world.user('anna@pulse.demo'), user_id=carl.id, email=carl.email,
                                      display_name=carl.display_name, organisation_id=globex, is_org_admin=True)
    async with db.session() as s:
        assert (await s.get(type(carl), carl.id)).organisation_id == world.people.orgs['acme']
    published = []
    get_bus().subscribe(lambda e: _append(published, e))
    await customers.save_customer(actor=world.user('maria@pulse.demo'), user_id=carl.id, email=carl.email,
                                  display_name=carl.display_name, organisation_id=globex, is_org_admin=True)
    assert AccountChanged(user_id=carl.id) in published
    async with db.session() as s:
        moved = await s.get(type(carl), carl.id)
    titles = [r.title for r in await portal_q.requests(moved, scope='organisation')]
    assert 'Globex secret project' in titles  # what the move means: why agents may not do it


async def _append(items: list, event) -> None:
    items.append(event)


async def _others_watch(w: World) -> None:
    async with db.session() as s:
        member = (await s.execute(select(TeamMember.id).where(TeamMember.ticket_id == w.carls.id,
                                                              TeamMember.user_id.is_not(None),
                                                              TeamMember.user_id != w.user('carl@acme.demo').id)
                                  .limit(1))).scalar_one()
    await _refused_raises(team.set_watching(actor=w.user('carl@acme.demo'), ticket_id=w.carls.id, member_id=member,
                                            watching=False))


async def _priority(w: World) -> None:
    critical = await _ids(Priority, Priority.name, 'Critical')
    await _refused_raises(tickets.update_ticket(actor=w.user('carl@acme.demo'), ticket_id=w.carls.id,
                                                expected_version=w.carls.version, changes={'priority_id': critical}))


async def _queue(w: World) -> None:
    network = await _ids(Queue, Queue.name, 'Network')
    await _refused_raises(tickets.update_ticket(actor=w.user('carl@acme.demo'), ticket_id=w.carls.id,
                                                expected_version=w.carls.version, changes={'queue_id': network}))


async def _resolve(w: World) -> None:
    code = await _ids(ResolutionCode, ResolutionCode.name, 'Fixed')
    await _refused_raises(tickets.change_status(actor=w.user('carl@acme.demo'), ticket_id=w.carls.id,
                                                expected_version=w.carls.version, status='resolved',
                                                resolution_code_id=code, resolution_text='self-service'))


@pytest.mark.parametrize('case', list(SERVICE_CASES))
async def test_refused_in_services_and_queries(people, case, caplog):
    world = await _world(people)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        await SERVICE_CASES[case](world)
    refusals = [r for r in caplog.records if r.name == SECURITY_LOGGER]
    assert refusals and all(r.levelno == logging.WARNING for r in refusals), f'{case}: not logged'
    async with db.session() as s:  # and nothing changed
        carls = await s.get(Ticket, world.carls.id)
        globex = await s.get(Ticket, world.globex.id)
    assert (carls.version, carls.assignee_id, carls.status) == (world.carls.version, None, 'open')
    assert (globex.version, globex.title) == (world.globex.version, 'Globex secret project')


# --- part 2: HTTP and websocket against the running app (simulated users, SQLite) ---------------------------

@pytest.fixture
async def app_world() -> World:
    """The schema and the demo people before the app starts (request it before ``user``/``create_user``)."""
    db.init(os.environ['PULSE_DATABASE_URL'])
    await db.create_all()
    world = await _world(await people_for_test())
    yield world
    await db.dispose()
    await let_database_threads_finish()


AGENT_PAGES = ['/tickets', '/tickets/new', '/dashboard', '/queues', '/my', '/open', '/admin/outbox', '/admin/queues',
               '/admin/services', '/customers', '/organisations']


@pytest.mark.parametrize('path', AGENT_PAGES)
async def test_customer_never_reaches_agent_pages(app_world, user: User, path, caplog):
    await login(user, 'carl@acme.demo', expect='My requests')
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        await user.open(path)
        await user.should_see('Follow what you asked us')  # sent home to the portal
    assert any(f'open page {path}' in r.getMessage() for r in caplog.records), caplog.text
    for agent_only in ('Search reference or title', 'Create ticket', 'Customers', 'Queues & rules',
                       'New customer', 'Dashboard'):
        await user.should_not_see(agent_only)


HTTP_CASES = {
    'other organisation: portal URL': lambda w: f'/portal/requests/{w.globex.reference}',
    'other organisation: agent ticket URL': lambda w: f'/tickets/{w.globex.reference}',
    'other organisation: ticket id in URL': lambda w: f'/portal/requests/{w.globex.id}',
    "colleague's request (not an org admin)": lambda w: f'/portal/requests/{w.carls.reference}',
    'other organisation: attachment id': lambda w: f'/attachments/{w.public_att}',
    'internal attachment on own organisation ticket': lambda w: f'/attachments/{w.internal_att}',
    'customer profile page': lambda w: f'/customers/{w.user("tom@globex.demo").id}',  # agents only: sent home
}
SENT_HOME = {'customer profile page'}  # an empty page that navigates to the portal (nothing of the page is built)


@pytest.mark.parametrize('case', list(HTTP_CASES))
async def test_refused_over_http(app_world, user: User, case, caplog):
    await login(user, 'eva@acme.demo', expect='My requests')  # ACME, not an organisation admin
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        response = await user.http_client.get(HTTP_CASES[case](app_world), follow_redirects=True)
    body = response.text
    assert response.status_code == (200 if case in SENT_HOME else 404), (case, response.status_code)
    for secret in ('Globex secret project', 'Top secret', 'GLOBEX PLAN', 'AGENTS ONLY', 'ACME printer', 'Tom Baker'):
        assert secret not in body, (case, secret)
    assert any(r.name == SECURITY_LOGGER and r.levelno == logging.WARNING for r in caplog.records), case


async def test_customer_request_page_does_not_render_forbidden_controls(app_world, user: User) -> None:
    """Controls for actions a customer may not take are not on the page at all: no event can reach them."""
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{app_world.carls.reference}')
    await user.should_see(app_world.carls.reference)
    await user.should_see(marker='composer')
    for marker in ('internal-switch', 'team-list', 'team-picker', 'field-priority_id', 'field-assignee_id',
                   'field-queue_id', 'field-technical_details', 'face-priority_id', 'face-assignee_id',
                   'face-queue_id', 'face-technical_details', 'status-in_progress', 'status-resolved',
                   'priority-badge', 'work-panel', 'ticket-take', 'confirm-resolution', 'reopen-request'):
        await user.should_not_see(marker=marker)
    await user.should_not_see('note')  # the internal note
    await user.should_not_see('notes.txt')  # and its attachment


def _send_listener(user: User):
    send = next(b for b in user.find(ui.button).elements if b.text == 'Send')
    return send, next(iter(send._event_listeners))


def _disabled_send(carl: User) -> dict:
    """The page's own Send button while it is disabled (e.g. during a send): its real listener, still refused."""
    send, listener_id = _send_listener(carl)
    with carl.client:
        send.disable()
    return {'id': send.id, 'type': 'click', 'listener_id': listener_id, 'args': []}


WEBSOCKET_CASES = {
    # element ids count up per page: an id seen on an agent's page names nothing (or something else) on Carl's
    'element not on the page': lambda carl: {'id': max(carl.client.elements) + 1000, 'type': 'click',
                                             'listener_id': 'x', 'args': []},
    'value for an element not on the page': lambda carl: {'id': max(carl.client.elements) + 1001,
                                                          'type': 'update:model-value', 'listener_id': 'x',
                                                          'args': ['true']},
    'unknown listener of a real element': lambda carl: {'id': _send_listener(carl)[0].id, 'type': 'click',
                                                        'listener_id': 'made-up', 'args': []},
    'click on a disabled control': _disabled_send,
    'malformed arguments': lambda carl: {'id': _send_listener(carl)[0].id, 'type': 'click',
                                         'listener_id': _send_listener(carl)[1], 'args': ['{not json']},
}


@pytest.mark.parametrize('case', list(WEBSOCKET_CASES))
async def test_crafted_websocket_events_are_dropped_and_logged(app_world, user: User, case, caplog) -> None:
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{app_world.carls.reference}')
    await user.should_see(marker='composer')
    with user.client:
        user.find(marker='composer').elements.pop().value = 'crafted text'
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        _on_event('crafted', {'client_id': user.client.id, **WEBSOCKET_CASES[case](user)})  # the socket handler
    refused = [r for r in caplog.records if 'event for element' in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING, caplog.text
    assert f'user {app_world.user("carl@acme.demo").id}' in refused[0].getMessage()
    async with db.session() as s:
        ticket = await s.get(Ticket, app_world.carls.id)
        events = (await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                            TicketEvent.body == 'crafted text'))).all()
    assert ticket.version == app_world.carls.version and events == []


async def test_a_well_formed_event_can_only_do_what_the_page_offers(app_world, user: User) -> None:
    """The customer's own Send button posts a public reply to *this* request: there is no way to make it internal
    or aim it elsewhere (the page holds the ticket id; the service checks again)."""
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{app_world.carls.reference}')
    with user.client:
        user.find(marker='composer').elements.pop().value = 'Is there news?'
    send, listener_id = _send_listener(user)
    _on_event('crafted', {'client_id': user.client.id, 'id': send.id, 'type': 'click', 'listener_id': listener_id,
                          'args': []})
    await user.should_see(kind=ui.html, content='Is there news?', retries=30)
    async with db.session() as s:
        posted = (await s.execute(select(TicketEvent).where(TicketEvent.body == 'Is there news?'))).scalar_one()
    assert (posted.ticket_id, posted.is_internal) == (app_world.carls.id, False)


# --- part 3: sockets bound to their page, pages bound to their session (simulated users, SQLite) ------------------

def _sid(user: User) -> str:
    """The socket the simulated browser handshook with (as a real browser's socket id)."""
    return next(iter(user.client._socket_to_document_id))


def _socket_event(sid: str, msg) -> None:
    """What the server does with an 'event' message arriving on socket ``sid`` (the handler installed at start)."""
    from nicegui import core
    core.sio.handlers['/']['event'](sid, msg)


def _composer_event(user: User, text: str) -> dict:
    box = user.find(marker='composer').elements.pop()
    listener_id = next(lid for lid, listener in box._event_listeners.items() if listener.type.startswith('update:'))
    return {'client_id': user.client.id, 'id': box.id, 'type': box._event_listeners[listener_id].type,
            'listener_id': listener_id,
            'args': [json.dumps(text)]}


async def test_values_of_the_wrong_kind_are_refused_before_any_handler(app_world, user: User, caplog,
                                                                       monkeypatch) -> None:
    """The attack sent a dict, a list, a number, null and true as the new value of every input, select and switch of
    the agent's ticket page over its own socket: 64 tracebacks (NiceGUI's choice index, ``.strip()`` of a text, a
    boolean into SQL). Each is now refused by the socket guard; values of the right kind still arrive."""
    from nicegui.elements.mixins.value_element import ValueElement

    from components import guard
    monkeypatch.setattr(guard, 'REFUSALS_PER_MINUTE', 10**6)  # every refusal said (a socket is closed after 30)
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{app_world.carls.reference}')
    await user.should_see(marker='documents', retries=50)  # the side column (after the socket connected), to its end
    await detail_field(user, 'priority_id')  # editors as the user's going into their fields builds them
    await detail_field(user, 'title')
    sid = _sid(user)
    targets = [(element, lid) for element in list(user.client.elements.values()) if isinstance(element, ValueElement)
               for lid, listener in element._event_listeners.items() if listener.type.startswith('update:')]
    kinds = {type(element).__name__ for element, _ in targets}
    assert {'Input', 'Select', 'Switch'} <= kinds, kinds
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        for element, lid in targets:
            before = element.value
            for value in ({'x': 1}, [1, 2], 12345, True):
                if value is True and isinstance(before, bool):
                    continue  # the right kind for a switch
                _socket_event(sid, {'client_id': user.client.id, 'id': element.id, 'listener_id': lid,
                                    'type': element._event_listeners[lid].type, 'args': [json.dumps(value)]})
            assert element.value == before, element
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], errors[0].getMessage()
    assert sum('a value of the wrong kind' in r.getMessage() for r in caplog.records) >= 3 * len(targets)
    priority = user.find(marker='field-priority_id').elements.pop()
    lid = next(lid for lid, listener in priority._event_listeners.items() if listener.type == 'update:modelValue')
    other = next(i for i, v in enumerate(priority._values) if v != priority.value)
    _socket_event(sid, {'client_id': user.client.id, 'id': priority.id, 'listener_id': lid, 'type': 'update:modelValue',
                        'args': [json.dumps({'value': other, 'label': priority._labels[other]})]})
    assert priority.value == priority._values[other]  # a choice as the browser sends it still arrives


async def test_a_table_keeps_nothing_a_socket_sends_it(app_world, user: User, caplog) -> None:
    """The attack sent Carl's request list (a table without selection) selection events of 500 KB rows from one
    socket: NiceGUI appended every event's rows to the table's ``selected`` and sent the whole list back — the
    server grew to 3.3 GB. Selection, pagination and full-screen events are refused unless the table sends them
    in that shape; sub-page navigation (no page has sub pages) and over-large arguments are refused too."""
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open('/portal')
    await user.should_see(kind=ui.table)
    table = user.find(kind=ui.table).elements.pop()
    listeners = {listener.type: lid for lid, listener in table._event_listeners.items()}
    layout = user.client.layout
    layout_listeners = {listener.type: lid for lid, listener in layout._event_listeners.items()}
    sid = _sid(user)
    big_row = {'id': 1, 'blob': 'x' * 200_000}
    crafted = [
        (table, listeners['selection'], [json.dumps({'added': True, 'rows': [big_row], 'keys': [1]})]),
        (table, listeners['selection'], [json.dumps(['not', 'a', 'dict'])]),
        (table, listeners['update:pagination'], [json.dumps({'page': 1, 'junk': 'x' * 1000})]),
        (table, listeners['update:pagination'], [json.dumps({'sortBy': 'y' * 5000})]),
        (table, listeners['update:fullscreen'], [json.dumps({'x': 1})]),
        (table, listeners['update:pagination'], [json.dumps('z' * 300_000)]),  # too large, whatever it is
    ]
    crafted += [(layout, layout_listeners[kind], [json.dumps('/admin')]) for kind in ('sub_pages_open',
                                                                                       'sub_pages_navigate')
                if kind in layout_listeners]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        for element, lid, args in crafted:
            _socket_event(sid, {'client_id': user.client.id, 'id': element.id, 'listener_id': lid,
                                'type': element._event_listeners[lid].type, 'args': args})
    await asyncio.sleep(0.1)
    assert table.selected == []
    assert set(table.pagination) <= {'rowsPerPage', 'sortBy', 'descending', 'page', 'rowsNumber'}
    assert 'junk' not in table.pagination and len(str(table.pagination)) < 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert sum('refused' in r.getMessage() for r in caplog.records) == len(crafted), caplog.text
    _socket_event(sid, {'client_id': user.client.id, 'id': table.id, 'listener_id': listeners['update:pagination'],
                        'type': 'update:pagination',
                        'args': [json.dumps({'sortBy': 'updated', 'descending': True, 'page': 2, 'rowsPerPage': 10})]})
    assert table.pagination['page'] == 2  # pagination as Quasar sends it still arrives


async def test_a_select_that_takes_new_choices_takes_them_within_bounds(app_world, user: User, caplog) -> None:
    """A select where an admin may type a new choice (an organisation's tier) kept every string sent as a new
    option: now a choice of at most 200 characters, and no more once the select holds 500."""
    await login(user, 'admin@pulse.demo')
    await user.open('/organisations')
    await user.should_see(marker='org-new')
    user.find(marker='org-new').click()
    await user.should_see(marker='org-tier')
    tier = user.find(marker='org-tier').elements.pop()
    lid = next(lid for lid, listener in tier._event_listeners.items() if listener.type == 'update:modelValue')
    sid = _sid(user)

    def send(value) -> None:
        _socket_event(sid, {'client_id': user.client.id, 'id': tier.id, 'listener_id': lid,
                            'type': 'update:modelValue', 'args': [json.dumps(value)]})
    before = len(tier.options)
    with caplog.at_level(logging.WARNING):
        send('t' * 201)
        send('')
    assert len(tier.options) == before
    send('platinum')
    assert 'platinum' in tier.options and tier.value == 'platinum'  # a new choice as typed still arrives
    with user.client:
        tier.set_options([f'tier {i}' for i in range(500)], value='tier 0')
    send('one too many')
    assert 'one too many' not in tier.options
    send('tier 7')  # an existing choice, typed
    assert tier.value == 'tier 7'


async def test_a_person_keeps_a_bounded_number_of_pages(app_world, create_user, monkeypatch, caplog) -> None:
    """One customer opened 1,000 connected pages (~0.5 MB of server memory each) and nothing refused them. Beyond
    ``max_pages_per_user`` the oldest pages close: they stop their socket, say why, and take no more events."""
    from nicegui import Client, core
    from nicegui.testing import user as simulated

    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_MAX_PAGES_PER_USER', '2')
    reset_settings()
    monkeypatch.setattr(simulated, '_on_handshake', core.sio.handlers['/']['handshake'])  # as a browser's socket
    tabs = [create_user() for _ in range(3)]
    for tab in tabs:
        await login(tab, 'carl@acme.demo', expect='My requests')
    clients = [tab.client for tab in tabs]
    assert [getattr(c, 'pulse_ended', None) for c in clients] == ['too-many-pages', None, None]
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        _socket_event(_sid(tabs[0]), _composer_like_click(tabs[0]))
    assert any('session ended' in r.getMessage() for r in caplog.records)  # the closed page takes no events
    # NiceGUI's own deletion after the socket went: 15 s here, 2.5 s for the test (after our 2 s)
    monkeypatch.setattr(clients[0].page, 'reconnect_timeout', 2.5)
    errors: list[Exception] = []
    monkeypatch.setattr(core.app, 'handle_exception', errors.append)
    clients[0].handle_disconnect(_sid(tabs[0]))  # the browser ran the closing script: its socket went
    await asyncio.sleep(2.2)
    assert clients[0].id not in Client.instances and clients[1].id in Client.instances  # forgotten a moment later
    await asyncio.sleep(0.6)
    assert errors == []  # NiceGUI's deletion came to nothing (it raised KeyError: deleted twice)
    other = create_user()
    await login(other, 'anna@pulse.demo')  # somebody else's pages are not counted with Carl's
    assert getattr(other.client, 'pulse_ended', None) is None and getattr(clients[1], 'pulse_ended', None) is None


def _composer_like_click(user: User) -> dict:
    button = next(b for b in user.find(ui.button).elements if b._event_listeners)
    lid = next(iter(button._event_listeners))
    return {'client_id': user.client.id, 'id': button.id, 'listener_id': lid,
            'type': button._event_listeners[lid].type, 'args': []}


async def test_an_event_for_another_persons_page_is_refused_on_the_senders_socket(app_world, create_user,
                                                                                   caplog) -> None:
    anna, carl = create_user(), create_user()
    await login(anna, 'anna@pulse.demo')
    await anna.open(f'/tickets/{app_world.carls.reference}')
    await login(carl, 'carl@acme.demo', expect='My requests')
    crafted = _composer_event(anna, 'written by Carl')  # Anna's client, element and listener ids, known to Carl
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        _socket_event(_sid(carl), crafted)
    assert anna.find(marker='composer').elements.pop().value == ''
    refused = [r.getMessage() for r in caplog.records if 'message for another page' in r.getMessage()]
    assert len(refused) == 1 and f'user {app_world.user("carl@acme.demo").id}' in refused[0]
    _socket_event(_sid(anna), crafted)  # the same message on Anna's own socket is hers to send
    assert anna.find(marker='composer').elements.pop().value == 'written by Carl'


@pytest.mark.parametrize('message', [{}, 'text', {'client_id': None}, {'client_id': 'x' * 40},
                                     {'client_id': '<own>'}, {'client_id': '<own>', 'id': 'nine'}])
async def test_socket_messages_without_ids_are_refused_and_logged(app_world, user: User, message, caplog) -> None:
    await login(user, 'carl@acme.demo', expect='My requests')
    if isinstance(message, dict) and message.get('client_id') == '<own>':
        message = {**message, 'client_id': user.client.id}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        _socket_event(_sid(user), message)  # no exception escapes: NiceGUI's handler raised KeyError here
    if isinstance(message, dict) and message.get('client_id') == 'x' * 40:
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a page the server forgot: ignored
    else:
        assert any(r.name == SECURITY_LOGGER and 'refused' in r.getMessage() for r in caplog.records), caplog.text


async def _deactivate(world: World, email: str) -> None:
    await deactivate_customer(world.user('anna@pulse.demo'), world.user(email))


async def _new_password(world: World, email: str) -> None:
    from pulse_live.services import accounts
    person = world.user(email)
    async with db.session() as s:
        fresh = await s.get(type(person), person.id)
    token = accounts.make_token(fresh)
    await accounts.reset_password(token, 'a new secret', 'a new secret')


async def _demote_org_admin(world: World, email: str) -> None:
    person = world.user(email)
    await customers.save_customer(actor=world.user('maria@pulse.demo'), user_id=person.id, email=person.email,
                                  display_name=person.display_name, organisation_id=person.organisation_id,
                                  is_org_admin=False)


async def _new_address(world: World, email: str) -> None:
    person = world.user(email)
    await customers.save_customer(actor=world.user('maria@pulse.demo'), user_id=person.id,
                                  email='carl.jensen@acme.demo', display_name=person.display_name,
                                  organisation_id=person.organisation_id, is_org_admin=bool(person.is_org_admin))


ACCOUNT_CHANGES = {
    'deactivated': (_deactivate, 'Your account was deactivated.'),
    'password changed through a link': (_new_password, 'Your password was changed. Please log in again.'),
    'organisation admin taken away': (_demote_org_admin, 'Your access was changed. Please log in again.'),
    # the sign-in address is part of access (old password links end with it): not "your password was changed"
    'sign-in address changed by staff': (_new_address, 'Your access was changed. Please log in again.'),
}


@pytest.mark.parametrize('change', list(ACCOUNT_CHANGES))
async def test_an_open_page_ends_when_its_account_changes(app_world, user: User, change, caplog) -> None:
    """Carl's request page is open; his account changes elsewhere: the page goes to the login with a message at
    once, and what it sends from then on is dropped (nothing posted)."""
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{app_world.carls.reference}')
    await user.should_see(marker='composer')
    old_client, old_sid = user.client, _sid(user)
    send = next(b for b in user.find(ui.button).elements if b.text == 'Send')
    listener_id = next(iter(send._event_listeners))
    with old_client:
        user.find(marker='composer').elements.pop().value = 'after the change'
    do, notice = ACCOUNT_CHANGES[change]
    await do(app_world, 'carl@acme.demo')
    await user.should_see(notice)
    await user.should_see('Log in')
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=SECURITY_LOGGER):
        _socket_event(old_sid, {'client_id': old_client.id, 'id': send.id, 'type': 'click', 'listener_id': listener_id,
                                'args': []})
    async with db.session() as s:
        posted = (await s.execute(select(TicketEvent).where(TicketEvent.body == 'after the change'))).all()
    assert posted == []
    assert any('whose session ended' in r.getMessage() for r in caplog.records), caplog.text


async def test_a_change_that_does_not_touch_access_leaves_open_pages_alone(app_world, user: User) -> None:
    await login(user, 'carl@acme.demo', expect='My requests')
    carl = app_world.user('carl@acme.demo')
    await customers.save_customer(actor=app_world.user('anna@pulse.demo'), user_id=carl.id, email=carl.email,
                                  display_name='Carl J. Jensen', organisation_id=carl.organisation_id,
                                  is_org_admin=True, phone='+41 31 555 12 12')
    await user.should_see('My requests')
    await user.should_not_see('Log in', retries=5)


async def test_online_only_once_the_socket_connected(app_world, user: User) -> None:
    """A page fetched without a socket (a prefetch, a script) does not make its user "online", which would hold
    their mail back in favour of a bell they never see."""
    from pulse_live import presence
    await login(user, 'carl@acme.demo', expect='My requests')
    carl = app_world.user('carl@acme.demo')
    for client_id in list(presence._online.get(carl.id, ())):  # forget the earlier pages' sockets
        presence.disconnected(carl.id, client_id)
    response = await user.http_client.get('/portal')  # the HTML only: no socket ever connects
    assert response.status_code == 200 and 'My requests' in response.text
    assert not presence.is_online(carl.id)
    await user.open('/portal')  # a browser: its socket connects
    assert presence.is_online(carl.id)


async def test_pending_uploads_have_a_budget_per_person_over_all_their_pages(app_world, create_user,
                                                                               monkeypatch) -> None:
    from nicegui import ui as nicegui_ui

    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_MAX_PENDING_UPLOAD_BYTES', '2500')
    reset_settings()
    first, second = create_user(), create_user()
    for page in (first, second):
        await login(page, 'carl@acme.demo', expect='My requests')
        await page.open(f'/portal/requests/{app_world.carls.reference}')

    async def upload(page: User, name: str) -> None:
        uploader = page.find(nicegui_ui.upload).elements.pop()
        with page.client:
            await uploader.handle_uploads([nicegui_ui.upload.SmallFileUpload(name, 'text/plain', b'x' * 1000)])

    await upload(first, 'one.txt')
    await upload(second, 'two.txt')
    await second.should_see('two.txt (1000 B)', retries=20)
    await upload(second, 'three.txt')  # 3000 bytes pending over Carl's two pages: past the budget
    await second.should_see('of files waiting to be sent in your open pages')
    await second.should_not_see('three.txt (1000 B)', retries=5)
    first.find(marker='pending-file').elements.pop().set_value(False)  # remove one file on the first page
    await upload(second, 'three.txt')
    await second.should_see('three.txt (1000 B)')


async def test_every_kind_of_answer_carries_the_security_headers(app_world, user: User) -> None:
    """Not only pages: the sign-in redirect, a refused upload, the API's problem answers, the health checks and the
    error-report ingest answered without them (they come from layers in front of the pages' middleware)."""
    answers = {
        'redirect to sign in': await user.http_client.get('/tickets'),
        'api without a token': await user.http_client.get('/api/v1/me'),
        'health': await user.http_client.get('/healthz'),
        'ingest with a wrong key': await user.http_client.post('/api/1/store/', content=b'{}'),
        'upload without a page': await user.http_client.post('/_nicegui/client/x/upload/1', content=b'x'),
    }
    for what, answer in answers.items():
        assert answer.headers.get('x-frame-options') == 'DENY', (what, answer.status_code)
        assert answer.headers.get('x-content-type-options') == 'nosniff', what
        assert "frame-ancestors 'none'" in answer.headers.get('content-security-policy', ''), what
    assert answers['redirect to sign in'].status_code in (302, 303, 307)


async def test_a_crafted_focusin_on_a_field_face_builds_one_editor_and_none_where_the_field_is_locked(
        app_world, user: User, caplog) -> None:
    """A detail field's face (components/details.py) builds its editor on the page's ``focusin`` event. Sent raw over
    the page's socket, with junk arguments, many at once: one editor, no error; on a locked field (a closed ticket,
    changes the agent may not make) nothing is built."""
    from pulse_live.services import tickets as ticket_service
    await login(user, 'anna@pulse.demo')
    await user.open(f'/tickets/{app_world.carls.reference}')
    await user.should_see(marker='documents', retries=50)
    sid = _sid(user)

    def focusin(field: str, args) -> None:
        face = user.find(marker=f'face-{field}').elements.pop()
        lid = next(iter(face._event_listeners))
        _socket_event(sid, {'client_id': user.client.id, 'id': face.id, 'listener_id': lid, 'type': 'focusin',
                            'args': args})
    with caplog.at_level(logging.WARNING):
        for args in ([], [json.dumps({'x': 1})], ['not json'], [json.dumps([1] * 1000)], [None]):
            focusin('priority_id', args)
        await asyncio.sleep(0.3)
    assert len([e for e in user.client.elements.values() if 'field-priority_id' in e._markers]) == 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

    anna = app_world.user('anna@pulse.demo')
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).limit(1))).scalar_one()
    ticket = (await ticket_view(anna, app_world.carls.id, with_events=False)).ticket
    ticket = await ticket_service.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                                status='resolved', resolution_code_id=code, resolution_text='Done')
    await ticket_service.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                       status='closed')
    await user.should_see(marker='status-badge', content='Closed', retries=50)
    focusin('title', [])
    await asyncio.sleep(0.3)
    assert not [e for e in user.client.elements.values() if 'field-title' in e._markers]
