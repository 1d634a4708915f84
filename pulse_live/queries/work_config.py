"""What the admin page for queues and rules shows: queues with members, routing rules in order, prioritisation
rules, and the latest audit entries."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from .. import auth, db
from ..models import (
    AuditLog,
    Organisation,
    PriorityRule,
    Queue,
    QueueMember,
    RoutingRule,
    RuleKind,
    Service,
    Ticket,
    TicketType,
    User,
)
from ..rules.prioritisation import describe_rule


@dataclass
class QueueConfig:
    id: int
    name: str
    description: str
    is_default: bool
    tickets: int
    members: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class RoutingRuleView:
    id: int
    position: int
    name: str
    is_active: bool
    queue_id: int
    queue: str
    conditions: str
    rule: RoutingRule


@dataclass
class AuditView:
    created_at: datetime
    actor: str
    summary: str


@dataclass
class WorkConfig:
    queues: list[QueueConfig]
    routing: list[RoutingRuleView]
    matrix: dict[tuple[str, str], int]
    priority_rules: list[tuple[PriorityRule, str]]
    audit: list[AuditView]


def require_admin(viewer: User) -> None:
    if not auth.can_configure_work(viewer):
        raise auth.deny(viewer, 'configure', 'queues and rules', 'Only admins can configure queues and rules.')


async def work_config(viewer: User, *, audit_limit: int = 50) -> WorkConfig:
    require_admin(viewer)
    async with db.session() as s:
        counts = dict((await s.execute(select(Ticket.queue_id, func.count()).group_by(Ticket.queue_id))).all())
        queues = [QueueConfig(id=q.id, name=q.name, description=q.description, is_default=q.is_default,
                              tickets=counts.get(q.id, 0))
                  for q in (await s.execute(select(Queue).order_by(Queue.name))).scalars()]
        by_id = {q.id: q for q in queues}
        for queue_id, user_id, name in (await s.execute(
                select(QueueMember.queue_id, User.id, User.display_name).join(User, QueueMember.user_id == User.id)
                .order_by(User.display_name))).all():
            if queue_id in by_id:
                by_id[queue_id].members.append((user_id, name))
        types = dict((await s.execute(select(TicketType.id, TicketType.name))).all())
        services = dict((await s.execute(select(Service.id, Service.name))).all())
        orgs = dict((await s.execute(select(Organisation.id, Organisation.name))).all())
        routing = []
        for rule in (await s.execute(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))).scalars():
            parts = []
            if rule.type_id:
                parts.append(f'type {types.get(rule.type_id, rule.type_id)}')
            if rule.service_id:
                parts.append(f'service {services.get(rule.service_id, rule.service_id)}')
            if rule.organisation_id:
                parts.append(f'organisation {orgs.get(rule.organisation_id, rule.organisation_id)}')
            if rule.channel:
                parts.append(f'channel {rule.channel}')
            if rule.keywords:
                parts.append(f'keywords {rule.keywords}')
            routing.append(RoutingRuleView(id=rule.id, position=rule.position, name=rule.name, is_active=rule.is_active,
                                           queue_id=rule.queue_id, queue=by_id[rule.queue_id].name
                                           if rule.queue_id in by_id else '?',
                                           conditions=' and '.join(parts) or 'every ticket', rule=rule))
        rules = list((await s.execute(select(PriorityRule).order_by(PriorityRule.position, PriorityRule.id))).scalars())
        audit = [AuditView(created_at=a.created_at, actor=name or 'System', summary=a.summary)
                 for a, name in (await s.execute(
                     select(AuditLog, User.display_name).outerjoin(User, AuditLog.actor_id == User.id)
                     .order_by(AuditLog.id.desc()).limit(audit_limit))).all()]
    matrix = {(r.impact, r.urgency): r.level for r in rules  # a matrix rule has all three (the service checks)
              if r.kind == RuleKind.MATRIX and r.impact is not None and r.urgency is not None and r.level is not None}
    others = []
    for r in rules:
        if r.kind == RuleKind.MATRIX:
            continue
        others.append((r, describe_rule(r, types)))
    return WorkConfig(queues=queues, routing=routing, matrix=matrix, priority_rules=others, audit=audit)
