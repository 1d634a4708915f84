"""Access is enforced on the server: tables of attempts a customer might make, each one refused and logged.

Part 1 (services and queries, on SQLite and PostgreSQL): what a crafted websocket event would end up calling,
called directly: other organisations' tickets and attachments, agent-only fields and actions.
Part 2 (the real app with simulated users, SQLite): over HTTP (URLs, attachment ids, agent pages) and over the
websocket (events crafted for elements that are not on the customer's page; forbidden controls not rendered).
"""
from __future__ import annotations

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
from pulse_live.demo import People, seed_people
from pulse_live.errors import NotFound, PermissionDenied
from pulse_live.models import Attachment, Priority, Queue, ResolutionCode, TeamMember, Ticket, TicketEvent
from pulse_live.queries import customers as customer_queries
from pulse_live.queries import dashboard as dashboard_queries
from pulse_live.queries import work_config
from pulse_live.queries import portal as portal_queries
from pulse_live.queries.tickets import attachment_for_download, find_ticket_id, ticket_view
from pulse_live.services import chatter, customers, team, tickets
from pulse_live.services import queues as queue_services
from pulse_live.storage import UploadedFile
from tests.conftest import _HASH, let_database_threads_finish
from tests.ui.conftest import login

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
}


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
    world = await _world(await seed_people(password_hash=_HASH))
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
                   'field-queue_id', 'field-technical_details', 'status-in_progress', 'status-resolved',
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
