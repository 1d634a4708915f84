"""Who is calling: search people by e-mail, phone, id or name; a person's card, items and ticket history;
lists of customers, organisations and services for the directory pages. Agents only (``auth.py``)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, contact, db
from ..models import ConfigurationItem, Organisation, Priority, Role, Service, Status, Ticket, User
from .like import contains

OPEN_STATUSES = (Status.OPEN.value, Status.IN_PROGRESS.value, Status.WAITING.value)  # waiting: still open


@dataclass
class PersonHit:
    id: int
    name: str
    email: str
    phone: str
    role: str
    organisation: str
    tier: str
    department: str
    location: str
    matched: str  # what matched: id, e-mail, phone, name
    is_active: bool = True


def _match_kind(hit: User, text: str, phone: contact.PhoneQuery | None) -> tuple[int, str]:
    """Rank: exact id, exact e-mail, the same phone number, part of a number, e-mail/name prefix, anything else."""
    lowered = text.strip().lower().lstrip('#')
    if lowered.isdigit() and hit.id == int(lowered):
        return 0, 'id'
    if hit.email.lower() == lowered:
        return 1, 'e-mail'
    phone_match = phone.matches(hit.phone_e164, hit.phone) if phone else 0
    if phone_match:
        return (2, 'phone') if phone_match == 2 else (3, 'phone')
    if hit.email.lower().startswith(lowered):
        return 4, 'e-mail'
    if hit.display_name.lower().startswith(lowered):
        return 4, 'name'
    if lowered in hit.email.lower():
        return 5, 'e-mail'
    return 5, 'name'


async def search_people(viewer: User, text: str, *, limit: int = 8, include_staff: bool = True,
                        include_inactive: bool = False) -> list[PersonHit]:
    """People matching what an agent typed: ``#12``/``12`` (id), an e-mail or part of it, a phone number in
    any format or part of one (compared in E.164, see ``contact.py``), or name fragments in any order. Customers
    come before staff.

    Deactivated people are left out unless ``include_inactive``: caller identification (new ticket) offers only
    people a ticket can be opened for. To find a deactivated customer again (e.g. to reactivate them), use the
    /customers directory with "Show inactive" (``customers(include_inactive=True)``), which passes it on."""
    if not auth.can_identify_customers(viewer):
        auth.refused(viewer, 'search people for', repr(text[:40]))
        return []
    text = (text or '').strip()[:200]
    if len(text) < 2 and not text.isdigit():
        return []
    lowered = text.lower()
    conditions = []
    key = lowered.lstrip('#')
    if key.isdigit() and len(key) <= 9:
        conditions.append(User.id == int(key))
    phone = contact.phone_query(text)
    if phone is not None:
        conditions.append(phone.where(User.phone_e164, User.phone))
    words = [w for w in lowered.replace(',', ' ').split() if w]
    if words:
        conditions.append(and_(*[or_(contains(User.display_name, w), contains(User.email, w)) for w in words]))
    query = (select(User, Organisation.name, Organisation.tier)
             .join(Organisation, User.organisation_id == Organisation.id)
             .where(or_(*conditions)))
    if not include_inactive:
        query = query.where(User.is_active.is_(True))
    if not include_staff:
        query = query.where(User.role == Role.CUSTOMER.value)
    query = query.order_by(case((User.role == Role.CUSTOMER.value, 0), else_=1), User.display_name).limit(limit * 4)
    async with db.session() as s:
        rows = (await s.execute(query)).unique().all()
    ranked = sorted(((_match_kind(u, text, phone), u, org, tier) for u, org, tier in rows),
                    key=lambda r: (r[0][0], r[1].role != Role.CUSTOMER, r[1].display_name.lower()))
    return [PersonHit(id=u.id, name=u.display_name, email=u.email, phone=u.phone, role=u.role, organisation=org,
                      tier=tier, department=u.department, location=u.location, matched=kind, is_active=u.is_active)
            for (_, kind), u, org, tier in ranked[:limit]]


@dataclass
class ItemView:
    id: int
    kind: str
    name: str
    model: str
    serial_number: str
    operating_system: str
    version: str
    installed_software: list[str]
    notes: str
    is_active: bool
    user_id: int | None
    user_name: str


@dataclass
class HistoryRow:
    id: int
    reference: str
    title: str
    status: str
    priority: str
    priority_color: str
    created_at: datetime
    updated_at: datetime


@dataclass
class CustomerProfile:
    id: int
    name: str
    email: str
    phone: str
    location: str
    department: str
    handle: str
    role: str
    is_org_admin: bool
    is_active: bool
    organisation_id: int
    organisation: str
    tier: str
    created_at: datetime
    last_login_at: datetime | None
    items: list[ItemView] = field(default_factory=list)
    tickets: list[HistoryRow] = field(default_factory=list)
    open_count: int = 0
    total_count: int = 0


def _item_view(item: ConfigurationItem, user_name: str | None) -> ItemView:
    return ItemView(id=item.id, kind=item.kind, name=item.name, model=item.model, serial_number=item.serial_number,
                    operating_system=item.operating_system, version=item.version,
                    installed_software=[line for line in item.installed_software.splitlines() if line.strip()],
                    notes=item.notes, is_active=item.is_active, user_id=item.user_id, user_name=user_name or '')


_PERSON = select(User, Organisation).join(Organisation, User.organisation_id == Organisation.id) \
    .where(User.id == bindparam('user_id'))


@functools.cache
def _profile_statements(include_retired: bool, customer: bool) -> tuple[Select, Select, Select]:
    """A profile's items, ticket counts and recent tickets, for the person and organisation bound at execution;
    built once per kind (the profile is read on every opening of a ticket by staff, for its customer panel)."""
    person: Any = bindparam('person')
    organisation: Any = bindparam('organisation')
    # their own items, then the organisation's shared ones (used by nobody in particular)
    items = (select(ConfigurationItem).where(or_(
        ConfigurationItem.user_id == person,
        and_(ConfigurationItem.user_id.is_(None), ConfigurationItem.organisation_id == organisation)))
        .order_by(ConfigurationItem.is_active.desc(), ConfigurationItem.user_id.is_(None), ConfigurationItem.kind,
                  ConfigurationItem.name))
    if not include_retired:
        items = items.where(ConfigurationItem.is_active.is_(True))
    # a customer's tickets are also those they opened for someone else; staff's only those they are customer of
    mine = or_(Ticket.customer_id == person, Ticket.creator_id == person) if customer \
        else Ticket.customer_id == person
    counts = select(func.count(Ticket.id), func.count(case((Ticket.status.in_(OPEN_STATUSES), Ticket.id)))).where(mine)
    recent = (select(Ticket.id, Ticket.reference, Ticket.title, Ticket.status, Priority.name, Priority.color,
                     Ticket.created_at, Ticket.updated_at).join(Priority, Ticket.priority_id == Priority.id)
              .where(mine).order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(bindparam('limit')))
    return items, counts, recent


async def customer_profile(viewer: User, user_id: int, *, ticket_limit: int = 10,
                           include_retired: bool = False) -> CustomerProfile | None:
    """Everything the desk knows about a person: card, organisation and tier, items, recent tickets."""
    if not auth.can_identify_customers(viewer):
        auth.refused(viewer, 'see the profile of user', user_id)
        return None
    async with db.quick() as s:
        return await read_profile(s, user_id, ticket_limit=ticket_limit, include_retired=include_retired)


async def read_profile(s: AsyncSession, user_id: int, *, ticket_limit: int,
                       include_retired: bool = False) -> CustomerProfile | None:
    """``customer_profile`` in the caller's session, once the caller checked the viewer may see it."""
    row = (await s.execute(_PERSON, {'user_id': user_id})).unique().first()
    if row is None:
        return None
    person, org = row
    person_items, counts, recent = _profile_statements(include_retired, person.role == Role.CUSTOMER)
    mine = {'person': person.id, 'organisation': person.organisation_id}
    items = [_item_view(i, person.display_name if i.user_id else '')
             for i in (await s.execute(person_items, mine)).scalars()]
    total, open_count = (await s.execute(counts, mine)).one()
    history = (await s.execute(recent, {**mine, 'limit': ticket_limit})).all()
    return CustomerProfile(
        id=person.id, name=person.display_name, email=person.email, phone=person.phone, location=person.location,
        department=person.department, handle=person.handle or '', role=person.role,
        is_org_admin=bool(person.is_org_admin), is_active=person.is_active, organisation_id=org.id,
        organisation=org.name, tier=org.tier, created_at=person.created_at, last_login_at=person.last_login_at,
        items=items, tickets=[HistoryRow(*r) for r in history], open_count=open_count, total_count=total)


