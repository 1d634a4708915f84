"""Demo data: the provider with agents and a manager, two customer organisations, services, queues and ~60
tickets with realistic chatter, created through the services as users would create them: the people by the system
(``services/users.py``, as ``pulse-live create-user`` does), then what the demo admin sets up (services, queues and
their members, routing and priority rules, ACME's organisation admin, configuration items: audited as the admin's
changes), then the tickets by agents and customers, inside ``planner.quiet()`` (no mail, no bell entries).

What bypasses the services, and why:
- ``_spread_over_two_weeks`` rewrites timestamps only (tickets, history entries, attachments): every change was made
  a moment ago and no service back-dates work, yet ages, the dashboard's per-day chart and the history should read
  like a desk's last two weeks.
The catalog (types, priority scales, resolution codes, the first queue) is the shipped one (``catalog.ensure_catalog``).
Scale data (``bulk.py``) is the other bypass: Core bulk inserts, for numbers no service loop reaches in minutes."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from .. import auth, db
from ..bus import get_bus
from ..events import Event, TicketChanged
from ..models import (
    Attachment,
    Organisation,
    Priority,
    PriorityScale,
    Queue,
    ResolutionCode,
    Service,
    Ticket,
    TicketEvent,
    TicketType,
    User,
    utcnow,
)
from ..notify import planner
from ..services import catalog, chatter, customers, queues, sla, tickets, users
from .customers import seed_customer_data
from .work import MEMBERS, seed_queue_members, seed_work_rules

DEMO_PASSWORD = 'demo'
DEMO_LOGINS = [
    ('admin@pulse.demo', 'admin'),
    ('anna@pulse.demo', 'agent'),
    ('ben@pulse.demo', 'agent'),
    ('maria@pulse.demo', 'manager'),
    ('carl@acme.demo', 'customer of ACME'),
]

PEOPLE = [
    # email, role, name, handle, org key, phone, location, department, published
    ('admin@pulse.demo', 'admin', 'Ada Admin', 'ada', 'provider', '+41 31 555 01 00', 'Bern', 'IT Operations', True),
    ('anna@pulse.demo', 'agent', 'Anna Keller', 'anna', 'provider', '+41 31 555 01 01', 'Bern', 'Service Desk', True),
    ('ben@pulse.demo', 'agent', 'Ben Okafor', 'ben', 'provider', '+41 31 555 01 02', 'Zurich', '2nd Level', True),
    ('daniel@pulse.demo', 'agent', 'Daniel Weber', 'daniel', 'provider', '+41 31 555 01 03', 'Bern', 'Network', True),
    ('maria@pulse.demo', 'manager', 'Maria Rossi', 'maria', 'provider', '+41 31 555 01 04', 'Bern',
     'Service Management', True),
    ('carl@acme.demo', 'customer', 'Carl Jensen', 'carl', 'acme', '+45 33 12 34 56', 'Copenhagen', 'Finance', False),
    ('eva@acme.demo', 'customer', 'Eva Lindqvist', 'eva', 'acme', '+45 33 12 34 57', 'Copenhagen', 'Sales', False),
    ('tom@globex.demo', 'customer', 'Tom Baker', 'tom', 'globex', '+44 20 7946 0011', 'London', 'Logistics', False),
    ('lena@globex.demo', 'customer', 'Lena Fischer', 'lena', 'globex', '+49 30 1234 567', 'Berlin', 'HR', False),
]
ORGS = {'provider': ('Pulse Support', True, 'provider'), 'acme': ('ACME Corp', False, 'gold'),
        'globex': ('Globex Ltd', False, 'standard')}
SERVICES = [('E-mail', 'critical'), ('VPN', 'high'), ('Printing', 'normal'), ('ERP', 'critical'),
            ('Laptop & hardware', 'normal'), ('Website', 'high')]
QUEUES = [('2nd level', 'Specialists', False), ('Network', 'Network and VPN team', False)]

SCENARIOS = [
    ('Printer on floor 3 is down', 'Printing', 'The printer next to the kitchen shows error E-53 and prints nothing.',
     ['Did you try switching it off and on?', 'Yes, twice. Still E-53.', 'A technician is on the way.']),
    ('Cannot connect to VPN from home', 'VPN', 'The VPN client says "authentication failed" since this morning.',
     ['Your certificate expired yesterday; I renewed it.', 'Works again, thanks!']),
    ('Outlook keeps asking for password', 'E-mail', 'Every few minutes Outlook prompts for my password.',
     ['Please remove the saved credentials in the Windows credential manager.', 'Done, looks better.']),
    ('ERP invoice export fails', 'ERP', 'Exporting invoices to PDF stops at 40 % with a timeout.',
     ['We can reproduce it with invoices over 200 lines.', 'Is there a work-around?', 'Export in batches of 100.']),
    ('New laptop for starter', 'Laptop & hardware', 'Anne Müller starts on Monday and needs a laptop with ERP access.',
     ['Laptop is prepared, ERP role requested.']),
    ('Website contact form returns 500', 'Website', 'Submitting the contact form gives an internal server error.',
     ['Logs show the mail relay refusing connections.', 'Relay restarted, form works again.']),
    ('Shared mailbox missing', 'E-mail', 'The finance shared mailbox disappeared from my Outlook.',
     ['Permissions were reset by the migration; re-added.']),
    ('VPN very slow in the evening', 'VPN', 'Between 18:00 and 20:00 the VPN is barely usable.',
     ['We see saturation on the Copenhagen uplink.', 'Upgrade scheduled for next week.']),
    ('Scanner sends to wrong folder', 'Printing', 'Scans land in the marketing folder instead of mine.', []),
    ('ERP login locked', 'ERP', 'My ERP account is locked after the password change.',
     ['Unlocked, please try again.', 'Thanks, works.']),
    ('Question about data retention', 'E-mail', 'How long are deleted mails kept on the server?',
     ['30 days in the recycle bin, then 14 days recoverable by us.']),
    ('Monitor flickers', 'Laptop & hardware', 'The external monitor flickers when connected via the dock.',
     ['Please try the other DisplayPort cable.']),
]

# The same kind of request again, in another caller's words: every demo title reads naturally and is unique. Each
# variant keeps its scenario's routing and priority words ("VPN", "down"), so queues and priorities stay as designed.
TITLE_VARIANTS = {
    'Printer on floor 3 is down': ['Printer on floor 3 is down again', 'Printer on floor 3 down after the toner change',
                                   'Printer on floor 3 is down since this morning',
                                   'Printer on floor 3 is down with a paper jam message'],
    'Cannot connect to VPN from home': ['VPN rejects my login from the hotel',
                                        'Cannot connect to VPN on the new laptop',
                                        'VPN connection drops when working from home',
                                        'VPN says authentication failed'],
    'Outlook keeps asking for password': ['Outlook asks for my password after every restart',
                                          'Password prompt in Outlook on the phone',
                                          'Outlook on the Mac keeps asking for credentials',
                                          'Outlook password prompt came back'],
    'ERP invoice export fails': ['ERP invoice export times out at 40 %', 'Invoice PDF export in ERP stops halfway',
                                 'ERP export of credit notes fails', 'ERP month-end invoice export fails'],
    'New laptop for starter': ['Laptop for a new colleague in sales', 'New laptop for the finance trainee',
                               'Replacement laptop for a starter in logistics', 'Laptop and ERP access for a new hire'],
    'Website contact form returns 500': ['Website contact form gives an error again',
                                         'Newsletter sign-up on the website returns 500',
                                         'Website contact form sends no mail',
                                         'Job application form on the website fails'],
    'Shared mailbox missing': ['Sales shared mailbox missing in Outlook', 'Shared calendar missing after the migration',
                               'Shared mailbox shows no new mail', 'Cannot send as the shared mailbox'],
    'VPN very slow in the evening': ['VPN very slow during video calls', 'VPN slow from the Copenhagen office',
                                     'VPN throughput drops after 18:00', 'VPN sluggish when syncing files'],
    'Scanner sends to wrong folder': ['Scanner on floor 2 sends to wrong folder',
                                      'Scan to e-mail arrives with the wrong name',
                                      'Scanner saves files to the marketing folder',
                                      'Scanner cannot find my home folder'],
    'ERP login locked': ['ERP login locked after the holidays', 'ERP account locked again',
                         'ERP login locked on the second device', 'ERP login locked after password change'],
    'Question about data retention': ['Question about archive retention for finance', 'How long are backups kept?',
                                      'Question about retention of Teams chats', 'Question about deleting old mails'],
    'Monitor flickers': ['Second monitor flickers at the dock', 'Monitor flickers after the firmware update',
                         'Laptop screen flickers when charging', 'Monitor in the meeting room flickers'],
}


def demo_title(i: int, customer_name: str = '') -> str:
    """The title of demo ticket ``i`` (0-based): the scenario's own title first, then its variants; beyond those
    (more than 60 tickets) a variant with the caller's name."""
    title = SCENARIOS[i % len(SCENARIOS)][0]
    round_ = i // len(SCENARIOS)
    if round_ == 0:
        return title
    variants = TITLE_VARIANTS.get(title) or [title]
    variant = variants[(round_ - 1) % len(variants)]
    if round_ <= len(variants) or not customer_name:
        return variant
    return f'{variant} ({customer_name.split()[0]})'


