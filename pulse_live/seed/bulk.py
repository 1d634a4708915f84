"""Bulk demo data for scale runs: e.g. 100,000 tickets with ~1,000,000 chatter/history events in a few minutes.

THE PLACE THAT WRITES ROWS PAST THE SERVICES, for seeding only (the demo's one other bypass rewrites timestamps: see
``demo.py``): on top of the demo people (made through the services), rows go in with SQLAlchemy Core multi-row
inserts in batches, with explicit ids (so events can point at their tickets without a round trip), and the sequences
and reference counters are moved past them at the end, so the services carry on normally afterwards. Nothing is
published on the bus and no notifications or mails are made. Never call this on a database with real users' data you
care about: it only adds rows, but it adds a lot of them.

    pulse-live bulk --tickets 100000 --events 1000000
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update

from .. import auth, db
from ..models import (
    Channel,
    EventKind,
    Organisation,
    Priority,
    PriorityScale,
    Queue,
    QueueMember,
    ReferenceCounter,
    ResolutionCode,
    Service,
    Status,
    Ticket,
    TicketEvent,
    TicketType,
    User,
    utcnow,
)
from .demo import SCENARIOS, seed_people

TIERS = ['standard', 'standard', 'standard', 'silver', 'gold']
CHANNELS = [Channel.PORTAL, Channel.PORTAL, Channel.EMAIL, Channel.EMAIL, Channel.PHONE, Channel.CHAT,
            Channel.WALK_IN, Channel.API]
LEVELS = ['high', 'medium', 'medium', 'medium', 'low']
LINES = ['Could you send a screenshot of the error?', 'Here it is, see the attachment.',
         'Thanks, we are looking into it.',
         'Still happening this morning.', 'We deployed a fix, please try again.', 'Works now, thank you!',
         'Can you tell me the exact time it happened?', 'Around 09:15, right after the login.',
         'Internal: looks like the known issue with the proxy.', 'Escalated to the specialists.']


def _open_probability(age: timedelta) -> float:
    """How likely a ticket of this age is still open: young ones mostly, old ones rarely (a realistic backlog)."""
    days = age.total_seconds() / 86400
    if days < 1:
        return 0.7
    if days < 7:
        return 0.35
    if days < 30:
        return 0.08
    return 0.02


async def _max_id(conn, table) -> int:
    return (await conn.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one()


async def generate(*, tickets: int = 100_000, events: int | None = None, seed: int = 42, days: int = 365,
                   agents: int = 20, organisations: int = 60, customers: int = 300, batch: int = 5000,
                   progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Add ``tickets`` tickets (and ``events`` events in all, default 10 per ticket) spread over ``days`` days."""
    if tickets < 1:
        raise ValueError('tickets must be at least 1')
    events = tickets * 10 if events is None else events
    if events < tickets:
        raise ValueError('events must be at least the number of tickets (every ticket has its "created" event)')
    rng = random.Random(seed)
    started = time.perf_counter()
    password_hash = await auth.hash_password('demo')
    people = await seed_people(password_hash=password_hash)
    now = utcnow()
    is_pg = not db.is_sqlite()

    async with db.engine().begin() as conn:
        # --- people: more agents, customer organisations and customers (plain inserts) ---
        provider_id = people.orgs['provider']
        org_base = await _max_id(conn, Organisation.__table__)
        stamp = f'{seed}-{org_base}'
        org_rows = [{'id': org_base + i + 1, 'name': f'Customer {stamp}-{i + 1:03d}', 'is_provider': False,
                     'tier': rng.choice(TIERS), 'created_at': now} for i in range(organisations)]
        await conn.execute(insert(Organisation), org_rows)
        user_base = await _max_id(conn, User.__table__)
        agent_rows = [{'id': user_base + i + 1, 'email': f'agent{i + 1:02d}.{stamp}@pulse.bulk',
                       'password_hash': password_hash,
                       'role': 'agent', 'organisation_id': provider_id, 'display_name': f'Agent {i + 1:02d}',
                       'handle': f'agent{i + 1:02d}-{stamp}', 'is_active': True, 'card_published': False,
                       'email_notifications': False, 'notify_delay_s': 300, 'created_at': now,
                       'phone': '', 'location': '', 'department': 'Service Desk'} for i in range(agents)]
        customer_rows = [{'id': user_base + agents + i + 1, 'email': f'customer{i + 1:04d}.{stamp}@bulk.example',
                          'password_hash': password_hash, 'role': 'customer',
                          'organisation_id': org_rows[i % organisations]['id'], 'display_name': f'Customer {i + 1:04d}',
                          'handle': None, 'is_active': True, 'card_published': False, 'email_notifications': False,
                          'notify_delay_s': 300, 'created_at': now, 'phone': '', 'location': '', 'department': ''}
                         for i in range(customers)]
        await conn.execute(insert(User), agent_rows + customer_rows)
        staff = [u.id for u in people.users.values() if u.role != 'customer'] + [r['id'] for r in agent_rows]
        customer_orgs = [(r['id'], r['organisation_id']) for r in customer_rows] + \
            [(u.id, u.organisation_id) for u in people.users.values() if u.role == 'customer']
        queues = list((await conn.execute(select(Queue.id).order_by(Queue.id))).scalars())
        have = set((await conn.execute(select(QueueMember.queue_id, QueueMember.user_id))).all())
        members = [{'queue_id': queues[i % len(queues)], 'user_id': r['id'], 'added_at': now}
                   for i, r in enumerate(agent_rows) if (queues[i % len(queues)], r['id']) not in have]
        if members:
            await conn.execute(insert(QueueMember), members)
        types = list((await conn.execute(select(TicketType.id).order_by(TicketType.id))).scalars())
        priorities = list((await conn.execute(select(Priority.id, Priority.name).join(PriorityScale)
                                              .where(PriorityScale.is_active.is_(True)).order_by(Priority.rank))).all())
        services: list[int | None] = list((await conn.execute(select(Service.id).order_by(Service.id))).scalars()) \
            or [None]
        codes = list((await conn.execute(select(ResolutionCode.id))).scalars())
        counters = {(p, y): v for p, y, v in (await conn.execute(select(
            ReferenceCounter.prefix, ReferenceCounter.year, ReferenceCounter.last_value))).all()}
        ticket_base = await _max_id(conn, Ticket.__table__)
        event_base = await _max_id(conn, TicketEvent.__table__)
    progress(f'people ready ({agents} agents, {customers} customers in {organisations} organisations)')

    # --- tickets in creation order (reference numbers follow time), events spread over each ticket's life ---
    from ..config import get_settings
    prefix = get_settings().ticket_prefix
    ages = sorted((timedelta(seconds=rng.random() * days * 86400) for _ in range(tickets)), reverse=True)
    extra_events = events - tickets
    weights = [rng.expovariate(1.0) for _ in range(tickets)]
    scale = extra_events / sum(weights) if weights else 0
    per_ticket = [int(w * scale) for w in weights]
    for i in rng.sample(range(tickets), k=min(tickets, extra_events - sum(per_ticket))):
        per_ticket[i] += 1
    next_event_id = event_base
    ticket_rows: list[dict] = []
    event_rows: list[dict] = []
    made_tickets = made_events = 0

    async def flush() -> None:
        nonlocal ticket_rows, event_rows
        if not ticket_rows:
            return
        async with db.engine().begin() as conn:
            await conn.execute(insert(Ticket), ticket_rows)
            for start in range(0, len(event_rows), batch * 4):
                await conn.execute(insert(TicketEvent), event_rows[start:start + batch * 4])
        ticket_rows, event_rows = [], []

    for n, age in enumerate(ages):
        ticket_id = ticket_base + n + 1
        created_at = now - age
        key = (prefix, created_at.year)
        counters[key] = counters.get(key, 0) + 1
        title, _service, description, _lines = SCENARIOS[n % len(SCENARIOS)]
        customer_id, org_id = rng.choice(customer_orgs)
        still_open = rng.random() < _open_probability(age)
        if still_open:
            status = Status.OPEN.value if rng.random() < 0.6 else Status.IN_PROGRESS.value
        else:
            status = Status.CLOSED.value if rng.random() < 0.75 else Status.RESOLVED.value
        assignee = None if status == Status.OPEN and rng.random() < 0.6 else rng.choice(staff)
        k = per_ticket[n]
        life = min(age, timedelta(days=rng.uniform(0.05, 12))) if not still_open else age
        stamps = sorted(created_at + life * rng.random() for _ in range(k))
        resolved_at = closed_at = None
        if status in (Status.RESOLVED, Status.CLOSED):
            resolved_at = created_at + life * 0.9
            closed_at = created_at + life if status == Status.CLOSED else None
        priority_id, priority_name = rng.choice(priorities)
        impact, urgency = rng.choice(LEVELS), rng.choice(LEVELS)
        channel = rng.choice(CHANNELS).value
        updated_at = max([created_at, *stamps, resolved_at or created_at, closed_at or created_at])
        ticket_rows.append({
            'id': ticket_id, 'reference': f'{prefix}-{created_at.year}-{counters[key]:06d}',
            'title': f'{title} (#{ticket_id})', 'description': description, 'type_id': types[n % len(types)],
            'priority_id': priority_id, 'status': status, 'channel': channel, 'customer_id': customer_id,
            'organisation_id': org_id, 'service_id': rng.choice(services), 'queue_id': rng.choice(queues),
            'assignee_id': assignee, 'creator_id': customer_id if channel == 'portal' else rng.choice(staff),
            'affected_components': '', 'technical_details': '', 'attempted_solutions': '', 'workaround': '',
            'resolution_code_id': rng.choice(codes) if resolved_at else None,
            'resolution_text': 'Fixed and confirmed with the customer.' if resolved_at else '',
            'created_at': created_at, 'updated_at': updated_at,
            'first_response_at': stamps[0] if stamps else None, 'resolved_at': resolved_at, 'closed_at': closed_at,
            'version': 1 + k, 'impact': impact, 'urgency': urgency, 'priority_overridden': False,
            'priority_reason': f'{priority_name}: impact {impact.capitalize()} × urgency {urgency.capitalize()}',
        })
        next_event_id += 1
        event_rows.append({'id': next_event_id, 'ticket_id': ticket_id, 'kind': EventKind.CREATED.value,
                           'actor_id': customer_id, 'created_at': created_at, 'body': 'Opened the ticket.',
                           'is_internal': False, 'field': None, 'old_value': None, 'new_value': None, 'data': None})
        for j, at in enumerate(stamps):
            next_event_id += 1
            if j % 4 == 3:
                event_rows.append({'id': next_event_id, 'ticket_id': ticket_id, 'kind': EventKind.FIELD_CHANGE.value,
                                   'actor_id': assignee or staff[0], 'created_at': at, 'is_internal': False,
                                   'body': 'Status Open → In progress', 'field': 'status', 'old_value': 'Open',
                                   'new_value': 'In progress', 'data': None})
            else:
                line = LINES[(n + j) % len(LINES)]
                event_rows.append({'id': next_event_id, 'ticket_id': ticket_id, 'kind': EventKind.MESSAGE.value,
                                   'actor_id': customer_id if j % 2 else (assignee or staff[0]), 'created_at': at,
                                   'body': line, 'is_internal': line.startswith('Internal'), 'field': None,
                                   'old_value': None, 'new_value': None, 'data': None})
        made_tickets += 1
        made_events += 1 + k
        if len(ticket_rows) >= batch:
            await flush()
            if made_tickets % (batch * 4) == 0:
                progress(f'{made_tickets:,} tickets, {made_events:,} events ({time.perf_counter() - started:.0f} s)')
    await flush()

    async with db.engine().begin() as conn:
        for (p, y), value in counters.items():
            updated = await conn.execute(update(ReferenceCounter).where(ReferenceCounter.prefix == p,
                                                                        ReferenceCounter.year == y)
                                         .values(last_value=value))
            if updated.rowcount == 0:
                await conn.execute(insert(ReferenceCounter).values(prefix=p, year=y, last_value=value))
        if is_pg:
            for table in ('organisations', 'users', 'tickets', 'ticket_events'):
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
        else:
            await conn.execute(text('ANALYZE'))
    if is_pg:  # fresh statistics and visibility map (index-only scans), as autovacuum would leave them
        async with db.engine().connect() as conn:
            conn = await conn.execution_options(isolation_level='AUTOCOMMIT')
            await conn.execute(text('VACUUM ANALYZE tickets'))
            await conn.execute(text('VACUUM ANALYZE ticket_events'))
    took = time.perf_counter() - started
    progress(f'done: {made_tickets:,} tickets, {made_events:,} events in {took:.0f} s')
    return {'tickets': made_tickets, 'events': made_events, 'seconds': round(took, 1),
            'events_per_ticket': round(made_events / max(1, made_tickets), 2), 'rate': math.floor(made_events / took)}