# --- directory lists ---

@dataclass
class CustomerRow:
    id: int
    name: str
    email: str
    phone: str
    organisation: str
    department: str
    is_org_admin: bool
    is_active: bool
    open_tickets: int


async def customers(viewer: User, *, search: str = '', organisation_id: int | None = None,
                    include_inactive: bool = False, limit: int = 200) -> list[CustomerRow]:
    """The directory: active customers, or with ``include_inactive`` the deactivated ones too (the search
    included), so a deactivated customer can be found and reactivated rather than created twice."""
    if not auth.can_identify_customers(viewer):
        auth.refused(viewer, 'list customers', '')
        return []
    query = (select(User.id, User.display_name, User.email, User.phone, Organisation.name, User.department,
                    User.is_org_admin, User.is_active)
             .join(Organisation, User.organisation_id == Organisation.id)
             .where(User.role == Role.CUSTOMER.value))
    if not include_inactive:
        query = query.where(User.is_active.is_(True))
    if organisation_id:
        query = query.where(User.organisation_id == organisation_id)
    if search.strip():
        ids = [h.id for h in await search_people(viewer, search, limit=limit, include_staff=False,
                                                 include_inactive=include_inactive)]
        query = query.where(User.id.in_(ids or [-1]))
    async with db.session() as s:
        rows = (await s.execute(query.order_by(Organisation.name, User.display_name).limit(limit))).all()
        open_tickets = await _open_tickets_of(s, [r[0] for r in rows])
    return [CustomerRow(id=r[0], name=r[1], email=r[2], phone=r[3], organisation=r[4], department=r[5],
                        is_org_admin=bool(r[6]), is_active=r[7], open_tickets=open_tickets.get(r[0], 0))
            for r in rows]