@dataclass
class People:
    orgs: dict[str, int]
    users: dict[str, User]


async def seed_people(*, password_hash: str | None = None) -> People:
    """Catalog, organisations and the demo people, then the demo admin's set-up: services, queues, queue members,
    ACME's organisation admin, configuration items. Idempotent: only what is missing is added (people by e-mail,
    the rest by name)."""
    await catalog.ensure_catalog()
    password_hash = password_hash or await auth.hash_password(DEMO_PASSWORD)
    orgs: dict[str, int] = {}
    async with db.session() as s:
        existing_orgs = dict((await s.execute(select(Organisation.name, Organisation.id))).all())
    for key, (name, provider, tier) in ORGS.items():
        orgs[key] = existing_orgs.get(name) or (await users.create_organisation(
            actor=None, name=name, is_provider=provider, tier=tier)).id
    people: dict[str, User] = {}
    async with db.session() as s:
        existing = {u.email: u for u in (await s.execute(select(User))).scalars()}
    for email, role, name, handle, org, phone, location, department, published in PEOPLE:
        people[email] = existing.get(email) or await users.create_user(
            actor=None, email=email, password='', password_hash=password_hash, role=role, display_name=name,
            organisation_id=orgs[org], handle=handle, phone=phone, location=location, department=department,
            card_published=published)
    admin = people['admin@pulse.demo']
    await _seed_services_and_queues(admin)
    await seed_queue_members(admin, people)
    await seed_customer_data(admin, people)
    return People(orgs=orgs, users=people)


