"""Administering routing and priority rules: validated, audited, admin only; rules that could never match are
refused; matches stored as they are compared."""
import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.models import AuditLog, RoutingRule, TicketType
from pulse_live.services import rule_admin, tickets
from tests.factories import queue_ids
from tests.helpers import assess, priority_names


async def test_moving_and_deleting_routing_rules_is_audited(people):
    admin = people.users['admin@pulse.demo']
    q = await queue_ids()
    first = await rule_admin.create_routing_rule(actor=admin, name='First', queue_id=q['Network'], keywords='wifi')
    second = await rule_admin.create_routing_rule(actor=admin, name='Second', queue_id=q['2nd level'])
    await rule_admin.move_routing_rule(actor=admin, rule_id=second.id, delta=-1)
    await rule_admin.move_routing_rule(actor=admin, rule_id=second.id, delta=-1)  # already first: no change, no row
    await rule_admin.delete_routing_rule(actor=admin, rule_id=first.id)
    with pytest.raises(PermissionDenied):
        await rule_admin.move_routing_rule(actor=people.users['anna@pulse.demo'], rule_id=second.id, delta=1)
    async with db.session() as s:
        audit = list((await s.execute(select(AuditLog).where(AuditLog.action.in_(('move', 'delete')))
                                      .order_by(AuditLog.id))).scalars())
        left = list((await s.execute(select(RoutingRule.name, RoutingRule.position))).all())
    assert [(a.entity, a.entity_id, a.action, a.actor_id, a.summary) for a in audit] == [
        ('routing_rule', second.id, 'move', admin.id, 'Moved routing rule “Second” to position 1'),
        ('routing_rule', first.id, 'delete', admin.id, 'Deleted routing rule “First”')]
    assert audit[0].data == {'before': [first.id, second.id], 'after': [second.id, first.id]}
    assert audit[1].data['before']['name'] == 'First' and audit[1].data['before']['keywords'] == 'wifi'
    assert left == [('Second', 1)]


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
    names = await priority_names()
    ticket = await tickets.create_ticket(actor=anna, title='Now Major by default')
    assert names[ticket.priority_id] == 'Major'
    rule = await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='urgent', raise_by=1)
    await rule_admin.update_priority_rule(actor=admin, rule_id=rule.id, kind='keyword', match='urgent', raise_by=1,
                                     is_active=False)
    await rule_admin.delete_priority_rule(actor=admin, rule_id=rule.id)
    with pytest.raises(ValidationError, match='high, medium, low'):
        await assess(anna, ticket, impact='extreme')
    with pytest.raises(PermissionDenied):
        await assess(people.users['carl@acme.demo'], ticket, impact='high')
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
    admin, anna, carl = (people.users[e] for e in ('admin@pulse.demo', 'anna@pulse.demo', 'carl@acme.demo'))
    async with db.session() as s:
        incident = (await s.execute(select(TicketType.id).where(TicketType.name == 'Incident'))).scalar_one()
    tier = await rule_admin.create_priority_rule(actor=admin, kind='tier', match=' GOLD ', raise_by=1)
    critical = await rule_admin.create_priority_rule(actor=admin, kind='criticality', match='Critical', raise_by=1)
    typed = await rule_admin.create_priority_rule(actor=admin, kind='type', match=f'00{incident}', raise_by=1)
    assert (tier.match, critical.match, typed.match) == ('gold', 'critical', str(incident))
    # the normalised type rule matches (before, '00<id>' was stored and never equalled a type id)
    ticket = await tickets.create_ticket(actor=anna, title='Broken', customer_id=carl.id, type_id=incident)
    assert 'type Incident ↑1' in ticket.priority_reason
