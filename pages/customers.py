"""Agents' customer directory: /customers (search, filter by organisation, show deactivated people, create) and
/customers/{id} (the profile: card, organisation and tier, configuration items, ticket history; edit or reactivate,
record items, open a ticket for them)."""
from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from components.actions import attempt
from components.caller import caller_card, customer_dialog, history_list, item_block, item_dialog
from components.frame import frame
from components.session import STAFF, require_user
from pages.params import OptionalRowId, RowId, ShortText, desk_page
from pulse_live import auth
from pulse_live.models import User
from pulse_live.queries import customers as customer_queries
from pulse_live.services import accounts as account_services
from pulse_live.services import customers as customer_services

COLUMNS = [
    {'name': 'name', 'label': 'Name', 'field': 'name', 'align': 'left'},
    {'name': 'email', 'label': 'E-mail', 'field': 'email', 'align': 'left'},
    {'name': 'phone', 'label': 'Phone', 'field': 'phone', 'align': 'left'},
    {'name': 'organisation', 'label': 'Organisation', 'field': 'organisation', 'align': 'left'},
    {'name': 'department', 'label': 'Department', 'field': 'department', 'align': 'left'},
    {'name': 'open', 'label': 'Open tickets', 'field': 'open', 'align': 'right'},
]
# the listing is read after a pause in the filter changes; a newer change drops the older read, and the page reads
# once at a time (a burst of switch/select/search events over the socket costs one or two reads, not one each)
REFRESH_PAUSE_S = 0.2


def directory_nav(user: User, current: str) -> None:
    with ui.row().classes('gap-1'):
        links = [('/customers', 'Customers'), ('/organisations', 'Organisations')]
        if auth.can_manage_services(user):
            links.append(('/admin/services', 'Services'))
        for path, label in links:
            ui.button(label, on_click=lambda p=path: ui.navigate.to(p)) \
                .props(f'no-caps dense {"unelevated" if path == current else "flat"}')


