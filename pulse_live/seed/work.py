"""Demo data for work management: who works which queue, routing rules and prioritisation rules.

All of it goes through the services as the demo admin, so it shows up in the audit log exactly as an admin's changes
would.
"""
from __future__ import annotations

from sqlalchemy import select

from .. import db
from ..models import PriorityRule, Queue, QueueMember, RoutingRule, RuleKind, Service, TicketType, User
from ..services import queues, rule_admin

# queue name → e-mails of its members
MEMBERS = {
    '1st level': ['anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo'],
    '2nd level': ['ben@pulse.demo'],
    'Network': ['daniel@pulse.demo'],
}


async def seed_queue_members(admin: User, users: dict[str, User]) -> None:
    """Idempotent: the admin adds the missing memberships only."""
    async with db.session() as s:
        queue_ids = dict((await s.execute(select(Queue.name, Queue.id))).all())
        have = set((await s.execute(select(QueueMember.queue_id, QueueMember.user_id))).all())
    for queue_name, emails in MEMBERS.items():
        for email in emails:
            if queue_name in queue_ids and email in users and (queue_ids[queue_name], users[email].id) not in have:
                await queues.add_member(actor=admin, queue_id=queue_ids[queue_name], user_id=users[email].id)


async def seed_work_rules(users: dict[str, User]) -> None:
    """Routing and prioritisation rules for the demo (only when there are none yet)."""
    admin = users['admin@pulse.demo']
    async with db.session() as s:
        if (await s.execute(select(RoutingRule.id).limit(1))).first() or \
                (await s.execute(select(PriorityRule.id).where(PriorityRule.kind != RuleKind.MATRIX).limit(1))).first():
            return
        queue_ids = dict((await s.execute(select(Queue.name, Queue.id))).all())
        services = dict((await s.execute(select(Service.name, Service.id))).all())
        types = dict((await s.execute(select(TicketType.name, TicketType.id))).all())
    await rule_admin.create_routing_rule(actor=admin, name='VPN service to the network team',
                                         queue_id=queue_ids['Network'], service_id=services.get('VPN'))
    await rule_admin.create_routing_rule(actor=admin, name='Network words to the network team',
                                         queue_id=queue_ids['Network'], keywords='vpn, network, wifi, uplink, firewall')
    await rule_admin.create_routing_rule(actor=admin, name='ERP incidents to 2nd level',
                                         queue_id=queue_ids['2nd level'],
                                         service_id=services.get('ERP'), type_id=types.get('Incident'))
    await rule_admin.create_priority_rule(actor=admin, kind='tier', match='gold', raise_by=1)
    await rule_admin.create_priority_rule(actor=admin, kind='criticality', match='critical', raise_by=1)
    await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='outage', level=1)
    await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='down', level=2)
    if 'Inquiry' in types:
        await rule_admin.create_priority_rule(actor=admin, kind='type', match=str(types['Inquiry']), raise_by=-1)