async def _seed_services_and_queues(admin: User) -> None:
    """The demo's services and queues as its admin adds them (names compared as the services compare them)."""
    async with db.session() as s:
        existing_services = {n.lower() for n in (await s.execute(select(Service.name))).scalars()}
        existing_queues = {n.lower() for n in (await s.execute(select(Queue.name))).scalars()}
    for name, criticality in SERVICES:
        if name.lower() not in existing_services:
            await customers.save_service(actor=admin, name=name, criticality=criticality)
    for name, description, default in QUEUES:
        if name.lower() not in existing_queues:
            await queues.create_queue(actor=admin, name=name, description=description, is_default=default)


async def is_seeded() -> bool:
    async with db.session() as s:
        return (await s.execute(select(func.count(Ticket.id)))).scalar_one() > 0


async def seed_demo(*, tickets_count: int = 60, seed: int = 7) -> People:
    """People plus ~60 tickets across types, priorities and statuses, with chatter.

    The history is seeded quietly: nobody gets a mail or a bell entry for it (``planner.quiet``)."""
    changes: list[tuple[int, ...]] = []  # the entries written by one change, as its event says

    async def note(event: Event) -> None:
        if isinstance(event, TicketChanged) and len(event.event_ids) > 1:
            changes.append(event.event_ids)
    unsubscribe = get_bus().subscribe(note)
    try:
        with planner.quiet():
            people = await _seed_tickets(tickets_count, random.Random(seed), changes)
    finally:
        unsubscribe()
    return people


