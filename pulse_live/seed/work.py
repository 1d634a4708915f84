"""Demo data for work management: who works which queue, routing rules and prioritisation rules.

Members are plain rows (like the demo's queues and services); the rules go through the services as the demo admin,
so they show up in the audit log exactly as an admin's changes would.
"""
from __future__ import annotations

from sqlalchemy import select

from .. import db
from ..models import Queue, QueueMember, RoutingRule, PriorityRule, RuleKind, Service, TicketType, User
from ..services import prioritisation, routing

# queue name → e-mails of its members
MEMBERS = {
    '1st level': ['anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo'],
    '2nd level': ['ben@pulse.demo'],
    'Network': ['daniel@pulse.demo'],
}


async def seed_queue_members(users: dict[str, User]) -> None:
    """Idempotent: adds the missing memberships only."""
    async with db.session() as s, s.begin():
        queues = dict((await s.execute(select(Queue.name, Queue.id))).all())
        have = set((await s.execute(select(QueueMember.queue_id, QueueMember.user_id))).all())
        for queue_name, emails in MEMBERS.items():
            for email in emails:
                if queue_name in queues and email in users and (queues[queue_name], users[email].id) not in have:
                    s.add(QueueMember(queue_id=queues[queue_name], user_id=users[email].id))


async def seed_work_rules(users: dict[str, User]) -> None:
    """Routing and prioritisation rules for the demo (only when there are none yet)."""
    admin = users['admin@pulse.demo']
    async with db.session() as s:
        if (await s.execute(select(RoutingRule.id).limit(1))).first() or \
                (await s.execute(select(PriorityRule.id).where(PriorityRule.kind != RuleKind.MATRIX).limit(1))).first():
            return
        queues = dict((await s.execute(select(Queue.name, Queue.id))).all())
        services = dict((await s.execute(select(Service.name, Service.id))).all())
        types = dict((await s.execute(select(TicketType.name, TicketType.id))).all())
    await routing.create_rule(actor=admin, name='VPN service to the network team', queue_id=queues['Network'],
                              service_id=services.get('VPN'))
    await routing.create_rule(actor=admin, name='Network words to the network team', queue_id=queues['Network'],
                              keywords='vpn, network, wifi, uplink, firewall')
    await routing.create_rule(actor=admin, name='ERP incidents to 2nd level', queue_id=queues['2nd level'],
                              service_id=services.get('ERP'), type_id=types.get('Incident'))
    await prioritisation.create_rule(actor=admin, kind='tier', match='gold', raise_by=1)
    await prioritisation.create_rule(actor=admin, kind='criticality', match='critical', raise_by=1)
    await prioritisation.create_rule(actor=admin, kind='keyword', match='outage', level=1)
    await prioritisation.create_rule(actor=admin, kind='keyword', match='down', level=2)
    if 'Inquiry' in types:
        await prioritisation.create_rule(actor=admin, kind='type', match=str(types['Inquiry']), raise_by=-1)
