"""The customer in view on the agents' ticket page: their card (name, e-mail, phone, organisation, tier, a link to
the profile), their other recent tickets, and the configuration items this ticket affects, which agents link and
unlink here (``services/ticket_items.py``: a history row and a live update for every viewer). Staff only: the
ticket page builds it for staff, and the query answers nobody else."""
from __future__ import annotations

from nicegui import ui

from pulse_live.models import User
from pulse_live.queries import ticket_customer
from pulse_live.queries.customers import ItemView
from pulse_live.queries.ticket_customer import CustomerPanelView
from pulse_live.services import ticket_items

from . import markup
from .actions import attempt
from .caller import CARD_CLASSES, caller_card_html, history_html, item_block
from .select import Select

# a live change of these fields re-reads the panel
FIELDS = frozenset({'customer_id', ticket_items.FIELD})


def item_choice(item: ItemView) -> str:
    owner = 'shared' if item.user_id is None else item.user_name
    details = ' · '.join(d for d in (item.model, item.serial_number, owner) if d)
    return f'{item.name} — {details}' if details else item.name


class CustomerPanel:
    def __init__(self, viewer: User, ticket_id: int, *, can_change: bool = True) -> None:
        self.viewer, self.ticket_id, self.can_change = viewer, ticket_id, can_change
        self.card = ui.card().classes('w-full gap-2 p-3').props('flat bordered').mark('customer-panel')

    async def load(self, *, can_change: bool | None = None) -> None:
        if can_change is not None:
            self.can_change = can_change
        view = await ticket_customer.customer_panel(self.viewer, self.ticket_id)
        if self.card.is_deleted or view is None:
            return
        self.show(view)

    def show(self, view: CustomerPanelView) -> None:
        self.card.clear()
        with self.card:
            markup.row('w-full items-center gap-2', markup.icon('person', 'text-slate-500'),
                       markup.label('Customer', 'font-medium'))
            if view.profile is None:
                ui.label('No customer on this ticket: choose one under Customer in the details.') \
                    .classes('text-sm text-slate-500').mark('customer-panel-none')
            else:
                # read only: static markup, one element each (components/caller.py)
                ui.html(caller_card_html(view.profile), sanitize=False).classes(CARD_CLASSES).mark('caller-card')
                p = view.profile
                markup.column('w-full gap-1', markup.label(f'Other recent tickets · {p.open_count} open of '
                                                           f'{p.total_count}', 'text-xs uppercase text-slate-500'),
                              f'<div style="display: contents">{history_html(p)}</div>') \
                    .mark('customer-recent customer-recent-rows')
            ui.separator()
            self._items(view)

    def _items(self, view: CustomerPanelView) -> None:
        with ui.column().classes('w-full gap-1').mark('affected-items'):
            markup.row('w-full items-center gap-2', markup.icon('devices', 'text-slate-500'),
                       markup.label(f'Affected items ({len(view.linked)})', 'text-xs uppercase text-slate-500'))
            if not view.linked:
                ui.label('None linked yet.').classes('text-sm text-slate-400').mark('affected-none')
            for link in view.linked:
                with ui.row().classes('w-full no-wrap items-start gap-1').mark('affected-item'):
                    with ui.column().classes('grow min-w-0 gap-0'):
                        item_block(link.item)
                        ui.label(f'linked by {link.added_by or "—"} · {link.added_at:%Y-%m-%d %H:%M}') \
                            .classes('text-xs text-slate-400 pl-8')
                    if self.can_change:
                        ui.button(icon='link_off', on_click=lambda item=link.item: self._unlink(item)) \
                            .props('flat dense round size=sm').tooltip(f'Not affected: unlink {link.item.name}') \
                            .mark('affected-unlink')
            if self.can_change and view.linkable:
                Select({item.id: item_choice(item) for item in view.linkable}, label='Link an affected item',
                       with_input=True, on_change=lambda e: self._link(e.value)) \
                    .props('dense outlined options-dense').classes('w-full').mark('affected-link')
            elif self.can_change and view.profile is not None and not view.linked:
                ui.label('The customer has no configuration items recorded; add them on their profile.') \
                    .classes('text-xs text-slate-400')

    async def _link(self, item_id) -> None:
        if item_id is None:
            return
        await attempt(ticket_items.link_item(actor=self.viewer, ticket_id=self.ticket_id, item_id=item_id),
                      level='warning')
        await self.load()  # the live update does it too; this one also clears the select after a refusal

    async def _unlink(self, item: ItemView) -> None:
        await attempt(ticket_items.unlink_item(actor=self.viewer, ticket_id=self.ticket_id, item_id=item.id),
                      level='warning')
        await self.load()
