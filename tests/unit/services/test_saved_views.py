"""Saved views: personal or shared with a queue, who lists which, who may change them, checked filters, counts."""
import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import NotFound, PermissionDenied, ValidationError
from pulse_live.models import Queue, SavedView
from pulse_live.queries import saved_views as view_queries
from pulse_live.services import saved_views, tickets
from tests.factories import make_ticket
from tests.helpers import resolution_code_id


async def _queue(name: str) -> int:
    async with db.session() as s:
        return (await s.execute(select(Queue.id).where(Queue.name == name))).scalar_one()


async def test_a_personal_view_is_never_listed_for_anybody_else(people):
    anna, ben, daniel, maria, admin = (people.users[e] for e in (
        'anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo', 'maria@pulse.demo', 'admin@pulse.demo'))
    mine = await saved_views.save_view(actor=anna, name='My VPN', filters={'q': 'vpn'})
    for other in (ben, daniel, maria, admin):
        assert mine.id not in [v.id for v in await view_queries.visible_views(other)]
        with pytest.raises(NotFound):
            await saved_views.delete_view(actor=other, view_id=mine.id)
        with pytest.raises(NotFound):
            await saved_views.save_view(actor=other, view_id=mine.id, name='Taken', filters={})
    assert [v.name for v in await view_queries.visible_views(anna)] == ['My VPN']


async def test_a_shared_view_is_listed_for_the_queues_members_and_managers_only(people):
    anna, ben, daniel, maria = (people.users[e] for e in (
        'anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo', 'maria@pulse.demo'))
    second = await _queue('2nd level')  # Ben works it; Anna and Daniel do not
    with pytest.raises(PermissionDenied, match='only with a queue you work in'):
        await saved_views.save_view(actor=anna, name='2nd', filters={}, queue_id=second)
    view = await saved_views.save_view(actor=ben, name='2nd level urgent', filters={'queue_id': second},
                                       queue_id=second)
    assert view.id in [v.id for v in await view_queries.visible_views(ben)]
    assert view.id in [v.id for v in await view_queries.visible_views(maria)]  # a manager
    for outsider in (anna, daniel):
        assert view.id not in [v.id for v in await view_queries.visible_views(outsider)]
    # a manager may change a shared view; its owner too; nobody else sees it to change it
    await saved_views.save_view(actor=maria, view_id=view.id, name='2nd level: urgent', filters={'queue_id': second},
                                queue_id=second)
    with pytest.raises(NotFound):
        await saved_views.delete_view(actor=anna, view_id=view.id)
    await saved_views.delete_view(actor=ben, view_id=view.id)
    assert await view_queries.visible_views(maria) == []


@pytest.mark.parametrize('filters, message', [
    ({'status': 'exploded'}, "'exploded' is not a status."),
    ({'queue_id': -3}, 'must name a row'),
    ({'queue_id': 'x'}, 'must name a row'),
    ({'created_from': '2026-13-01'}, 'is not a date'),
    ({'q': 'x' * 201}, 'at most 200 characters'),
    ({'sort': 'random'}, 'is not a sort order'),
    ({'password_hash': 'x'}, 'is not a filter of the ticket list'),
    ('status=open', 'The filters of a view are missing.'),
])
async def test_bad_filters_and_names_are_refused_and_nothing_is_stored(people, filters, message):
    anna = people.users['anna@pulse.demo']
    with pytest.raises(ValidationError, match=message.replace('(', r'\(').replace('.', r'\.')):
        await saved_views.save_view(actor=anna, name='Bad', filters=filters)
    for name in ('  ', 'x' * 81):
        with pytest.raises(ValidationError):
            await saved_views.save_view(actor=anna, name=name, filters={})
    with pytest.raises(ValidationError, match='That queue does not exist'):
        await saved_views.save_view(actor=anna, name='Gone', filters={}, queue_id=999_999)
    async with db.session() as s:
        assert (await s.execute(select(SavedView))).scalars().all() == []


async def test_customers_have_no_saved_views(people):
    carl = people.users['carl@acme.demo']
    with pytest.raises(PermissionDenied):
        await saved_views.save_view(actor=carl, name='Mine', filters={})
    assert await view_queries.visible_views(carl) == []


async def test_a_views_count_is_the_ticket_lists_count_for_its_filters(people):
    anna = people.users['anna@pulse.demo']
    network = await _queue('Network')
    await make_ticket(people, 'Switch port dead', queue_id=network)
    await make_ticket(people, 'Switch fan loud', queue_id=network)
    closed = await make_ticket(people, 'Switch reboot', queue_id=network)
    await tickets.change_status(actor=anna, ticket_id=closed.id, status='resolved', expected_version=closed.version,
                                resolution_code_id=await resolution_code_id(), resolution_text='Rebooted')
    await make_ticket(people, 'Printer jam')
    view = await saved_views.save_view(actor=anna, name='Switches', filters={'q': 'switch', 'queue_id': network})
    every = await saved_views.save_view(actor=anna, name='All switches', filters={'q': 'switch', 'status': 'all'})
    triage = await saved_views.save_view(actor=anna, name='Triage', filters={'triage': True})  # all have customers
    assert triage.filters == {'triage': 1}
    rows = await view_queries.visible_views(anna)
    counts = await view_queries.view_counts(anna, rows)
    assert counts == {view.id: 2, every.id: 3, triage.id: 0}
    assert rows[0].address == f'/tickets?q=switch&queue_id={network}&view={view.id}'