@desk_page('/customers')
async def customers_page(organisation: OptionalRowId = 0, q: ShortText = '', inactive: bool = False) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    organisations = await customer_queries.organisation_choices()
    state: dict[str, Any] = {'q': q[:200], 'organisation': organisation if organisation in organisations else None,
             'inactive': inactive}

    seq = 0
    reading = asyncio.Lock()

    async def refresh(pause: float = REFRESH_PAUSE_S) -> None:
        """Show the listing for ``state`` as it is after a pause; superseded by any later call (its read skipped,
        or its rows dropped), and never two reads of this page at once."""
        nonlocal seq
        seq += 1
        mine = seq
        await asyncio.sleep(pause)
        async with reading:
            if mine != seq or table.is_deleted:
                return  # changed again: the newer call reads
            rows = await customer_queries.customers(user, search=state['q'], organisation_id=state['organisation'],
                                                    include_inactive=state['inactive'])
        if mine != seq or table.is_deleted:
            return
        table.rows = [{'id': r.id, 'name': r.name + (' (org admin)' if r.is_org_admin else ''), 'email': r.email,
                       'phone': r.phone, 'organisation': r.organisation, 'department': r.department,
                       'open': r.open_tickets, 'active': r.is_active} for r in rows]
        table.update()
        inactive_count = sum(not r.is_active for r in rows)
        summary.set_text(f'{len(rows)} customers' + (f' ({inactive_count} inactive)' if inactive_count else ''))

    async def set_filter(**changes) -> None:
        state.update(changes)
        await refresh()

    async def saved(user_id: int) -> None:
        ui.navigate.to(f'/customers/{user_id}')

    with frame('Customers', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Customers').classes('text-2xl font-semibold')
            ui.space()
            directory_nav(user, '/customers')
            ui.button('New customer', icon='person_add', on_click=lambda: customer_dialog(user, on_saved=saved)) \
                .props('no-caps unelevated').mark('customer-new')
        with ui.row().classes('w-full items-end gap-3'):
            ui.input('Search: e-mail, phone, id or name', value=state['q'],
                     on_change=lambda e: set_filter(q=e.value or '')) \
                .props('dense outlined clearable debounce=300').classes('w-80').mark('customer-search')
            ui.select({0: 'All organisations', **organisations}, value=state['organisation'] or 0,
                      label='Organisation', on_change=lambda e: set_filter(organisation=e.value or None)) \
                .props('dense outlined').classes('w-64')
            ui.switch('Show inactive', value=state['inactive'],
                      on_change=lambda e: set_filter(inactive=bool(e.value))) \
                .props('dense').mark('customers-inactive') \
                .tooltip('Deactivated customers too: open one to reactivate it instead of creating it again')
            summary = ui.label('').classes('text-slate-500')
        table = ui.table(columns=COLUMNS, rows=[], row_key='id').classes('w-full').props('flat bordered dense') \
            .mark('customers-table')
        table.add_slot('body-cell-name', '''
            <q-td :props="props" :class="props.row.active ? '' : 'text-slate-500'">
              <a :href="'/customers/' + props.row.id" class="text-primary">{{ props.value }}</a>
              <q-badge v-if="!props.row.active" color="red" outline class="q-ml-sm">inactive</q-badge>
            </q-td>''')
        await refresh(pause=0)


@desk_page('/customers/{user_id}')
async def customer_profile_page(user_id: RowId, retired: bool = False) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    profile = await customer_queries.customer_profile(user, user_id, ticket_limit=50, include_retired=retired)
    if profile is None:
        ui.context.client.status_code = 404
        with frame('Not found', user):
            ui.label('No such person').classes('text-2xl font-semibold')
            ui.link('Back to customers', '/customers')
        return

    async def reload(*_) -> None:
        ui.navigate.to(f'/customers/{user_id}' + ('?retired=true' if retired else ''))

    async def retire(item_id: int, active: bool) -> None:
        if await attempt(customer_services.set_item_active(actor=user, item_id=item_id, active=active)):
            await reload()

    async def send_link() -> None:
        sent = await attempt(account_services.send_password_link(actor=user, user_id=profile.id))
        if not sent:
            return
        mailed = sent.value
        if mailed:
            ui.notify(f'A link to choose a password is on its way to {profile.email}.', type='positive')
        else:
            ui.notify('A link was mailed a few minutes ago already; it is still valid.', type='info')

    async def edit_item(item) -> None:
        await item_dialog(user, organisation_id=profile.organisation_id, user_id=profile.id, item=item,
                          on_saved=reload)

    with frame(profile.name, user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.link('← Customers', '/customers').classes('text-sm text-primary no-underline')
            ui.space()
            directory_nav(user, '')
        with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-3 gap-4 items-start'):
            with ui.card().classes('w-full gap-3').props('flat bordered'):
                caller_card(profile, show_items=False, show_tickets=False,
                            on_edit=(lambda: customer_dialog(user, profile=profile, on_saved=reload))
                            if profile.role == 'customer' and auth.can_manage_customers(user) else None)
                ui.button('New ticket for this customer', icon='add',
                          on_click=lambda: ui.navigate.to(f'/tickets/new?customer={profile.id}')) \
                    .props('no-caps unelevated').mark('customer-new-ticket')
                if profile.role == 'customer' and auth.can_manage_customers(user):
                    label = 'Send a password reset link' if profile.last_login_at else \
                        'Send a link to choose a password'
                    ui.button(label, icon='key', on_click=send_link).props('no-caps outline').mark('send-password-link')
                meta = [f'Customer since {profile.created_at:%Y-%m-%d}']
                if profile.last_login_at:
                    meta.append(f'last portal login {profile.last_login_at:%Y-%m-%d %H:%M}')
                ui.label(' · '.join(meta)).classes('text-xs text-slate-400')
            with ui.card().classes('lg:col-span-2 w-full gap-2').props('flat bordered').mark('items-card'):
                with ui.row().classes('w-full items-center'):
                    ui.label('Configuration items').classes('text-lg font-medium')
                    ui.space()
                    ui.switch('Show retired', value=retired,
                              on_change=lambda e: ui.navigate.to(f'/customers/{user_id}'
                                                                 + ('?retired=true' if e.value else ''))) \
                        .props('dense')
                    if auth.can_manage_customers(user):
                        ui.button('Add item', icon='add',
                                  on_click=lambda: item_dialog(user, organisation_id=profile.organisation_id,
                                                               user_id=profile.id, on_saved=reload)) \
                            .props('no-caps flat dense').mark('item-add')
                if not profile.items:
                    ui.label('No configuration items recorded.').classes('text-sm text-slate-400')
                for item in profile.items:
                    with ui.row().classes('w-full items-start no-wrap gap-1'):
                        with ui.column().classes('grow min-w-0'):
                            item_block(item, on_edit=edit_item if auth.can_manage_customers(user) else None)
                        if auth.can_manage_customers(user):
                            ui.button(icon='archive' if item.is_active else 'unarchive',
                                      on_click=lambda item=item: retire(item.id, not item.is_active)) \
                                .props('flat dense round size=sm') \
                                .tooltip('Retire (kept in the history)' if item.is_active else 'Back in use') \
                                .mark('item-retire')
            with ui.card().classes('lg:col-span-3 w-full gap-1').props('flat bordered').mark('history-card'):
                ui.label(f'Tickets · {profile.open_count} open of {profile.total_count}') \
                    .classes('text-lg font-medium')
                history_list(profile)
