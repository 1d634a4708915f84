"""Workflow gaps (issue 11, points 5 and 6): "Start work" takes an unassigned ticket, staff reopen a closed ticket
with a reason, "Use automatic" names who chose it, and agents link the affected configuration items."""
import logging

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.config import reset_settings
from pulse_live.errors import NotFound, PermissionDenied, ValidationError
from pulse_live.events import TicketChanged
from pulse_live.models import ConfigurationItem, Priority, ResolutionCode, Ticket
from pulse_live.queries import portal, ticket_customer
from pulse_live.services import customers, prioritisation, ticket_items, tickets
from tests.factories import load_ticket, queue_ids
from tests.helpers import history


async def _resolution_code() -> int:
    async with db.session() as s:
        return (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()


async def _items(owner_email: str | None = None) -> dict[str, ConfigurationItem]:
    async with db.session() as s:
        return {i.name: i for i in (await s.execute(select(ConfigurationItem))).scalars()}


def _changes() -> list[TicketChanged]:
    return [e for e in get_bus().published if isinstance(e, TicketChanged)]


# --- Start work ---

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
    change = _changes()[-1]  # one change, both rows, both fields: every open page shows the new owner at once
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


# --- staff reopen a closed ticket, with a reason ---

async def _closed(people) -> Ticket:
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='VPN drops', customer_id=carl.id, assignee_id=anna.id)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=await _resolution_code(),
                                         resolution_text='New certificate')
    return await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                       status='closed')


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


# --- "Use automatic" names who chose it ---

async def test_use_automatic_names_who_chose_it_in_the_history(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    async with db.session() as s:
        by_name = dict((await s.execute(select(Priority.name, Priority.id))).all())
    ticket = await tickets.create_ticket(actor=anna, title='Printer', impact='high', urgency='high')
    ticket = await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                         changes={'priority_id': by_name['Minor']})
    ticket = await prioritisation.use_automatic(actor=anna, ticket_id=ticket.id, expected_version=ticket.version)
    row = (await history(ticket.id, kind='field_change'))[-1]
    assert (row.field, row.actor_id, row.old_value, row.new_value) == ('priority_id', anna.id, 'Minor', 'Critical')
    assert row.body == 'Anna Keller switched the priority back to automatic: Minor → Critical'
    assert row.data['automatic'] is True


# --- affected configuration items ---

