"""Automatic prioritisation: the impact × urgency matrix, adjustments, the reason, overrides and re-prioritising."""
import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.models import AuditLog, Priority, Service, TicketEvent, TicketType
from pulse_live.services import catalog, ownership, prioritisation, rule_admin, tickets


async def _priority_names() -> dict[int, str]:
    async with db.session() as s:
        return dict((await s.execute(select(Priority.id, Priority.name))).all())


async def _assess(actor, ticket, **values):
    return await prioritisation.set_assessment(actor=actor, ticket_id=ticket.id, expected_version=ticket.version,
                                               **values)


@pytest.mark.parametrize('impact, urgency, expected', [
    ('high', 'high', 'Critical'), ('high', 'medium', 'Major'), ('medium', 'high', 'Major'),
    ('medium', 'medium', 'Minor'), ('high', 'low', 'Minor'), ('low', 'low', 'Minor'),
])
async def test_matrix_on_the_pulse_scale(people, impact, urgency, expected):
    anna = people.users['anna@pulse.demo']
    names = await _priority_names()
    ticket = await tickets.create_ticket(actor=anna, title='Matrix')
    assert names[ticket.priority_id] == 'Minor' and not ticket.priority_overridden  # medium × medium, the default
    assert ticket.priority_reason == 'Minor: impact Medium × urgency Medium'
    ticket = await _assess(anna, ticket, impact=impact, urgency=urgency)
    assert names[ticket.priority_id] == expected
    assert ticket.priority_reason == f'{expected}: impact {impact.capitalize()} × urgency {urgency.capitalize()}'


async def test_matrix_on_the_five_level_scale(people):
    anna = people.users['anna@pulse.demo']
    await catalog.set_active_scale('helpdesk-1-5')
    names = await _priority_names()
    cases = {('high', 'high'): '1 Critical', ('high', 'medium'): '2 Critical', ('medium', 'medium'): '3 Not critical',
             ('medium', 'low'): '4 Not critical', ('low', 'low'): '5 Little problem'}
    for (impact, urgency), expected in cases.items():
        ticket = await tickets.create_ticket(actor=anna, title=f'{impact} {urgency}')
        ticket = await _assess(anna, ticket, impact=impact, urgency=urgency) \
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
    names = await _priority_names()

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
    names = await _priority_names()
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
    ticket = await _assess(anna, ticket, impact='low', urgency='low')
    assert names[ticket.priority_id] == 'Critical' and ticket.impact == 'low'


async def test_override_is_recorded_and_respected_until_automatic_again(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    names = await _priority_names()
    by_name = {v: k for k, v in names.items() if v in ('Critical', 'Major', 'Minor')}
    ticket = await tickets.create_ticket(actor=anna, title='Printer')
    ticket = await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                         changes={'priority_id': by_name['Major']})
    assert ticket.priority_overridden and ticket.priority_reason == 'Set by Ben Okafor'
    async with db.session() as s:
        change = (await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                            TicketEvent.field == 'priority_id'))).scalar_one()
    assert change.actor_id == ben.id and (change.old_value, change.new_value) == ('Minor', 'Major')
    ticket = await _assess(anna, ticket, impact='high', urgency='high')  # the override stands
    assert names[ticket.priority_id] == 'Major'
    ticket = await prioritisation.use_automatic(actor=anna, ticket_id=ticket.id, expected_version=ticket.version)
    assert names[ticket.priority_id] == 'Critical' and not ticket.priority_overridden
    assert ticket.priority_reason == 'Critical: impact High × urgency High'
    # an agent choosing the priority when opening the ticket is an override too
    chosen = await tickets.create_ticket(actor=anna, title='x', priority_id=by_name['Critical'])
    assert chosen.priority_overridden and 'Set by Anna Keller when opening' in chosen.priority_reason


