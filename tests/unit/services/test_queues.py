"""Queue administration: validated, audited, admin only; a queue that still holds tickets cannot be deleted."""
import pytest
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.models import AuditLog, Queue, RoutingRule
from pulse_live.services import queues, rule_admin, tickets
from tests.factories import queue_ids


async def test_rule_and_queue_admin_is_validated_audited_and_admin_only(people):
    admin, anna, maria = (people.users[e] for e in ('admin@pulse.demo', 'anna@pulse.demo', 'maria@pulse.demo'))
    q = await queue_ids()
    with pytest.raises(PermissionDenied):
        await rule_admin.create_routing_rule(actor=anna, name='x', queue_id=q['Network'])
    with pytest.raises(PermissionDenied):
        await queues.create_queue(actor=maria, name='Managers only')
    with pytest.raises(ValidationError, match='name'):
        await rule_admin.create_routing_rule(actor=admin, name='  ', queue_id=q['Network'])
    with pytest.raises(ValidationError, match='Queue'):
        await rule_admin.create_routing_rule(actor=admin, name='x', queue_id=99999)
    with pytest.raises(ValidationError, match='Channel'):
        await rule_admin.create_routing_rule(actor=admin, name='x', queue_id=q['Network'], channel='pigeon')
    with pytest.raises(ValidationError, match='exists already'):
        await queues.create_queue(actor=admin, name='network')
    security = await queues.create_queue(actor=admin, name='Security', description='Incidents with a CVE')
    await queues.add_member(actor=admin, queue_id=security.id, user_id=anna.id)
    with pytest.raises(ValidationError, match='already'):
        await queues.add_member(actor=admin, queue_id=security.id, user_id=anna.id)
    with pytest.raises(ValidationError, match='active agents'):
        await queues.add_member(actor=admin, queue_id=security.id, user_id=people.users['carl@acme.demo'].id)
    rule = await rule_admin.create_routing_rule(actor=admin, name='CVE', queue_id=security.id, keywords='cve')
    await rule_admin.update_routing_rule(actor=admin, rule_id=rule.id, name='CVE reports', queue_id=security.id,
                                         keywords='cve, exploit')
    await queues.update_queue(actor=admin, queue_id=security.id, name='Security', description='CVEs', is_default=True)
    async with db.session() as s:
        defaults = list((await s.execute(select(Queue.name).where(Queue.is_default.is_(True)))).scalars())
    assert defaults == ['Security']  # only one default queue
    with pytest.raises(ValidationError, match='default queue'):
        await queues.delete_queue(actor=admin, queue_id=security.id)
    await queues.update_queue(actor=admin, queue_id=q['1st level'], name='1st level', is_default=True)
    await queues.remove_member(actor=admin, queue_id=security.id, user_id=anna.id)
    await queues.delete_queue(actor=admin, queue_id=security.id)  # its rule goes with it
    async with db.session() as s:
        assert (await s.execute(select(func.count(RoutingRule.id)))).scalar_one() == 0
        audit = list((await s.execute(select(AuditLog).order_by(AuditLog.id))).scalars())
    assert [(a.entity, a.action) for a in audit] == [
        ('queue', 'create'), ('queue_member', 'create'), ('routing_rule', 'create'), ('routing_rule', 'update'),
        ('queue', 'update'), ('queue', 'update'), ('queue_member', 'delete'), ('queue', 'delete')]
    assert all(a.actor_id == admin.id for a in audit)
    assert audit[3].data['before']['keywords'] == 'cve' and audit[3].data['after']['keywords'] == 'cve, exploit'


async def test_delete_queue_with_tickets_is_refused(people):
    admin, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    q = await queue_ids()
    await tickets.create_ticket(actor=anna, title='x', queue_id=q['Network'])
    with pytest.raises(ValidationError, match='still holds 1 ticket'):
        await queues.delete_queue(actor=admin, queue_id=q['Network'])