async def _seed_tickets(tickets_count: int, rng: random.Random, changes: list[tuple[int, ...]]) -> People:
    people = await seed_people()
    await seed_work_rules(people.users)
    u = people.users
    agents = [u['anna@pulse.demo'], u['ben@pulse.demo'], u['daniel@pulse.demo']]
    callers = [u['carl@acme.demo'], u['eva@acme.demo'], u['tom@globex.demo'], u['lena@globex.demo']]
    async with db.session() as s:
        services = dict((await s.execute(select(Service.name, Service.id))).all())
        queue_ids = dict((await s.execute(select(Queue.name, Queue.id))).all())
    # an agent takes work from the queues they are a member of
    queues_of = {a.id: [queue_ids[q] for q, emails in MEMBERS.items() if a.email in emails and q in queue_ids]
                 or list(queue_ids.values()) for a in agents}
    async with db.session() as s:
        types = list((await s.execute(select(TicketType.id))).scalars())
        prios = list((await s.execute(select(Priority.id).join(PriorityScale)
                                      .where(PriorityScale.is_active.is_(True)))).scalars())
        codes = list((await s.execute(select(ResolutionCode.id))).scalars())
    for i in range(tickets_count):
        _title, service, description, lines = SCENARIOS[i % len(SCENARIOS)]
        customer = callers[i % len(callers)]
        by_portal = i % 3 == 0
        creator = customer if by_portal else rng.choice(agents)
        ticket = await tickets.create_ticket(
            actor=creator, title=demo_title(i, customer.display_name), description=description,
            type_id=types[i % len(types)], priority_id=None if by_portal else rng.choice(prios),
            customer_id=customer.id, service_id=services[service],
            channel=None if by_portal else rng.choice(['phone', 'email', 'walk_in', 'chat']),
        )
        agent = agents[i % len(agents)]
        speakers = [agent, customer]
        for n, line in enumerate(lines):
            await chatter.post_message(actor=speakers[n % 2], ticket_id=ticket.id, body=line, rate_limited=False)
        if i % 4 == 1:
            await chatter.post_message(actor=agent, ticket_id=ticket.id, internal=True,
                                       body=f'Internal: checked similar tickets, '
                                            f'@{agents[(i + 1) % 3].handle} knows this one.')
        stage = i % 5  # 0 open, 1 in progress, 2 resolved, 3 closed, 4 open+assigned
        version = ticket.version
        if stage >= 1 or i % 2:
            ticket = await tickets.update_ticket(actor=agent, ticket_id=ticket.id, expected_version=version,
                                                 changes={'assignee_id': agent.id,
                                                          'queue_id': rng.choice(queues_of[agent.id])})
            version = ticket.version
        if stage in (1, 2, 3):
            ticket = await tickets.change_status(actor=agent, ticket_id=ticket.id, expected_version=version,
                                                 status='in_progress')
        if stage in (2, 3):
            ticket = await tickets.change_status(actor=agent, ticket_id=ticket.id, expected_version=ticket.version,
                                                 status='resolved', resolution_code_id=rng.choice(codes),
                                                 resolution_text=lines[-1] if lines else 'Answered the question.')
        if stage == 3:
            await tickets.change_status(actor=customer, ticket_id=ticket.id, expected_version=ticket.version,
                                        status='closed')
    await _spread_over_two_weeks(rng, changes)
    return people


async def _spread_over_two_weeks(rng: random.Random, changes: list[tuple[int, ...]]) -> None:
    """Everything above happened within seconds; move each ticket's life back in time (older reference, older
    ticket; its entries minutes to hours apart) so ages, the dashboard's per-day chart and the history read like
    a desk's last two weeks. The entries of one change (``changes``: the event ids each change published) keep
    one time. Only the timestamps change, in one transaction."""
    change_of = {event_id: n for n, ids in enumerate(changes) for event_id in ids}
    now = utcnow()
    # a bypass of the services: no service back-dates work, and only timestamps change here (see the module docstring)
    async with db.session() as s, s.begin():
        ticket_ids = list((await s.execute(select(Ticket.id).order_by(Ticket.id))).scalars())
        for n, ticket_id in enumerate(ticket_ids):
            days_back = 13.5 * (len(ticket_ids) - 1 - n) / max(len(ticket_ids) - 1, 1)
            start = now - timedelta(days=days_back, hours=rng.uniform(0.5, 3))
            events = list((await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                           .order_by(TicketEvent.id))).scalars())
            room = (now - start) / (len(events) + 1)
            step = min(timedelta(hours=5), room)
            times: dict = {}
            at, previous = start, None
            for k, event in enumerate(events):
                change = change_of.get(event.id, -event.id)  # entries of one change keep one time
                if k and change != previous:
                    at = at + step * rng.uniform(0.3, 1.0)
                previous = change
                event.created_at = at
                times[event.id] = at
                if event.field == 'status' and event.new_value in ('Resolved', 'Closed'):
                    times[event.new_value] = event.created_at
            values = {'created_at': start, 'updated_at': max(times.values(), default=start)}
            if 'Resolved' in times:
                values['resolved_at'] = times['Resolved']
            if 'Closed' in times:
                values['closed_at'] = times['Closed']
            await s.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))
            # the SLA clock follows the moved history (due times from the older creation, replies, resolution)
            moved = await s.get(Ticket, ticket_id, populate_existing=True)
            if moved is not None:
                await sla.rebuild_from_history(s, moved, now)
            for event_id, at in times.items():
                if isinstance(event_id, int):
                    await s.execute(update(Attachment).where(Attachment.event_id == event_id).values(created_at=at))
