"""Organisations (/organisations): every customer organisation with its tier (which feeds prioritisation),
its people and open tickets; managers and admins create and edit them."""
from __future__ import annotations

from nicegui import ui

from components import dialogs
from components.actions import attempt
from components.caller import tier_badge
from components.frame import frame
from components.session import STAFF, require_user
from pages.customers import directory_nav
from pages.params import desk_page
from pulse_live import auth
from pulse_live.models import User
from pulse_live.queries import customers as customer_queries
from pulse_live.services import customers as customer_services


async def organisation_dialog(user: User, row: customer_queries.OrganisationRow | None = None) -> None:
    tiers = list(dict.fromkeys([*customer_services.TIER_SUGGESTIONS, *([row.tier] if row else [])]))
    if (dialog := dialogs.single('organisation')) is None:
        return
    with dialog, ui.card().classes('w-[28rem] max-w-full gap-2'):
        ui.label('New organisation' if row is None else f'Edit {row.name}').classes('text-lg font-medium')
        name = ui.input('Name', value=row.name if row else '').props('outlined dense').classes('w-full') \
            .mark('org-name')
        tier = ui.select(tiers, value=row.tier if row else 'standard', label='Tier (feeds prioritisation)',
                         new_value_mode='add-unique').props('outlined dense').classes('w-full').mark('org-tier')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

            async def save() -> None:
                if not await attempt(customer_services.save_organisation(
                        actor=user, organisation_id=row.id if row else None, name=name.value, tier=tier.value or '')):
                    return
                dialog.close()
                ui.navigate.to('/organisations')
            ui.button('Save', on_click=save).props('no-caps unelevated').mark('org-save')
    dialog.open()


@desk_page('/organisations')
async def organisations_page() -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    rows = await customer_queries.organisations(user)
    editable = auth.can_manage_organisations(user)
    with frame('Organisations', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Organisations').classes('text-2xl font-semibold')
            ui.space()
            directory_nav(user, '/organisations')
            if editable:
                ui.button('New organisation', icon='add', on_click=lambda: organisation_dialog(user)) \
                    .props('no-caps unelevated').mark('org-new')
        with ui.card().classes('w-full p-0 gap-0').props('flat bordered'):
            for row in rows:
                with ui.row().classes('w-full items-center gap-3 px-4 py-2 border-b border-slate-200').mark('org-row'):
                    ui.icon('domain' if not row.is_provider else 'support_agent').classes('text-slate-500')
                    ui.link(row.name, f'/customers?organisation={row.id}').classes('font-medium text-slate-900 w-64')
                    tier_badge('provider' if row.is_provider else row.tier).classes('w-20 justify-center')
                    ui.label(f'{row.people} people').classes('text-sm text-slate-500 w-24')
                    ui.label(f'{row.open_tickets} open tickets').classes('text-sm text-slate-500')
                    ui.space()
                    if editable and not row.is_provider:
                        ui.button(icon='edit', on_click=lambda row=row: organisation_dialog(user, row)) \
                            .props('flat dense round').tooltip('Edit').mark('org-edit')