async def _open_tickets_of(s: AsyncSession, customer_ids: list[int]) -> dict[int, int]:
    """Open tickets of the customers listed (a page: at most ``limit`` ids), one grouped read along
    ``ix_tickets_customer_status``. A count per customer correlated to the listing read every ticket once per
    customer (no index on customer_id): 2.6 s of CPU per load of /customers with 30,000 tickets."""
    counts: dict[int, int] = {}
    for start in range(0, len(customer_ids), 500):  # bound the bind parameters of one statement
        chunk = customer_ids[start:start + 500]
        rows = await s.execute(select(Ticket.customer_id, func.count())
                               .where(Ticket.customer_id.in_(chunk), Ticket.status.in_(OPEN_STATUSES))
                               .group_by(Ticket.customer_id))
        counts.update({customer_id: n for customer_id, n in rows.tuples() if customer_id is not None})
    return counts


@dataclass
class OrganisationRow:
    id: int
    name: str
    tier: str
    is_provider: bool
    people: int
    open_tickets: int


async def organisations(viewer: User) -> list[OrganisationRow]:
    if not auth.can_identify_customers(viewer):
        auth.refused(viewer, 'list organisations', '')
        return []
    people = (select(func.count(User.id)).where(User.organisation_id == Organisation.id, User.is_active.is_(True))
              .correlate(Organisation).scalar_subquery())
    # open tickets: one grouped read of the open tickets (along a status index) rather than a count per organisation
    # (each read all its tickets along ix_tickets_org_created: 70 ms with 30,000 tickets). "+ 0": grouped by the bare
    # column, SQLite's planner walked that index over every ticket instead, to save the grouping's sort
    organisation = (Ticket.organisation_id + 0).label('organisation')
    async with db.session() as s:
        rows = (await s.execute(select(Organisation.id, Organisation.name, Organisation.tier, Organisation.is_provider,
                                       people)
                                .order_by(Organisation.is_provider.desc(), Organisation.name))).all()
        open_tickets = dict((await s.execute(select(organisation, func.count())
                                             .where(Ticket.status.in_(OPEN_STATUSES))
                                             .group_by(organisation))).tuples().all())
    return [OrganisationRow(id=r[0], name=r[1], tier=r[2], is_provider=r[3], people=r[4] or 0,
                            open_tickets=open_tickets.get(r[0], 0)) for r in rows]


