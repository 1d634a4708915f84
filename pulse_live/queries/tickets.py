"""Ticket lists and the ticket view, filtered by what the viewer may see."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select
from sqlalchemy.orm import aliased

from .. import auth, db, markdown, visibility
from ..models import (
    Attachment,
    EventMention,
    Organisation,
    Priority,
    Queue,
    ResolutionCode,
    Service,
    TeamMember,
    Ticket,
    TicketEvent,
    TicketType,
    User,
)
from ..models.core import STAFF_ROLES
from .like import contains

SORTS: dict[str, ColumnElement[Any]] = {
    'updated': Ticket.updated_at.desc(),
    'created': Ticket.created_at.desc(),
    'oldest': Ticket.created_at.asc(),
    'priority': Priority.rank.asc(),
    'reference': Ticket.reference.asc(),
}


@dataclass
class TicketRow:
    id: int
    reference: str
    title: str
    status: str
    priority: str
    priority_color: str
    type: str
    organisation: str
    assignee: str
    updated_at: datetime


@dataclass
class TicketPage:
    rows: list[TicketRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _visible(viewer: User):
    return auth.visible_tickets(viewer)


async def list_tickets(viewer: User, *, search: str = '', status: str | None = None, sort: str = 'updated',
                       page: int = 1, page_size: int = 25, assignee_id: int | None = None) -> TicketPage:
    page, page_size = max(1, page), min(max(1, page_size), 200)
    assignee = aliased(User)
    conditions = [_visible(viewer)]
    term = search.strip()
    if term:
        conditions.append(or_(contains(Ticket.reference, term), contains(Ticket.title, term)))
    if status:
        conditions.append(Ticket.status == status)
    if assignee_id:
        conditions.append(Ticket.assignee_id == assignee_id)
    async with db.session() as s:
        total = (await s.execute(select(func.count(Ticket.id)).where(*conditions))).scalar_one()
        query = (select(Ticket.id, Ticket.reference, Ticket.title, Ticket.status, Priority.name, Priority.color,
                        TicketType.name, Organisation.name, assignee.display_name, Ticket.updated_at)
                 .join(Priority, Ticket.priority_id == Priority.id)
                 .join(TicketType, Ticket.type_id == TicketType.id)
                 .join(Organisation, Ticket.organisation_id == Organisation.id)
                 .outerjoin(assignee, Ticket.assignee_id == assignee.id)
                 .where(*conditions)
                 .order_by(SORTS.get(sort, SORTS['updated']), Ticket.id.desc())
                 .offset((page - 1) * page_size).limit(page_size))
        rows = [TicketRow(id=r[0], reference=r[1], title=r[2], status=r[3], priority=r[4],
                          priority_color=r[5], type=r[6], organisation=r[7], assignee=r[8] or '',
                          updated_at=r[9]) for r in (await s.execute(query)).all()]
    return TicketPage(rows=rows, total=total, page=page, page_size=page_size)


@dataclass
class EventView:
    id: int
    kind: str
    actor: str
    actor_id: int | None
    created_at: datetime
    body: str
    is_internal: bool
    field: str | None
    old_value: str | None
    new_value: str | None
    attachments: list[AttachmentView] = dataclasses.field(default_factory=list)
    mentions: list[str] = dataclasses.field(default_factory=list)
    data: dict[str, Any] | None = None  # the entry's facts (a logged call: direction, seconds, caller, note)
    actor_is_staff: bool = False  # written by the desk's staff (shown: a customer may take any name)


@dataclass
class AttachmentView:
    id: int
    filename: str
    content_type: str
    size: int
    uploader: str
    created_at: datetime
    is_internal: bool


@dataclass
class MemberView:
    id: int
    user_id: int | None
    name: str
    watching: bool
    added_how: str


@dataclass
class TicketView:
    ticket: Ticket
    type: str
    priority: str
    priority_color: str
    customer: str
    customer_email: str
    organisation: str
    service: str
    queue: str
    assignee: str
    creator: str
    resolution_code: str
    events: list[EventView]
    team: list[MemberView]
    attachments: list[AttachmentView]
    has_older: bool


_BY_REFERENCE = select(Ticket).where(Ticket.reference == bindparam('reference'))
MAX_ID = 2**31 - 1  # tickets.id is an INTEGER column: a larger number makes PostgreSQL refuse the whole query


async def find_ticket_id(viewer: User, reference_or_id: str) -> int | None:
    """Resolve ``PL-2026-000123`` (or a numeric id) to a ticket the viewer may see; None otherwise."""
    key = (reference_or_id or '').strip().upper()
    async with db.quick() as s:
        if key.isascii() and key.isdigit():  # an id; past the column's range (PostgreSQL: 32 bits) none exists
            ticket = await s.get(Ticket, int(key)) if int(key) <= MAX_ID else None
        else:
            ticket = (await s.execute(_BY_REFERENCE, {'reference': key})).scalar_one_or_none()
        allowed = ticket is not None and await auth.may_view_ticket(s, viewer, ticket)
    if ticket is None:
        return None
    if not allowed:
        auth.refused(viewer, 'open ticket', ticket.reference)
        return None
    return ticket.id


_CUSTOMER, _ASSIGNEE, _CREATOR = aliased(User), aliased(User), aliased(User)


def with_names(query):
    """``query`` (of ``Ticket``) with the names a ticket shows (the ticket page, the REST API's records): priority
    name and colour, customer name and e-mail, type, organisation, service, queue, assignee, creator, resolution code
    (None where there is none)."""
    return (query.add_columns(Priority.name, Priority.color, _CUSTOMER.display_name, _CUSTOMER.email, TicketType.name,
                              Organisation.name, Service.name, Queue.name, _ASSIGNEE.display_name,
                              _CREATOR.display_name, ResolutionCode.name)
            .outerjoin(Priority, Priority.id == Ticket.priority_id)
            .outerjoin(_CUSTOMER, _CUSTOMER.id == Ticket.customer_id)
            .outerjoin(TicketType, TicketType.id == Ticket.type_id)
            .outerjoin(Organisation, Organisation.id == Ticket.organisation_id)
            .outerjoin(Service, Service.id == Ticket.service_id)
            .outerjoin(Queue, Queue.id == Ticket.queue_id)
            .outerjoin(_ASSIGNEE, _ASSIGNEE.id == Ticket.assignee_id)
            .outerjoin(_CREATOR, _CREATOR.id == Ticket.creator_id)
            .outerjoin(ResolutionCode, ResolutionCode.id == Ticket.resolution_code_id))


async def ticket_events(viewer: User, ticket_id: int, *, after: int | None = None, before: int | None = None,
                        limit: int = 100) -> tuple[list[EventView], bool]:
    """Chatter entries the viewer may see, oldest first: the newest ``limit`` (before ``before``), or all after
    ``after``. The flag tells whether older entries exist. Nothing for a ticket the viewer may not see."""
    async with db.quick() as s:
        if not await auth.may_read_ticket(s, viewer, ticket_id, 'read the conversation of ticket'):
            return [], False
        events, has_older = await _events(s, viewer, ticket_id, after=after, before=before, limit=limit)
    await prepare_markdown(events)
    return events, has_older


async def prepare_markdown(events: list[EventView]) -> None:
    """The long texts the entries show (message bodies, call notes) rendered ahead, off the event loop
    (``markdown.prepare``): the pages build the entries at once from what was read."""
    await markdown.prepare([(e.body, e.mentions) for e in events if e.kind == 'message' and e.body]
                           + [(str(e.data['note']), None) for e in events
                              if e.kind == 'call' and isinstance(e.data, dict) and e.data.get('note')])


@functools.cache
def _entries_query() -> Select:
    """The entries' columns with their author's name, built once: every ticket page and every live change reads them,
    and building the statement (a fresh alias of the author each time, its twelve columns coerced) was ~4 % of the
    event loop under desk_load.py. ``_entries_statements`` adds the conditions (bound at execution)."""
    actor = aliased(User)
    # the entries' columns, not ORM objects: a page opens with up to a hundred of them, and making each an object of
    # the session (identity map, instance state) was a twentieth of the server's time under desk_load.py
    e_ = TicketEvent
    return (select(e_.id, e_.kind, e_.actor_id, e_.created_at, e_.body, e_.is_internal, e_.field, e_.old_value,
                   e_.new_value, e_.data, actor.display_name, actor.role)
            .outerjoin(actor, TicketEvent.actor_id == actor.id))


@functools.cache
def _entries_statements(customer: bool, after: bool, before: bool) -> tuple[Select, Select, Select]:
    """The statements of a page of entries, built once per kind of read (a customer's or staff's; the newest
    ``limit`` before ``before`` or not, or all after ``after``) with the ticket, the bounds, the limit and the
    entries' ids bound at execution: building a statement and its cache key afresh cost ~0.3 ms each, three per
    read, on every page and every live change of every viewer. ``after``: every entry after it, oldest first
    (and before ``before`` if that too); otherwise the newest ``limit`` (before ``before``), newest first."""
    conditions = [TicketEvent.ticket_id == bindparam('ticket_id')]
    if customer:
        conditions.append(visibility.customer_entries())
    if after:
        conditions.append(TicketEvent.id > bindparam('after'))
    if before:
        conditions.append(TicketEvent.id < bindparam('before'))
    query = _entries_query().where(*conditions)
    entries = query.order_by(TicketEvent.id) if after else \
        query.order_by(TicketEvent.id.desc()).limit(bindparam('limit'))
    ids: Any = bindparam('ids', expanding=True)
    shown: list[ColumnElement[bool]] = [Attachment.event_id.in_(ids)]
    if customer:  # a customer's own mail reply keeps its original as a staff-only file
        shown.append(visibility.customer_attachments())
    files = (select(Attachment, User.display_name).join(User, Attachment.uploader_id == User.id)
             .where(*shown).order_by(Attachment.id))
    mentions = (select(EventMention.event_id, EventMention.is_team, User.handle)
                .outerjoin(User, EventMention.user_id == User.id).where(EventMention.event_id.in_(ids)))
    return entries, files, mentions


async def _events(s, viewer: User, ticket_id: int, *, after: int | None, before: int | None,
                  limit: int) -> tuple[list[EventView], bool]:
    """``ticket_events`` once the viewer's access was checked; a customer reads what ``visibility.py`` allows."""
    customer = not auth.can_see_internal(viewer)
    entries, files, mentions = _entries_statements(customer, after is not None, before is not None)
    if after is not None:
        rows = (await s.execute(entries, {'ticket_id': ticket_id, 'after': after, 'before': before})).all()
        has_older = False
    else:
        rows = (await s.execute(entries, {'ticket_id': ticket_id, 'before': before, 'limit': limit + 1})).all()
        has_older = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    events = [EventView(id=id_, kind=kind, actor=name or 'System', actor_id=actor_id, created_at=created_at,
                        body=body, is_internal=is_internal, field=field, old_value=old_value, new_value=new_value,
                        data=data, actor_is_staff=role in STAFF_ROLES)
              for id_, kind, actor_id, created_at, body, is_internal, field, old_value, new_value, data, name, role
              in rows]
    by_id = {e.id: e for e in events}
    if by_id:
        ids = {'ids': list(by_id)}
        for a, uploader in (await s.execute(files, ids)).all():
            by_id[a.event_id].attachments.append(_attachment_view(a, uploader))
        for event_id, is_team, handle in (await s.execute(mentions, ids)).all():
            by_id[event_id].mentions.append('Team' if is_team else (handle or ''))
    return events, has_older


def _attachment_view(a: Attachment, uploader: str) -> AttachmentView:
    return AttachmentView(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size, uploader=uploader,
                          created_at=a.created_at, is_internal=a.is_internal)


# the documents list shows a ticket's newest documents (the older ones are in the chatter, on their entries): 5,000
# files on one ticket (a customer can post them, 10 a message) made every opening of the page 30,000 elements and
# 2.6 s of CPU, and every new file rebuilt the whole list on every open page of the ticket
DOCUMENTS_SHOWN = 50


async def ticket_attachments(viewer: User, ticket_id: int) -> list[AttachmentView]:
    """The ticket's newest documents the viewer may download, oldest first: at most DOCUMENTS_SHOWN, and one more
    when there are older ones (the list says so); nothing for a ticket the viewer may not see."""
    async with db.quick() as s:
        if not await auth.may_read_ticket(s, viewer, ticket_id, 'list the documents of ticket'):
            return []
        return await _attachments(s, viewer, ticket_id)


@functools.cache
def _documents_statement(customer: bool) -> Select:
    conditions = [Attachment.ticket_id == bindparam('ticket_id')]
    if customer:
        conditions.append(visibility.customer_attachments())
    return (select(Attachment, User.display_name).join(User, Attachment.uploader_id == User.id)
            .where(*conditions).order_by(Attachment.id.desc()).limit(DOCUMENTS_SHOWN + 1))


async def _attachments(s, viewer: User, ticket_id: int) -> list[AttachmentView]:
    rows = (await s.execute(_documents_statement(not auth.can_see_internal(viewer)), {'ticket_id': ticket_id})).all()
    return [_attachment_view(a, uploader) for a, uploader in reversed(rows)]


_TEAM = (select(TeamMember, User.display_name, Organisation.name)
         .outerjoin(User, TeamMember.user_id == User.id)
         .outerjoin(Organisation, TeamMember.organisation_id == Organisation.id)
         .where(TeamMember.ticket_id == bindparam('ticket_id')).order_by(TeamMember.id))


async def ticket_team(viewer: User, ticket_id: int) -> list[MemberView]:
    """The team list (agents only: customers never see the provider's team)."""
    if not auth.can_see_internal(viewer):
        return []
    async with db.quick() as s:
        rows = (await s.execute(_TEAM, {'ticket_id': ticket_id})).all()
    return [MemberView(id=m.id, user_id=m.user_id, watching=m.watching, added_how=m.added_how,
                       name=uname or f'{oname} support group') for m, uname, oname in rows]


# the ticket page's read of the ticket with its names, built once (the statements below too: see _entries_statements)
_VIEW = (with_names(select(Ticket)).where(Ticket.id == bindparam('ticket_id'))
         .execution_options(populate_existing=True))
FROM_EVENT_MAX = 1000  # a link to an entry loads the chatter back to it, up to this many entries (building is CPU)


async def ticket_view(viewer: User, ticket_id: int, *, event_limit: int = 100,
                      with_events: bool = True, from_event: int | None = None) -> TicketView | None:
    """Everything the ticket page shows, or None when the ticket does not exist or the viewer may not see it.
    ``from_event``: the chatter goes back at least to that entry (a search result lands on it)."""
    async with db.quick() as s:
        # the ticket and the names it shows in one statement (each name was a read of its own: ten per view)
        row = (await s.execute(_VIEW, {'ticket_id': ticket_id})).first()
        ticket = row[0] if row is not None else None
        if ticket is None or not await auth.may_view_ticket(s, viewer, ticket):
            if ticket is not None:
                auth.refused(viewer, 'view ticket', ticket.reference)
            return None
        assert row is not None
        (_, priority_name, priority_color, customer_name, customer_email, type_name, organisation, service, queue,
         assignee, creator, resolution_code) = row
        names = {'type': type_name or '', 'organisation': organisation or '', 'service': service or '',
                 'queue': queue or '', 'assignee': assignee or '', 'creator': creator or '',
                 'resolution_code': resolution_code or ''}
        if from_event and with_events:
            conditions = [TicketEvent.ticket_id == ticket_id, TicketEvent.id >= from_event]
            if not auth.can_see_internal(viewer):
                conditions.append(visibility.customer_entries())
            since = (await s.execute(select(func.count(TicketEvent.id)).where(*conditions))).scalar_one()
            event_limit = max(event_limit, min(since, FROM_EVENT_MAX))
        # the access was checked above, for everything this view holds
        events, has_older = await _events(s, viewer, ticket_id, after=None, before=None, limit=event_limit) \
            if with_events else ([], False)
        attachments = await _attachments(s, viewer, ticket_id)
    await prepare_markdown(events)
    return TicketView(ticket=ticket, priority=priority_name or '',
                      priority_color=priority_color or 'grey',
                      customer=customer_name or '', customer_email=customer_email or '',
                      events=events, team=await ticket_team(viewer, ticket_id),
                      attachments=attachments, has_older=has_older, **names)


async def attachment_for_download(viewer: User, attachment_id: int) -> Attachment | None:
    """The attachment if the viewer may download it; None (→ 404) otherwise."""
    async with db.session() as s:
        att = await s.get(Attachment, attachment_id)
        if att is None:
            return None
        ticket = await s.get(Ticket, att.ticket_id)
        if ticket is None or not await auth.may_view_ticket(s, viewer, ticket) or (
                not auth.can_see_internal(viewer) and not visibility.customer_reads_attachment(att.is_internal)):
            auth.refused(viewer, 'download attachment', f'#{attachment_id} of {ticket.reference if ticket else "?"}')
            return None
        return att
