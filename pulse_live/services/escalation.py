"""Escalation: fire the rules that are due for a ticket, through the ticket services, once per ticket per clock cycle.

The pure decision (which rules fire, when the next one is due) is ``pulse_live/sla/escalation.py``; the facts are
read by ``queries/escalation.py``; the worker that calls ``run_due`` is ``pulse_live/escalation_worker.py``.

**One firing** (``fire``) is two steps:

1. one ticket write (``ticket_write``) that stores the firing row — unique (rule, ticket, cycle), so a second worker
   or a restart that tries again finds it and does nothing — together with what needs no other service: the
   escalation level (1 → 2 → 3, ``escalation_level``), a history row naming the rule, in-app notifications and mails
   to the people the rule names (the notification planner's outbox), and the webhook deliveries (the durable
   queue). The follow-up actions are planned in the same row with concrete targets (queue X, agent Y, priority Z).
2. the follow-up actions through their services, each its own change: ``tickets.update_ticket`` (queue, priority),
   ``ownership.assign_ticket``, ``team.add_member``. Then the firing is marked done. A crash in between leaves it
   pending; ``resume_pending`` (the worker, at start) carries the plan out — the targets are concrete, so doing
   one twice changes nothing.

**Who acts.** The history shows the system as the actor under the rule's name: the changes are made by a transient,
never stored actor (``rule_actor``: no id, so ``actor_id`` is None — "by the system" — and its display name is
``Escalation rule “<name>”``) that has the admin role for the permission checks of the services it calls. It is
made only here, for the rule's own actions.

**The schedule.** ``escalation_schedule`` holds, per open ticket, the next moment a rule may fire; ``reschedule``
recomputes it for some tickets (after a change: the worker listens to ``TicketChanged``) or for all (at start,
after a rule or calendar change). The worker's "what is due now" is a range scan of its index.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .. import db, presence
from ..errors import ServiceError
from ..events import NotificationCreated
from ..models import (
    EscalationFiring,
    EscalationRule,
    EscalationSchedule,
    EventKind,
    Notification,
    Priority,
    QueueMember,
    Role,
    TeamMember,
    Ticket,
    User,
    WebhookEndpoint,
    utcnow,
)
from ..notify import planner
from ..notify import webhooks as webhook_sender
from ..queries import escalation as q
from ..sla import escalation as pure
from . import ownership, team, tickets, webhooks
from ._uow import unit_of_work
from .ticket_write import ticket_write

log = logging.getLogger(__name__)
MAX_LEVEL = 3
FOLLOW_UPS = ('move_queue', 'assign', 'assign_lead', 'raise_priority', 'add_team')
EVENT_CRITERIA = frozenset({'unassigned', 'no_update', 'reopened'})


class _AlreadyFired(Exception):
    pass


def rule_actor(rule_name: str) -> User:
    """The acting "user" of a rule's actions: never stored, no id (the history says: by the system), the rule's
    name as its display name, the admin role for the services' permission checks."""
    return User(id=None, email='', password_hash='', role=Role.ADMIN.value,
                display_name=f'Escalation rule “{rule_name}”', organisation_id=0, is_active=True)


# --- the schedule -------------------------------------------------------------------------------------------------

async def _rules(session: AsyncSession) -> tuple[list[EscalationRule], list[pure.Rule]]:
    rows = await q.active_rules(session)
    return rows, [q.to_rule(r) for r in rows]


async def reschedule(ticket_ids: Iterable[int] | None = None, *, now: datetime | None = None,
                     batch: int = 1000) -> int:
    """Recompute the next escalation moment of these tickets (None: every open ticket); return how many are set."""
    now = now or utcnow()
    async with db.session() as s:
        _, rules = await _rules(s)
    need_events = any(r.criterion in EVENT_CRITERIA for r in rules)
    scheduled = 0
    if ticket_ids is None:
        async with db.write_lock(), db.session() as s, s.begin():
            await s.execute(delete(EscalationSchedule))
        after = 0
        while True:
            async with db.session() as s:
                ids = await q.open_ticket_ids(s, after=after, limit=batch)
            if not ids:
                break
            after = ids[-1]
            scheduled += await _schedule(ids, rules, now, need_events)
        return scheduled
    ids = sorted(set(ticket_ids))
    for start in range(0, len(ids), batch):
        scheduled += await _schedule(ids[start:start + batch], rules, now, need_events)
    return scheduled