async def organisation_choices(*, customers_only: bool = False) -> dict[int, str]:
    query = select(Organisation.id, Organisation.name, Organisation.tier).order_by(Organisation.name)
    if customers_only:
        query = query.where(Organisation.is_provider.is_(False))
    async with db.session() as s:
        return {oid: f'{name} ({tier})' for oid, name, tier in (await s.execute(query)).all()}


PEOPLE_SHOWN = 50  # a searched "used by" picker offers this many at a time (an organisation may have 10,000 people)


async def organisation_people(viewer: User, organisation_id: int, *, search: str = '', keep: int | None = None,
                              limit: int | None = None) -> dict[int, str]:
    """People of one organisation, for "used by" pickers: those whose name contains ``search``, the first ``limit``
    by name (all without one), and ``keep`` (the current choice) whether it matches or not."""
    if not auth.can_identify_customers(viewer):
        return {}
    async with db.session() as s:
        query = select(User.id, User.display_name).where(User.organisation_id == organisation_id,
                                                         User.is_active.is_(True))
        if search.strip():
            query = query.where(contains(User.display_name, search.strip()[:100]))
        rows = dict((await s.execute(query.order_by(User.display_name).limit(limit))).all())
        if keep is not None and keep not in rows:
            kept = (await s.execute(select(User.id, User.display_name).where(
                User.id == keep, User.organisation_id == organisation_id))).first()
            if kept is not None:
                rows[kept[0]] = kept[1]
        return rows


@dataclass
class ServiceRow:
    id: int
    name: str
    description: str
    criticality: str
    is_active: bool
    open_tickets: int


async def services(viewer: User) -> list[ServiceRow]:
    if not auth.can_identify_customers(viewer):
        auth.refused(viewer, 'list services', '')
        return []
    # one grouped read of the open tickets (along a status index); a count per service read every ticket once per
    # service (no index on service_id)
    async with db.session() as s:
        rows = (await s.execute(select(Service.id, Service.name, Service.description, Service.criticality,
                                       Service.is_active)
                                .order_by(Service.is_active.desc(), Service.name))).all()
        open_tickets = {service_id: n for service_id, n in (await s.execute(
            select(Ticket.service_id, func.count())
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.service_id.is_not(None))
            .group_by(Ticket.service_id))).tuples() if service_id is not None}
    return [ServiceRow(id=r[0], name=r[1], description=r[2], criticality=r[3], is_active=r[4],
                       open_tickets=open_tickets.get(r[0], 0)) for r in rows]


async def item(viewer: User, item_id: int) -> ItemView | None:
    if not auth.can_identify_customers(viewer):
        auth.refused(viewer, 'see configuration item', item_id)
        return None
    async with db.session() as s:
        row = (await s.execute(select(ConfigurationItem, User.display_name)
                               .outerjoin(User, ConfigurationItem.user_id == User.id)
                               .where(ConfigurationItem.id == item_id))).first()
    return _item_view(*row) if row else None