async def test_rules_are_validated_audited_and_admin_only(people):
    admin, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    with pytest.raises(PermissionDenied):
        await rule_admin.create_priority_rule(actor=anna, kind='keyword', match='x', raise_by=1)
    with pytest.raises(PermissionDenied):
        await rule_admin.set_matrix_level(actor=anna, impact='high', urgency='high', level=2)
    with pytest.raises(ValidationError, match='not a kind'):
        await rule_admin.create_priority_rule(actor=admin, kind='moon', match='x', raise_by=1)
    with pytest.raises(ValidationError, match='needs an effect'):
        await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='x')
    with pytest.raises(ValidationError, match='no such ticket type'):
        await rule_admin.create_priority_rule(actor=admin, kind='type', match='999', raise_by=1)
    with pytest.raises(ValidationError, match='1 \\(most urgent\\) to 5'):
        await rule_admin.set_matrix_level(actor=admin, impact='high', urgency='high', level=9)
    with pytest.raises(ValidationError, match='Impact'):
        await rule_admin.set_matrix_level(actor=admin, impact='huge', urgency='high', level=1)
    await rule_admin.set_matrix_level(actor=admin, impact='medium', urgency='medium', level=2)
    names = await _priority_names()
    ticket = await tickets.create_ticket(actor=anna, title='Now Major by default')
    assert names[ticket.priority_id] == 'Major'
    rule = await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='urgent', raise_by=1)
    await rule_admin.update_priority_rule(actor=admin, rule_id=rule.id, kind='keyword', match='urgent', raise_by=1,
                                     is_active=False)
    await rule_admin.delete_priority_rule(actor=admin, rule_id=rule.id)
    with pytest.raises(ValidationError, match='high, medium, low'):
        await _assess(anna, ticket, impact='extreme')
    with pytest.raises(PermissionDenied):
        await _assess(people.users['carl@acme.demo'], ticket, impact='high')
    async with db.session() as s:
        audit = list((await s.execute(select(AuditLog.entity, AuditLog.action, AuditLog.summary)
                                      .order_by(AuditLog.id))).all())
    assert [(e, a) for e, a, _ in audit] == [('priority_rule', 'update'), ('priority_rule', 'create'),
                                             ('priority_rule', 'update'), ('priority_rule', 'delete')]
    assert audit[0][2] == 'Matrix: impact medium × urgency medium → level 2'


@pytest.mark.parametrize('kind, match, message', [
    ('criticality', 'crtical', ("Criticality: 'crtical' is not a service criticality; choose one of low, normal, "
                                'high, critical')),
    ('criticality', 'very high', 'not a service criticality'),
    ('tier', 'gold customers', "Tier: 'gold customers' can never match a customer tier"),
    ('tier', 'g', 'can never match a customer tier'),
    ('type', 'Incident', 'no such ticket type'),
    ('type', '0', 'no such ticket type'),
])
async def test_rules_that_could_never_match_are_refused(people, kind, match, message):
    admin = people.users['admin@pulse.demo']
    with pytest.raises(ValidationError, match=message):
        await rule_admin.create_priority_rule(actor=admin, kind=kind, match=match, raise_by=1)
    rule = await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='printer', raise_by=1)
    with pytest.raises(ValidationError, match=message):  # changing a rule is checked the same way
        await rule_admin.update_priority_rule(actor=admin, rule_id=rule.id, kind=kind, match=match, raise_by=1)
    async with db.session() as s:
        assert (await s.execute(select(AuditLog.action))).scalars().all() == ['create']  # the keyword rule only


async def test_rule_matches_are_stored_as_they_are_compared(people):
    admin, anna, carl = people.users['admin@pulse.demo'], people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    async with db.session() as s:
        incident = (await s.execute(select(TicketType.id).where(TicketType.name == 'Incident'))).scalar_one()
    tier = await rule_admin.create_priority_rule(actor=admin, kind='tier', match=' GOLD ', raise_by=1)
    critical = await rule_admin.create_priority_rule(actor=admin, kind='criticality', match='Critical', raise_by=1)
    typed = await rule_admin.create_priority_rule(actor=admin, kind='type', match=f'00{incident}', raise_by=1)
    assert (tier.match, critical.match, typed.match) == ('gold', 'critical', str(incident))
    # the normalised type rule matches (before, '00<id>' was stored and never equalled a type id)
    ticket = await tickets.create_ticket(actor=anna, title='Broken', customer_id=carl.id, type_id=incident)
    assert 'type Incident ↑1' in ticket.priority_reason
