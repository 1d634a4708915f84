"""The customer portal's read side: requests in the customer's terms.

Only what a customer may see leaves this module: public chatter, status, the request's own fields — never
internal notes, queues, assignees, priority, the provider's team or agent-only documents. Which requests:
``auth.can_view_ticket`` / ``auth.visible_tickets`` (own requests and those they are on the team of; the whole
organisation for org admins); which entries and documents of a request: ``visibility.py``, applied by the ticket
queries themselves (``ticket_events``, ``ticket_attachments``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from .. import auth, db, markdown
from ..models import Service, Status, Ticket, TicketType, User
from .like import contains
from .tickets import AttachmentView, EventView, find_ticket_id, ticket_attachments, ticket_events, ticket_view  # noqa: F401

# how the customer reads our statuses
STATUS_WORDS = {Status.OPEN: 'Received', Status.IN_PROGRESS: 'In progress', Status.RESOLVED: 'Solved',
                Status.CLOSED: 'Closed', Status.WAITING: 'Waiting for your reply'}
STATUS_HINTS = {Status.OPEN: 'We have your request and will pick it up soon.',
                Status.IN_PROGRESS: 'Someone is working on your request.',
                Status.RESOLVED: 'We think this is solved. Please confirm, or reopen it if the problem is still there.',
                Status.CLOSED: 'This request is closed.',
                Status.WAITING: 'We need something from you: please answer in the conversation below.'}
SCOPES = ('mine', 'organisation')
STATES = ('open', 'closed', 'all')


def status_word(status: str) -> str:
    return STATUS_WORDS[Status(status)]


@dataclass
class RequestRow:
    id: int
    reference: str
    title: str
    status: str
    type: str
    service: str
    requester: str
    created_at: datetime
    updated_at: datetime


async def requests(viewer: User, *, scope: str = 'mine', state: str = 'all', search: str = '',
                   limit: int = 200) -> list[RequestRow]:
    """The viewer's own requests (``mine``) or, for organisation admins, all of the organisation's."""
    if scope == 'organisation' and not auth.can_see_organisation_requests(viewer):
        auth.refused(viewer, "list the organisation's requests", '')
        return []
    conditions = [auth.visible_tickets(viewer)]
    if scope != 'organisation':
        conditions.append(or_(Ticket.customer_id == viewer.id, Ticket.creator_id == viewer.id,
                              auth.on_team_of(viewer)))  # also those a colleague copied them in on
    if state == 'open':
        conditions.append(Ticket.status.in_([Status.OPEN.value, Status.IN_PROGRESS.value, Status.WAITING.value,
                                             Status.RESOLVED.value]))
    elif state == 'closed':
        conditions.append(Ticket.status == Status.CLOSED.value)
    term = (search or '').strip().lower()[:200]
    if term:
        conditions.append(or_(contains(Ticket.reference, term), contains(Ticket.title, term)))
    requester = aliased(User)
    async with db.session() as s:
        rows = (await s.execute(
            select(Ticket.id, Ticket.reference, Ticket.title, Ticket.status, TicketType.name, Service.name,
                   requester.display_name, Ticket.created_at, Ticket.updated_at)
            .join(TicketType, Ticket.type_id == TicketType.id)
            .outerjoin(Service, Ticket.service_id == Service.id)
            .outerjoin(requester, Ticket.customer_id == requester.id)
            .where(*conditions).order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit))).all()
    return [RequestRow(id=r[0], reference=r[1], title=r[2], status=r[3], type=r[4], service=r[5] or '',
                       requester=r[6] or '', created_at=r[7], updated_at=r[8]) for r in rows]


@dataclass
class RequestView:
    id: int
    reference: str
    title: str
    description: str
    status: str
    type: str
    service: str
    requester: str
    organisation: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution_code: str
    resolution_text: str
    reopen_until: datetime | None
    can_reopen: bool
    version: int
    events: list[EventView]
    has_older: bool
    attachments: list[AttachmentView]


async def request_events(viewer: User, ticket_id: int, *, after: int | None = None, before: int | None = None,
                         limit: int = 100) -> tuple[list[EventView], bool]:
    """The conversation of a request as its viewer may read it (``ticket_events`` filters by ``visibility.py``)."""
    return await ticket_events(viewer, ticket_id, after=after, before=before, limit=limit)


async def find_request(viewer: User, reference: str) -> int | None:
    return await find_ticket_id(viewer, reference)


async def request_view(viewer: User, ticket_id: int, *, with_events: bool = True,
                       from_event: int | None = None) -> RequestView | None:
    """``from_event``: the conversation goes back at least to that entry (a search result lands on it)."""
    view = await ticket_view(viewer, ticket_id, with_events=with_events, from_event=from_event)
    if view is None:
        return None
    t = view.ticket
    resolution_text = t.resolution_text if t.status in (Status.RESOLVED, Status.CLOSED) else ''
    await markdown.prepare([(t.description or '', None), (resolution_text or '', None)])  # shown as markdown
    return RequestView(
        id=t.id, reference=t.reference, title=t.title, description=t.description, status=t.status, type=view.type,
        service=view.service, requester=view.customer, organisation=view.organisation, created_at=t.created_at,
        updated_at=t.updated_at, resolved_at=t.resolved_at, resolution_code=view.resolution_code,
        resolution_text=resolution_text,
        reopen_until=auth.reopen_deadline(t) if t.status == Status.RESOLVED else None,
        can_reopen=t.status == Status.RESOLVED and auth.customer_may_reopen(t), version=t.version,
        events=view.events, has_older=view.has_older,
        attachments=view.attachments)
