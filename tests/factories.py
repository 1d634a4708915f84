"""The tests' own data set and the small factories tests share, all made through the services.

The data set (``make_people``): the provider, Pulse Support, with an admin (Ada), three agents (Anna, Ben, Daniel)
and a manager (Maria); two customer organisations, ACME Corp (tier gold: Carl, its organisation admin, and Eva) and
Globex Ltd (Tom); the services with their criticality; the queues (the shipped 1st level, 2nd level, Network) and who
works them; the customers' configuration items. Everybody's password is ``demo``.

It is the tests' own, not the demo's (``pulse_live/seed``): the demo can change without breaking tests that are not
about it (only ``tests/unit/seed/test_demo.py`` and the CLI and e2e tests use the demo). A test finds the desk as an
admin left it: the set-up is the admin's work, yet its audit rows and bus events are cleared, so a test that reads
the audit log or the bus sees what it did itself. Reads the tests share (history, outbox) are in tests/helpers.py.

``people_for_test`` (the ``people`` fixtures) makes the data set through the services once per test run and kind of
database, keeps the rows the services wrote, and puts those same rows into every later test's fresh database: ~30 ms
a test instead of ~30 service calls (~0.3–0.4 s on SQLite here).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, insert, select, text

from pulse_live import auth, db
from pulse_live.bus import get_bus
from pulse_live.models import AuditLog, Base, Priority, Queue, Ticket, User
from pulse_live.services import catalog, customers, queues, staff, tickets, users

PASSWORD = 'demo'
PASSWORD_HASH = auth.hash_password_sync(PASSWORD)  # once per run: argon2 takes ~0.1 s a hash

ORGS = {'provider': ('Pulse Support', True, 'provider'), 'acme': ('ACME Corp', False, 'gold'),
        'globex': ('Globex Ltd', False, 'standard')}
PEOPLE = [
    # email, role, name, handle, org key, phone, location, department, card published
    ('admin@pulse.demo', 'admin', 'Ada Admin', 'ada', 'provider', '+41 31 555 01 00', 'Bern', 'IT Operations', True),
    ('anna@pulse.demo', 'agent', 'Anna Keller', 'anna', 'provider', '+41 31 555 01 01', 'Bern', 'Service Desk', True),
    ('ben@pulse.demo', 'agent', 'Ben Okafor', 'ben', 'provider', '+41 31 555 01 02', 'Zurich', '2nd Level', True),
    ('daniel@pulse.demo', 'agent', 'Daniel Weber', 'daniel', 'provider', '+41 31 555 01 03', 'Bern', 'Network', True),
    ('maria@pulse.demo', 'manager', 'Maria Rossi', 'maria', 'provider', '+41 31 555 01 04', 'Bern',
     'Service Management', True),
    ('carl@acme.demo', 'customer', 'Carl Jensen', 'carl', 'acme', '+45 33 12 34 56', 'Copenhagen', 'Finance', False),
    ('eva@acme.demo', 'customer', 'Eva Lindqvist', 'eva', 'acme', '+45 33 12 34 57', 'Copenhagen', 'Sales', False),
    ('tom@globex.demo', 'customer', 'Tom Baker', 'tom', 'globex', '+44 20 7946 0011', 'London', 'Logistics', False),
]
SERVICES = [('E-mail', 'critical'), ('VPN', 'high'), ('Printing', 'normal'), ('ERP', 'critical'),
            ('Laptop & hardware', 'normal'), ('Website', 'high')]
QUEUES = [('2nd level', 'Specialists'), ('Network', 'Network and VPN team')]  # after the shipped 1st level (default)
WORKS = {'anna@pulse.demo': ['1st level'], 'ben@pulse.demo': ['1st level', '2nd level'],
         'daniel@pulse.demo': ['1st level', 'Network']}
ORG_ADMIN = 'carl@acme.demo'  # sees every ACME request in the portal; Eva sees only her own
ITEMS = [
    # used by (None: shared by ACME), kind, name, model, serial number, operating system, version, installed software
    ('carl@acme.demo', 'hardware', 'Laptop CPH-LT-0231', 'Lenovo ThinkPad T14 Gen 3', 'PF3KX8Q1',
     'Windows 11 Pro 23H2', '', 'Microsoft 365 Apps\nCisco AnyConnect 4.10\nSAP GUI 8.0\nAdobe Acrobat Reader'),
    ('carl@acme.demo', 'hardware', 'Phone CPH-MB-0112', 'Apple iPhone 14', 'F2LXK9P0Q1', 'iOS 17.5', '',
     'Outlook\nMicrosoft Authenticator'),
    ('carl@acme.demo', 'software', 'ERP client', 'SAP GUI for Windows', '', '', '8.0 PL 7', ''),
    ('eva@acme.demo', 'hardware', 'Laptop CPH-LT-0187', 'Apple MacBook Air M2', 'C02GK1XYQ6L4', 'macOS 14 Sonoma',
     '', 'Microsoft 365\nSalesforce desktop\nZoom'),
    (None, 'hardware', 'Printer floor 3', 'HP LaserJet Enterprise M607', 'CNBJS12345', '', 'FW 5.6', ''),
    ('tom@globex.demo', 'hardware', 'Laptop LON-0042', 'Dell Latitude 5440', '7HJ2KL3', 'Windows 11 Pro 23H2', '',
     'Microsoft 365 Apps\nCisco AnyConnect 4.10\nWMS client 3.2'),
]


@dataclass
class People:
    orgs: dict[str, int]  # by key: provider, acme, globex
    users: dict[str, User]  # by e-mail


async def make_people() -> People:
    """The tests' data set in an empty database (see the module docstring)."""
    await catalog.ensure_catalog()
    orgs = {key: (await users.create_organisation(actor=None, name=name, is_provider=provider, tier=tier)).id
            for key, (name, provider, tier) in ORGS.items()}
    people = {email: await users.create_user(
        actor=None, email=email, password='', password_hash=PASSWORD_HASH, role=role, display_name=name,
        organisation_id=orgs[org], handle=handle, phone=phone, location=location, department=department,
        card_published=published)
        for email, role, name, handle, org, phone, location, department, published in PEOPLE}
    admin = people['admin@pulse.demo']
    for name, criticality in SERVICES:
        await customers.save_service(actor=admin, name=name, criticality=criticality)
    for name, description in QUEUES:
        await queues.create_queue(actor=admin, name=name, description=description)
    names = await queue_ids()
    for email, worked in WORKS.items():
        await staff.set_queues(actor=admin, user_id=people[email].id, queue_ids=[names[q] for q in worked])
    carl = people[ORG_ADMIN]
    people[ORG_ADMIN] = await customers.save_customer(
        actor=admin, user_id=carl.id, email=carl.email, display_name=carl.display_name,
        organisation_id=carl.organisation_id, phone=carl.phone, location=carl.location, department=carl.department,
        is_org_admin=True)
    for email, kind, name, model, serial, os_name, version, software in ITEMS:
        user = people[email or ORG_ADMIN]
        await customers.save_configuration_item(
            actor=admin, organisation_id=user.organisation_id, user_id=user.id if email else None, kind=kind,
            name=name, model=model, serial_number=serial, operating_system=os_name, version=version,
            installed_software=software)
    await _a_fresh_start()
    return People(orgs=orgs, users=people)