@asynccontextmanager
async def _reading(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Where the write lock's holder reads many rows: on SQLite a reader's session (the holder's own statements run
    inline on the event loop, and a scan of 1,000 tickets would hold the loop for its whole time); elsewhere its own
    session."""
    if db.is_sqlite():
        async with db.reader() as r:
            yield r
    else:
        yield session


async def _schedule(ids: list[int], rules: Sequence[pure.Rule], now: datetime, need_events: bool) -> int:
    async with db.write_lock(), db.session() as s, s.begin():
        async with _reading(s) as r:  # SQLite: the scan on a reader's thread (no writer of the process meanwhile)
            facts = await q.facts(r, ids, need_events=need_events) if rules else {}
            fired = await q.fired_rule_ids(r, ids) if rules else {}
        due: dict[int, datetime] = {}
        for ticket_id, f in facts.items():
            now_due, upcoming = pure.evaluate(rules, f, now, fired.get((ticket_id, f.cycle), ()))
            first = min([at for _, at in now_due], default=None)
            moment = first if first is not None else upcoming
            if moment is not None:
                due[ticket_id] = moment
        await s.execute(delete(EscalationSchedule).where(EscalationSchedule.ticket_id.in_(ids)))
        if due:
            await s.execute(insert(EscalationSchedule),
                            [{'ticket_id': t, 'due_at': at} for t, at in due.items()])
    return len(due)


async def next_due_at() -> datetime | None:
    async with db.session() as s:
        return await q.next_due_at(s)


# --- firing -------------------------------------------------------------------------------------------------------

async def run_due(now: datetime | None = None, *, limit: int = 200) -> int:
    """Fire every rule due at ``now`` for the tickets whose scheduled moment has come (catch-up included: a moment
    in the past fires now, once); reschedule them. Returns how many rules fired."""
    now = now or utcnow()
    async with db.session() as s:
        ids = await q.due_ticket_ids(s, now, limit=limit)
    fired = 0
    for ticket_id in ids:
        try:
            fired += await fire_due_for(ticket_id, now)
        except Exception:  # one ticket's failure never stops the others; it is tried again on its next moment
            log.exception('escalation of ticket %s failed', ticket_id)
    if ids:
        await reschedule(ids, now=now)
    return fired


async def fire_due_for(ticket_id: int, now: datetime) -> int:
    """Fire the rules due now for one ticket (an action may make another rule match: evaluated again, at most
    three rounds)."""
    fired = 0
    for _round in range(3):
        async with db.session() as s:
            rows, rules = await _rules(s)
            facts = (await q.facts(s, [ticket_id])).get(ticket_id)
            if facts is None:
                return fired
            done = (await q.fired_rule_ids(s, [ticket_id])).get((ticket_id, facts.cycle), set())
        due, _ = pure.evaluate(rules, facts, now, done)
        if not due:
            return fired
        by_id = {r.id: r for r in rows}
        for rule, at in due:
            if await fire(by_id[rule.id], ticket_id, facts.cycle, at, now=now):
                fired += 1
    return fired


async def _plan(session: AsyncSession, rule: EscalationRule, ticket: Ticket) -> list[dict[str, Any]]:
    """The follow-up actions with concrete targets, decided once at firing time."""
    plan: list[dict[str, Any]] = []
    queue_id = ticket.queue_id
    for action in rule.actions or []:
        kind = action.get('type')
        if kind == 'move_queue' and action.get('queue_id'):
            queue_id = action['queue_id']
            plan.append({'type': 'move_queue', 'queue_id': queue_id})
        elif kind == 'assign' and action.get('user_id'):
            plan.append({'type': 'assign', 'user_id': action['user_id']})
        elif kind == 'assign_lead':
            lead = await queue_lead(session, action.get('queue_id') or queue_id)
            plan.append({'type': 'assign', 'user_id': lead, 'lead_of': action.get('queue_id') or queue_id})
        elif kind == 'raise_priority':
            plan.append({'type': 'raise_priority', 'priority_id': await _more_urgent(session, ticket.priority_id)})
        elif kind == 'add_team':
            on_team = set((await session.execute(select(TeamMember.user_id).where(
                TeamMember.ticket_id == ticket.id, TeamMember.user_id.is_not(None)))).scalars())
            for user_id in action.get('user_ids') or []:
                if user_id not in on_team:
                    plan.append({'type': 'add_team', 'user_id': user_id})
    return plan


async def queue_lead(session: AsyncSession, queue_id: int | None) -> int | None:
    """A queue's lead: its first manager member (by when they joined), else its first admin, else None."""
    if queue_id is None:
        return None
    for role in (Role.MANAGER, Role.ADMIN):
        lead = (await session.execute(
            select(User.id).join(QueueMember, QueueMember.user_id == User.id)
            .where(QueueMember.queue_id == queue_id, User.role == role.value, User.is_active.is_(True))
            .order_by(QueueMember.added_at, QueueMember.id).limit(1))).scalar_one_or_none()
        if lead is not None:
            return lead
    return None


async def _more_urgent(session: AsyncSession, priority_id: int) -> int | None:
    current = await session.get(Priority, priority_id)
    if current is None:
        return None
    return (await session.execute(
        select(Priority.id).where(Priority.scale_id == current.scale_id, Priority.rank < current.rank)
        .order_by(Priority.rank.desc()).limit(1))).scalar_one_or_none()


async def _recipients(session: AsyncSession, action: dict[str, Any], ticket: Ticket) -> list[User]:
    ids = set(action.get('user_ids') or [])
    roles = set(action.get('roles') or [])
    if action.get('managers'):
        roles.add(Role.MANAGER.value)
    found: dict[int, User] = {}
    if ids:
        for u in (await session.execute(select(User).where(User.id.in_(ids)))).scalars():
            found[u.id] = u
    if roles:
        for u in (await session.execute(select(User).where(User.role.in_(roles)))).scalars():
            found[u.id] = u
    if action.get('queue_members'):
        queue_id = action.get('queue_id') or ticket.queue_id
        if queue_id is not None:
            for u in (await session.execute(select(User).join(QueueMember, QueueMember.user_id == User.id)
                                            .where(QueueMember.queue_id == queue_id))).scalars():
                found[u.id] = u
    return [u for u in found.values() if u.is_active and u.role != Role.CUSTOMER.value]


def _reason(rule: EscalationRule) -> str:
    return q.describe_when(rule).replace(' (business hours)', '').replace(' (24/7)', '')


async def fire(rule: EscalationRule, ticket_id: int, cycle: int, due_at: datetime, *,
               now: datetime | None = None) -> bool:
    """Fire one rule for one ticket in its cycle (see the module docstring); False when it had fired already or the
    ticket moved on (closed, a new cycle)."""
    now = now or utcnow()
    actor = rule_actor(rule.name)
    reason = _reason(rule)
    try:
        async with ticket_write(actor, ticket_id, action='escalate', closed=None) as w:  # closed: skipped below
            s, ticket = w.session, w.ticket
            if ticket.sla_cycle != cycle or ticket.status not in pure.OPEN_STATUSES:
                raise _AlreadyFired
            plan = await _plan(s, rule, ticket)
            firing = EscalationFiring(rule_id=rule.id, ticket_id=ticket.id, cycle=cycle, due_at=due_at, fired_at=now,
                                      outcome='', status='pending' if plan else 'done', plan=plan or None)
            s.add(firing)
            try:
                async with s.begin_nested():
                    await s.flush()
            except IntegrityError:
                raise _AlreadyFired from None
            notes: list[str] = []
            raises = any(a.get('type') == 'raise_level' for a in rule.actions or [])
            old_level = ticket.escalation_level or 0
            if raises and old_level < MAX_LEVEL:
                new_level = old_level + 1
                await w.update({'escalation_level': new_level}, unchanged={'escalation_level': old_level})
                await w.record_change('escalation_level', old_level, new_level, rule=rule.name, rule_id=rule.id,
                                      by='system',
                                      body=f'{actor.display_name} raised the escalation level {old_level} → '
                                           f'{new_level} ({reason})')
                w.fields.append('escalation_level')
                notes.append(f'level {new_level}')
            else:
                w.add(EventKind.FIELD_CHANGE, f'{actor.display_name} fired ({reason})', field='escalation',
                      data={'rule': rule.name, 'rule_id': rule.id, 'by': 'system'})
                if raises:
                    notes.append(f'level stays {old_level} (the highest)')
            text = f'{ticket.reference} escalated by rule “{rule.name}”: {reason}'
            for action in rule.actions or []:
                if action.get('type') == 'notify':
                    told = await _notify(w.uow, action, ticket, text)
                    notes.append(f'notified {told}')
                elif action.get('type') == 'webhook':
                    endpoint = await s.get(WebhookEndpoint, action.get('endpoint_id') or 0)
                    if endpoint is None or not endpoint.is_active:
                        notes.append('webhook missing or switched off')
                        continue
                    webhooks.enqueue(s, endpoint=endpoint, ticket_id=ticket.id, payload={
                        'event': 'ticket.escalated', 'rule': rule.name, 'reason': reason,
                        'ticket': {'id': ticket.id, 'reference': ticket.reference, 'title': ticket.title,
                                   'status': ticket.status, 'priority_id': ticket.priority_id,
                                   'queue_id': ticket.queue_id, 'assignee_id': ticket.assignee_id,
                                   'escalation_level': ticket.escalation_level},
                        'due_at': due_at.isoformat(), 'fired_at': now.isoformat()})
                    notes.append(f'webhook {endpoint.name}')
            firing.outcome = ', '.join(notes)
            firing_id = firing.id
    except _AlreadyFired:
        return False
    if any(a.get('type') == 'webhook' for a in rule.actions or []):
        webhook_sender.wake()
    if plan:
        await _carry_out(firing_id, rule.name, ticket_id, plan)
    return True


async def _notify(uow: Any, action: dict[str, Any], ticket: Ticket, text: str) -> int:
    """In-app and/or mail to the people the rule names (the planner's outbox; the bell live when online)."""
    session = uow.session
    channels = set(action.get('channels') or ['in_app'])
    users = await _recipients(session, action, ticket)
    if 'mail' in channels:  # the open mails locked in their keys' order (planner.lock_batches), not the recipients'
        await planner.lock_batches(session, (planner.batch_key(u.id, ticket.id) for u in users if u.email))
    for user in users:
        if 'in_app' in channels:
            note = Notification(user_id=user.id, ticket_id=ticket.id, text=text,
                                mailed_at=utcnow() if 'mail' in channels else None)
            session.add(note)
            if presence.is_online(user.id):
                await session.flush()
                uow.publish_after_commit(NotificationCreated(user_id=user.id, notification_id=note.id,
                                                             ticket_id=ticket.id, text=text))
        if 'mail' in channels and user.email:
            await planner.enqueue(session, user=user, ticket=ticket, item={'text': text, 'why': ['escalation']})
    return len(users)


async def _carry_out(firing_id: int, rule_name: str, ticket_id: int, plan: list[dict[str, Any]]) -> None:
    """The follow-up actions through their services; each failure is noted, none stops the others."""
    actor = rule_actor(rule_name)
    notes: list[str] = []
    for step in plan:
        kind = step.get('type')
        try:
            current = await _ticket(ticket_id)
            if current is None:
                break
            if kind == 'move_queue':
                if current.queue_id != step['queue_id']:
                    await tickets.update_ticket(actor=actor, ticket_id=ticket_id, expected_version=current.version,
                                                changes={'queue_id': step['queue_id']},
                                                seen={'queue_id': current.queue_id})
                notes.append('moved')
            elif kind == 'assign':
                if step.get('user_id') is None:
                    notes.append('no lead to assign to')
                elif current.assignee_id != step['user_id']:
                    await ownership.assign_ticket(actor=actor, ticket_id=ticket_id, assignee_id=step['user_id'])
                    notes.append('assigned')
            elif kind == 'raise_priority':
                if step.get('priority_id') is None:
                    notes.append('priority already the highest')
                elif current.priority_id != step['priority_id']:
                    await tickets.update_ticket(actor=actor, ticket_id=ticket_id, expected_version=current.version,
                                                changes={'priority_id': step['priority_id']},
                                                seen={'priority_id': current.priority_id})
                    notes.append('priority raised')
            elif kind == 'add_team':
                async with db.session() as s:
                    on = (await s.execute(select(TeamMember.id).where(
                        TeamMember.ticket_id == ticket_id, TeamMember.user_id == step['user_id']))).first()
                if on is None:
                    await team.add_member(actor=actor, ticket_id=ticket_id, user_id=step['user_id'])
                notes.append('team')
        except ServiceError as e:
            notes.append(f'{kind}: {e}')
            log.info('escalation rule %r on ticket %s: %s not done: %s', rule_name, ticket_id, kind, e)
    async with unit_of_work() as uow:
        firing = await uow.session.get(EscalationFiring, firing_id)
        if firing is not None:
            firing.status = 'done'
            firing.outcome = '; '.join(x for x in (firing.outcome, ', '.join(notes)) if x)[:2000]


async def _ticket(ticket_id: int) -> Ticket | None:
    async with db.session() as s:
        return await s.get(Ticket, ticket_id)


async def resume_pending() -> int:
    """Carry out the follow-up actions of firings a crash left pending; return how many."""
    async with db.session() as s:
        rows = list((await s.execute(select(EscalationFiring, EscalationRule.name)
                                     .join(EscalationRule, EscalationRule.id == EscalationFiring.rule_id)
                                     .where(EscalationFiring.status == 'pending'))).all())
    for firing, name in rows:
        await _carry_out(firing.id, name, firing.ticket_id, list(firing.plan or []))
    return len(rows)


async def firings(ticket_id: int) -> list[EscalationFiring]:
    async with db.session() as s:
        return list((await s.execute(select(EscalationFiring).where(EscalationFiring.ticket_id == ticket_id)
                                     .order_by(EscalationFiring.id))).scalars())


async def firing_count() -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count(EscalationFiring.id)))).scalar_one()


async def forget_schedule(ticket_ids: Iterable[int]) -> None:
    async with db.write_lock(), db.session() as s, s.begin():
        await s.execute(update(EscalationSchedule).where(EscalationSchedule.ticket_id.in_(list(ticket_ids)))
                        .values(due_at=None))
