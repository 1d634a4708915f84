"""The configuration items a ticket affects: agents link the customer's hardware and software to the ticket.

A link and its removal are history rows of the ticket (``field='configuration_items'``, agents only: customers
never see the provider's view of their equipment) and a ``TicketChanged`` after commit, so every open page of the
ticket shows the change at once, like any other field change. Items of the ticket's organisation may be linked
(the page offers the customer's own items and the organisation's shared ones); a retired item cannot be linked
anew. Linking does not touch the ticket's version: nobody's edit of a field is made stale by it.
"""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError

from .. import auth
from ..errors import ValidationError
from ..models import ConfigurationItem, EventKind, TicketEvent, TicketItem, User, utcnow
from .ticket_write import TicketWrite, ticket_write

FIELD = 'configuration_items'


def describe(item: ConfigurationItem) -> str:
    details = ', '.join(d for d in (item.model, f'S/N {item.serial_number}' if item.serial_number else '') if d)
    return f'{item.name} ({details})' if details else item.name


def _items_write(actor: User, ticket_id: int, action: str):
    if not auth.is_staff(actor):
        raise auth.deny(actor, action, f'configuration items of ticket #{ticket_id}',
                        'Only agents can link configuration items to a ticket.')
    return ticket_write(actor, ticket_id, action=f'{action} configuration items of')


def _record(w: TicketWrite, item: ConfigurationItem, *, linked: bool) -> TicketEvent:
    what = describe(item)
    body = (f'{w.actor.display_name} linked the affected item {what}' if linked else
            f'{w.actor.display_name} removed the affected item {what}')
    w.fields.append(FIELD)
    return w.add(EventKind.FIELD_CHANGE, body, field=FIELD, old_value=None if linked else item.name,
                 new_value=item.name if linked else None, data={'item_id': item.id, 'linked': linked})


async def link_item(*, actor: User, ticket_id: int, item_id: int) -> TicketItem:
    """Name a configuration item as affected by the ticket."""
    try:
        async with _items_write(actor, ticket_id, 'link') as w:
            s, ticket = w.session, w.ticket
            item = await s.get(ConfigurationItem, item_id) if isinstance(item_id, int) else None
            if item is None:
                raise ValidationError('No such configuration item.')
            if item.organisation_id != ticket.organisation_id:
                raise auth.deny(actor, 'link a configuration item of another organisation to', ticket.reference,
                                f'{item.name} belongs to another organisation than {ticket.reference}.')
            if not item.is_active:
                raise ValidationError(f'{item.name} is retired; only items in use can be linked.')
            if (await s.execute(select(TicketItem.id).where(TicketItem.ticket_id == ticket.id,
                                                            TicketItem.item_id == item.id))).first():
                raise ValidationError(f'{item.name} is linked to {ticket.reference} already.')
            link = TicketItem(ticket_id=ticket.id, item_id=item.id, added_by_id=actor.id, added_at=utcnow())
            s.add(link)
            _record(w, item, linked=True)
            await w.touch()
    except IntegrityError:  # somebody linked the same item at the same moment
        raise ValidationError('That item was linked to the ticket meanwhile.') from None
    return link


async def unlink_item(*, actor: User, ticket_id: int, item_id: int) -> None:
    """The item is not affected after all (the history keeps that it was linked, and by whom)."""
    async with _items_write(actor, ticket_id, 'unlink') as w:
        s, ticket = w.session, w.ticket
        link = (await s.execute(select(TicketItem).where(TicketItem.ticket_id == ticket.id,
                                                         TicketItem.item_id == item_id))).scalar_one_or_none()
        if link is None:
            raise ValidationError('That item is not linked to the ticket (any more).')
        item = await s.get(ConfigurationItem, link.item_id)
        result = cast(CursorResult[Any], await s.execute(
            delete(TicketItem).where(TicketItem.id == link.id).execution_options(synchronize_session=False)))
        if result.rowcount != 1:  # removed by somebody else meanwhile
            raise ValidationError('That item is not linked to the ticket (any more).')
        _record(w, item, linked=False)
        await w.touch()