_made: dict[str, tuple[dict[str, int], list[tuple[Table, list[dict[str, Any]]]]]] = {}  # by dialect: orgs, rows


async def people_for_test() -> People:
    """The data set in this test's empty database: made through the services the first time (per database kind),
    then the rows they wrote, inserted again. ``users`` are read fresh, so no test sees another test's objects."""
    kind = db.engine().dialect.name
    if kind not in _made:
        people = await make_people()
        _made[kind] = (people.orgs, await _rows())
        return people
    orgs, rows = _made[kind]
    async with db.engine().begin() as conn:
        for table, data in rows:
            await conn.execute(insert(table), data)
        if kind == 'postgresql':  # explicit ids leave the sequences behind: move them past the rows
            for table, data in rows:
                if 'id' in table.c and isinstance(data[0]['id'], int):
                    await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :top)"),
                                       {'top': max(row['id'] for row in data)})
    async with db.session() as s:
        by_email = {u.email: u for u in (await s.execute(select(User))).scalars()}
    return People(orgs=dict(orgs), users={email: by_email[email] for email, *_ in PEOPLE})


async def _rows() -> list[tuple[Table, list[dict[str, Any]]]]:
    """Every table's rows, parents before children."""
    found = []
    async with db.engine().connect() as conn:
        for table in Base.metadata.sorted_tables:
            data = [dict(row._mapping) for row in (await conn.execute(select(table))).all()]
            if data:
                found.append((table, data))
    return found


