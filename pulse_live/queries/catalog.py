"""Choices for forms: types, priorities, services, queues, resolution codes, people. The lists every ticket page
asks for are kept by the process for a moment (``lookups.py``: a write of this process drops them at once), and
read inline (``db.quick``: small tables, a few rows each). Through a reader's thread each of them waited for the busy
loop's turns: under ``benchmarks/desk_load.py`` a probe timed 90–400 ms per statement, and a ticket page opened
when its copies were out of date waited for six of them. What somebody types into a people picker is matched over
every account (a scan of a large table) and stays on a reader's thread."""
from __future__ import annotations

from sqlalchemy import or_, select

from .. import db
from ..models import (
    STAFF_ROLES,
    Organisation,
    Priority,
    PriorityScale,
    Queue,
    ResolutionCode,
    Service,
    TicketType,
    User,
)
from .like import contains
from .lookups import kept


async def ticket_types() -> dict[int, str]:
    async def load() -> dict[int, str]:
        async with db.quick() as s:
            rows = await s.execute(select(TicketType.id, TicketType.name).where(TicketType.is_active.is_(True))
                                   .order_by(TicketType.position, TicketType.id))
            return dict(rows.all())
    return await kept(('ticket_types',), load)


async def priorities(include_id: int | None = None) -> dict[int, str]:
    """The active scale's priorities (plus a ticket's current one from an older scale)."""
    async def load() -> dict[int, str]:
        async with db.quick() as s:
            rows = await s.execute(select(Priority.id, Priority.name).join(PriorityScale)
                                   .where(or_(PriorityScale.is_active.is_(True), Priority.id == include_id))
                                   .order_by(Priority.rank))
            return dict(rows.all())
    return await kept(('priorities', include_id), load)


async def priority_colors() -> dict[int, str]:
    async def load() -> dict[int, str]:
        async with db.quick() as s:
            return dict((await s.execute(select(Priority.id, Priority.color))).all())
    return await kept(('priority_colors',), load)


async def services() -> dict[int, str]:
    async def load() -> dict[int, str]:
        async with db.quick() as s:
            rows = await s.execute(select(Service.id, Service.name).where(Service.is_active.is_(True))
                                   .order_by(Service.name))
            return dict(rows.all())
    return await kept(('services',), load)


async def queues() -> dict[int, str]:
    async def load() -> dict[int, str]:
        async with db.quick() as s:
            return dict((await s.execute(select(Queue.id, Queue.name).order_by(Queue.name))).all())
    return await kept(('queues',), load)


async def resolution_codes() -> dict[int, str]:
    async def load() -> dict[int, str]:
        async with db.quick() as s:
            rows = await s.execute(select(ResolutionCode.id, ResolutionCode.name)
                                   .where(ResolutionCode.is_active.is_(True)).order_by(ResolutionCode.id))
            return dict(rows.all())
    return await kept(('resolution_codes',), load)


async def agents() -> dict[int, str]:
    async def load() -> dict[int, str]:
        async with db.quick() as s:
            rows = await s.execute(select(User.id, User.display_name)
                                   .where(User.role.in_([r.value for r in STAFF_ROLES]), User.is_active.is_(True))
                                   .order_by(User.display_name))
            return dict(rows.all())
    return await kept(('agents',), load)


CUSTOMER_CHOICES = 20  # customers a picker offers at a time: typing asks for others (a desk has tens of thousands)


async def customer_choices(text: str = '', *, include: int | None = None, limit: int = CUSTOMER_CHOICES) \
        -> dict[int, str]:
    """Active customers whose name, e-mail or organisation holds ``text`` (all when empty), first ``limit`` by
    name, as "Name (Organisation)"; ``include`` (the customer a ticket has now) is always among them, active or not."""
    needle = text.strip()
    query = select(User.id, User.display_name, Organisation.name).join(Organisation)

    async def load() -> dict[int, str]:
        async with db.session() as s:
            rows = (await s.execute(
                query.where(User.role == 'customer', User.is_active.is_(True),
                            or_(contains(User.display_name, needle), contains(User.email, needle),
                                contains(Organisation.name, needle)))
                .order_by(User.display_name, User.id).limit(limit))).all()
            return {uid: f'{name} ({org})' for uid, name, org in rows}

    # what somebody types is read as typed; the first page of everybody is kept like the other lists
    choices = await load() if text.strip() else dict(await kept(('customer_choices', limit), load))
    if include is not None and include not in choices:  # a row by key: inline (every ticket page asks for it)
        async with db.quick() as s:
            row = (await s.execute(query.where(User.id == include))).first()
        if row is not None:
            choices[row[0]] = f'{row[1]} ({row[2]})'
    return choices


async def users_matching(text: str, *, limit: int = 10) -> dict[int, str]:
    needle = text.strip()

    async def load() -> dict[int, str]:
        async with db.session() as s:
            rows = await s.execute(select(User.id, User.display_name, User.email)
                                   .where(User.is_active.is_(True),
                                          or_(contains(User.display_name, needle),
                                              contains(User.email, needle)))
                                   .order_by(User.display_name).limit(limit))
            return {uid: f'{name} <{email}>' for uid, name, email in rows.all()}

    if text.strip():  # what somebody types: read as typed
        return await load()
    return await kept(('users_matching', limit), load)  # everybody (the team's candidates on every ticket page)


async def mention_candidates() -> list[dict[str, str]]:
    """Users who published their business card, for @-completion."""
    async def load() -> list[dict[str, str]]:
        async with db.quick() as s:
            rows = await s.execute(select(User.handle, User.display_name)
                                   .where(User.card_published.is_(True), User.handle.is_not(None),
                                          User.is_active.is_(True))
                                   .order_by(User.handle))
            return [{'handle': h, 'name': n} for h, n in rows.all() if h]
    return await kept(('mention_candidates',), load)
