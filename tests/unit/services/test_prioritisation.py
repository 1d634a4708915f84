"""Automatic prioritisation: the impact × urgency matrix on both scales, adjustments with their reason, overrides,
"Use automatic" and re-prioritising while untouched."""

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import (
    Priority,
    Service,
    TicketEvent,
    TicketType,
)
from pulse_live.services import catalog, ownership, prioritisation, rule_admin, tickets
from tests.helpers import assess, history, priority_names


@pytest.mark.parametrize('impact, urgency, expected', [
    ('high', 'high', 'Critical'), ('high', 'medium', 'Major'), ('medium', 'high', 'Major'),
    ('medium', 'medium', 'Minor'), ('high', 'low', 'Minor'), ('low', 'low', 'Minor'),
])
async def test_matrix_on_the_pulse_scale(people, impact, urgency, expected):
    anna = people.users['anna@pulse.demo']
    names = await priority_names()
    ticket = await tickets.create_ticket(actor=anna, title='Matrix')
    assert names[ticket.priority_id] == 'Minor' and not ticket.priority_overridden  # medium × medium, the default
    assert ticket.priority_reason == 'Minor: impact Medium × urgency Medium'
    ticket = await assess(anna, ticket, impact=impact, urgency=urgency)
    assert names[ticket.priority_id] == expected
    assert ticket.priority_reason == f'{expected}: impact {impact.capitalize()} × urgency {urgency.capitalize()}'


async def test_matrix_on_the_five_level_scale(people):
    anna = people.users['anna@pulse.demo']
    await catalog.set_active_scale('helpdesk-1-5')
    names = await priority_names()
    cases = {('high', 'high'): '1 Critical', ('high', 'medium'): '2 Critical', ('medium', 'medium'): '3 Not critical',
             ('medium', 'low'): '4 Not critical', ('low', 'low'): '5 Little problem'}
    for (impact, urgency), expected in cases.items():
        ticket = await tickets.create_ticket(actor=anna, title=f'{impact} {urgency}')
        ticket = await assess(anna, ticket, impact=impact, urgency=urgency) \
            if (impact, urgency) != ('medium', 'medium') else ticket
        assert names[ticket.priority_id] == expected, (impact, urgency)


async def test_adjustments_tier_criticality_type_keyword_with_reason(people):
    admin, anna, carl = (people.users[e] for e in ('admin@pulse.demo', 'anna@pulse.demo', 'carl@acme.demo'))
    async with db.session() as s:
        erp = (await s.execute(select(Service.id).where(Service.name == 'ERP'))).scalar_one()
        printing = (await s.execute(select(Service.id).where(Service.name == 'Printing'))).scalar_one()
        inquiry = (await s.execute(select(TicketType.id).where(TicketType.name == 'Inquiry'))).scalar_one()
    await rule_admin.create_priority_rule(actor=admin, kind='tier', match='gold', raise_by=1)
    await rule_admin.create_priority_rule(actor=admin, kind='criticality', match='critical', raise_by=1)
    await rule_admin.create_priority_rule(actor=admin, kind='type', match=str(inquiry), raise_by=-1)
    await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='data loss', level=1)
    names = await priority_names()

    gold = await tickets.create_ticket(actor=anna, title='Slow', customer_id=carl.id, service_id=printing)
    assert names[gold.priority_id] == 'Major'
    assert gold.priority_reason == 'Major: impact Medium × urgency Medium; customer tier gold ↑1'
    both = await tickets.create_ticket(actor=anna, title='Slow', customer_id=carl.id, service_id=erp)
    assert names[both.priority_id] == 'Critical'
    assert 'customer tier gold ↑1; service criticality critical ↑1' in both.priority_reason
    question = await tickets.create_ticket(actor=anna, title='How do I…', type_id=inquiry)
    assert names[question.priority_id] == 'Minor' and 'type Inquiry ↓1' in question.priority_reason
    loss = await tickets.create_ticket(actor=anna, title='Backup failed', description='Risk of DATA LOSS tonight')
    assert names[loss.priority_id] == 'Critical' and 'keyword “data loss” ↑2' in loss.priority_reason
    portal = await tickets.create_ticket(actor=carl, title='Printer', priority_id=1)  # customers cannot choose
    assert names[portal.priority_id] == 'Major' and not portal.priority_overridden


async def test_reprioritised_on_input_change_only_while_untouched(people):
    admin, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='outage', level=1)
    names = await priority_names()
    ticket = await tickets.create_ticket(actor=anna, title='Mail slow')
    ticket = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         changes={'title': 'Mail outage'})
    assert names[ticket.priority_id] == 'Critical'
    async with db.session() as s:
        auto = (await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                          TicketEvent.field == 'priority_id'))).scalar_one()
    assert auto.actor_id is None and auto.body == 'Priority changed automatically Minor → Critical'
    # once somebody works on it, the rules leave it alone
    ticket = await ownership.take_ticket(actor=anna, ticket_id=ticket.id)
    ticket = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         changes={'title': 'Mail slow again'})
    assert names[ticket.priority_id] == 'Critical'
    ticket = await assess(anna, ticket, impact='low', urgency='low')
    assert names[ticket.priority_id] == 'Critical' and ticket.impact == 'low'


async def test_override_is_recorded_and_respected_until_automatic_again(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    names = await priority_names()
    by_name = {v: k for k, v in names.items() if v in ('Critical', 'Major', 'Minor')}
    ticket = await tickets.create_ticket(actor=anna, title='Printer')
    ticket = await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                         changes={'priority_id': by_name['Major']})
    assert ticket.priority_overridden and ticket.priority_reason == 'Set by Ben Okafor'
    async with db.session() as s:
        change = (await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                            TicketEvent.field == 'priority_id'))).scalar_one()
    assert change.actor_id == ben.id and (change.old_value, change.new_value) == ('Minor', 'Major')
    ticket = await assess(anna, ticket, impact='high', urgency='high')  # the override stands
    assert names[ticket.priority_id] == 'Major'
    ticket = await prioritisation.use_automatic(actor=anna, ticket_id=ticket.id, expected_version=ticket.version)
    assert names[ticket.priority_id] == 'Critical' and not ticket.priority_overridden
    assert ticket.priority_reason == 'Critical: impact High × urgency High'
    # an agent choosing the priority when opening the ticket is an override too
    chosen = await tickets.create_ticket(actor=anna, title='x', priority_id=by_name['Critical'])
    assert chosen.priority_overridden and 'Set by Anna Keller when opening' in chosen.priority_reason


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
