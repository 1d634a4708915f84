"""The customer in view on the agents' ticket page: their card, recent tickets, and the configuration items the
ticket affects (linked ones, and those that could be linked). Agents only (``auth.can_identify_customers``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, db
from ..models import ConfigurationItem, Ticket, TicketItem, User
from .customers import CustomerProfile, ItemView, _item_view, read_profile


@dataclass
class LinkedItem:
    item: ItemView
    added_by: str
    added_at: datetime


@dataclass
class CustomerPanelView:
    profile: CustomerProfile | None  # None: the ticket has no customer
    linked: list[LinkedItem] = field(default_factory=list)
    linkable: list[ItemView] = field(default_factory=list)  # the customer's and the organisation's items in use


async def linked_items(viewer: User, ticket_id: int) -> list[LinkedItem]:
    """The items linked to a ticket, in the order they were linked."""
    if not auth.can_identify_customers(viewer):
        auth.refused(viewer, 'see the configuration items of ticket', ticket_id)
        return []
    async with db.quick() as s:
        return await _linked(s, ticket_id)


# built once: the panel is read on every opening of a ticket by staff
_LINKED = (select(ConfigurationItem, TicketItem.added_at, User.display_name)
           .join(TicketItem, TicketItem.item_id == ConfigurationItem.id)
           .outerjoin(User, TicketItem.added_by_id == User.id)
           .where(TicketItem.ticket_id == bindparam('ticket_id')).order_by(TicketItem.id))
_OWNERS = select(User.id, User.display_name).where(User.id.in_(bindparam('ids', expanding=True)))
_CUSTOMER_OF = select(Ticket.customer_id).where(Ticket.id == bindparam('ticket_id'))


async def _linked(s: AsyncSession, ticket_id: int) -> list[LinkedItem]:
    rows = (await s.execute(_LINKED, {'ticket_id': ticket_id})).all()
    owners: dict[int, str] = {}
    owner_ids = {item.user_id for item, _, _ in rows if item.user_id}
    if owner_ids:
        owners = dict((await s.execute(_OWNERS, {'ids': sorted(owner_ids)})).all())
    return [LinkedItem(item=_item_view(item, owners.get(item.user_id) if item.user_id else None),
                       added_by=by or '', added_at=at)
            for item, at, by in rows]


async def customer_panel(viewer: User, ticket_id: int, *, ticket_limit: int = 6) -> CustomerPanelView | None:
    """Everything the panel shows; None when the viewer is not staff or the ticket does not exist."""
    if not auth.can_identify_customers(viewer):
        auth.refused(viewer, 'see the customer panel of ticket', ticket_id)
        return None
    async with db.quick() as s:  # one session for the three reads (each one opened its own)
        customer_id = (await s.execute(_CUSTOMER_OF, {'ticket_id': ticket_id})).first()
        if customer_id is None:
            return None
        linked = await _linked(s, ticket_id)
        profile = await read_profile(s, customer_id[0], ticket_limit=ticket_limit + 1) if customer_id[0] else None
    linkable: list[ItemView] = []
    if profile is not None:
        profile.tickets = [row for row in profile.tickets if row.id != ticket_id][:ticket_limit]
        taken = {link.item.id for link in linked}
        linkable = [item for item in profile.items if item.id not in taken]
    return CustomerPanelView(profile=profile, linked=linked, linkable=linkable)
