"""Agents link and unlink the customer's configuration items to a ticket: history, live update, and the checks."""
import logging

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import NotFound, PermissionDenied, ValidationError
from pulse_live.models import ConfigurationItem
from pulse_live.queries import portal, ticket_customer
from pulse_live.services import customers, ticket_items, tickets
from tests.factories import load_ticket
from tests.helpers import history, resolution_code_id, ticket_changes


async def _items(owner_email: str | None = None) -> dict[str, ConfigurationItem]:
    async with db.session() as s:
        return {i.name: i for i in (await s.execute(select(ConfigurationItem))).scalars()}


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
    change = ticket_changes()[-1]
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
    code = await resolution_code_id()
    t = await tickets.change_status(actor=anna, ticket_id=tom_ticket.id, expected_version=tom_ticket.version,
                                    status='resolved', resolution_code_id=code, resolution_text='ok')
    await tickets.change_status(actor=anna, ticket_id=t.id, expected_version=t.version, status='closed')
    with pytest.raises(ValidationError, match='closed'):
        await ticket_items.link_item(actor=anna, ticket_id=tom_ticket.id, item_id=items['Laptop LON-0042'].id)