async def test_agents_link_and_unlink_the_customers_items_with_history_and_live_update(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    items = await _items()
    laptop, printer = items['Laptop CPH-LT-0231'], items['Printer floor 3']
    ticket = await tickets.create_ticket(actor=anna, title='Laptop will not dock', customer_id=carl.id)
    before = (await load_ticket(ticket.id)).version

    await ticket_items.link_item(actor=anna, ticket_id=ticket.id, item_id=laptop.id)
    row = (await history(ticket.id, kind='field_change'))[-1]
    assert (row.field, row.actor_id, row.is_internal, row.new_value) == ('configuration_items', anna.id, True,
                                                                        'Laptop CPH-LT-0231')
    assert row.body == ('Anna Keller linked the affected item Laptop CPH-LT-0231 '
                        '(Lenovo ThinkPad T14 Gen 3, S/N PF3KX8Q1)')
    change = _changes()[-1]
    assert (change.ticket_id, change.kind, change.event_ids, change.fields) == \
        (ticket.id, 'field_change', (row.id,), ('configuration_items',))
    assert (await load_ticket(ticket.id)).version == before  # nobody's field edit becomes stale by a link

    await ticket_items.link_item(actor=anna, ticket_id=ticket.id, item_id=printer.id)  # shared by ACME
    panel = await ticket_customer.customer_panel(anna, ticket.id)
    assert [link.item.name for link in panel.linked] == ['Laptop CPH-LT-0231', 'Printer floor 3']
    assert panel.linked[0].added_by == 'Anna Keller'
    assert {i.name for i in panel.linkable} == {'Phone CPH-MB-0112', 'ERP client'}  # Carl's, not yet linked
    assert (panel.profile.name, panel.profile.email, panel.profile.organisation, panel.profile.tier) == \
        ('Carl Jensen', 'carl@acme.demo', 'ACME Corp', 'gold')

    with pytest.raises(ValidationError, match='linked to .* already'):
        await ticket_items.link_item(actor=anna, ticket_id=ticket.id, item_id=laptop.id)
    await ticket_items.unlink_item(actor=anna, ticket_id=ticket.id, item_id=printer.id)
    last = (await history(ticket.id, kind='field_change'))[-1]
    assert last.body.startswith('Anna Keller removed the affected item Printer floor 3')
    assert [link.item.name for link in await ticket_customer.linked_items(anna, ticket.id)] == ['Laptop CPH-LT-0231']
    with pytest.raises(ValidationError, match='not linked'):
        await ticket_items.unlink_item(actor=anna, ticket_id=ticket.id, item_id=printer.id)

    # the customer reads none of it in the portal
    events, _ = await portal.request_events(carl, ticket.id)
    assert not [e for e in events if e.field == 'configuration_items']


async def test_linking_items_is_checked(people, caplog):
    anna, carl, tom = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'tom@globex.demo'))
    items = await _items()
    ticket = await tickets.create_ticket(actor=anna, title='Laptop', customer_id=carl.id)
    with caplog.at_level(logging.WARNING, logger='pulse_live.security'):
        with pytest.raises(PermissionDenied, match='Only agents'):
            await ticket_items.link_item(actor=carl, ticket_id=ticket.id, item_id=items['Laptop CPH-LT-0231'].id)
        with pytest.raises(PermissionDenied, match='another organisation'):
            await ticket_items.link_item(actor=anna, ticket_id=ticket.id, item_id=items['Laptop LON-0042'].id)
    assert sum('refused' in r.message for r in caplog.records) == 2
    assert await ticket_customer.customer_panel(carl, ticket.id) is None  # customers never get the panel
    with pytest.raises(ValidationError, match='No such configuration item'):
        await ticket_items.link_item(actor=anna, ticket_id=ticket.id, item_id=999999)
    with pytest.raises(NotFound):
        await ticket_items.link_item(actor=anna, ticket_id=999999, item_id=items['Laptop CPH-LT-0231'].id)
    phone = items['Phone CPH-MB-0112']
    await customers.set_item_active(actor=anna, item_id=phone.id, active=False)
    with pytest.raises(ValidationError, match='retired'):
        await ticket_items.link_item(actor=anna, ticket_id=ticket.id, item_id=phone.id)
    assert not [e for e in await history(ticket.id, kind='field_change') if e.field == 'configuration_items']
    # a closed ticket's items stay as they were
    tom_ticket = await tickets.create_ticket(actor=anna, title='Dock', customer_id=tom.id)
    code = await _resolution_code()
    t = await tickets.change_status(actor=anna, ticket_id=tom_ticket.id, expected_version=tom_ticket.version,
                                    status='resolved', resolution_code_id=code, resolution_text='ok')
    await tickets.change_status(actor=anna, ticket_id=t.id, expected_version=t.version, status='closed')
    with pytest.raises(ValidationError, match='closed'):
        await ticket_items.link_item(actor=anna, ticket_id=tom_ticket.id, item_id=items['Laptop LON-0042'].id)


async def test_the_panel_lists_the_customers_other_recent_tickets(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    older = [await tickets.create_ticket(actor=anna, title=f'Earlier {n}', customer_id=carl.id) for n in range(3)]
    ticket = await tickets.create_ticket(actor=anna, title='Now', customer_id=carl.id)
    panel = await ticket_customer.customer_panel(anna, ticket.id)
    assert [row.reference for row in panel.profile.tickets] == [t.reference for t in reversed(older)]
    nobody = await tickets.create_ticket(actor=anna, title='Internal job')
    panel = await ticket_customer.customer_panel(anna, nobody.id)
    assert panel.profile is None and panel.linkable == [] and panel.linked == []