async def _a_fresh_start() -> None:
    """The set-up's audit rows and bus events go: a test reads the audit log and the bus for its own changes."""
    async with db.session() as s, s.begin():
        await s.execute(delete(AuditLog))
    published = getattr(get_bus(), 'published', None)
    if published is not None:
        published.clear()


# --- small factories and reads the tests share -----------------------------------------------------------------------

async def make_ticket(people: People, title: str = 'Printer on floor 3 is down', **kwargs) -> Ticket:
    """A ticket Anna opens for Carl (``actor`` / ``customer_id`` change who); the rest goes to ``create_ticket``."""
    kwargs.setdefault('actor', people.users['anna@pulse.demo'])
    kwargs.setdefault('customer_id', people.users['carl@acme.demo'].id)
    return await tickets.create_ticket(title=title, **kwargs)


async def load_ticket(ticket_id: int) -> Ticket:
    """The ticket as stored now."""
    async with db.session() as s:
        return await s.get(Ticket, ticket_id)


async def queue_ids() -> dict[str, int]:
    """Queue ids by name."""
    async with db.session() as s:
        return dict((await s.execute(select(Queue.name, Queue.id))).all())


async def priority_id(name: str) -> int:
    """The id of the priority called ``name`` (the active scale's names are unique: Critical, Major, Minor)."""
    async with db.session() as s:
        return (await s.execute(select(Priority.id).where(Priority.name == name))).scalar_one()


async def deactivate_customer(actor: User, person: User) -> None:
    """``actor`` switches the customer ``person`` off (edited as the form would, Active unticked)."""
    await customers.save_customer(actor=actor, user_id=person.id, email=person.email,
                                  display_name=person.display_name, organisation_id=person.organisation_id,
                                  phone=person.phone, is_org_admin=person.is_org_admin, is_active=False)


async def make_help_categories(people):
    """SECRETCAT › SECRETCHILD holds only an internal article and a public draft; Network › Wi-Fi holds one public,
    published article ("Guest Wi-Fi", in the child only); Network › Empty holds nothing. Returns (secret,
    secret_child, network, wifi)."""
    from pulse_live.services import kb
    from pulse_live.services.kb import ArticleFields
    anna = people.users['anna@pulse.demo']
    secret = await kb.save_category(actor=anna, name='SECRETCAT')
    secret_child = await kb.save_category(actor=anna, name='SECRETCHILD', parent_id=secret.id)
    await kb.create_article(actor=anna, fields=ArticleFields(
        title='Core switch passwords', category_id=secret_child.id, visibility='internal', status='published'))
    await kb.create_article(actor=anna, fields=ArticleFields(
        title='Half written', category_id=secret_child.id, visibility='public', status='draft'))
    network = await kb.save_category(actor=anna, name='Network')
    wifi = await kb.save_category(actor=anna, name='Wi-Fi', parent_id=network.id)
    await kb.save_category(actor=anna, name='Empty', parent_id=network.id)
    await kb.create_article(actor=anna, fields=ArticleFields(
        title='Guest Wi-Fi', category_id=wifi.id, visibility='public', status='published'))
    return secret, secret_child, network, wifi
