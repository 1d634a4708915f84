"""Services (/admin/services, admins): what customers can report problems about, with a criticality that feeds
prioritisation. Services are switched off, never deleted (old tickets keep their service)."""
from __future__ import annotations

from nicegui import ui

from components.actions import attempt
from components.frame import frame
from components.session import require_user
from pages.customers import directory_nav
from pages.params import desk_page
from pulse_live.models import Role, User
from pulse_live.queries import customers as customer_queries
from pulse_live.services import customers as customer_services

CRITICALITY_COLORS = {'low': 'grey', 'normal': 'blue', 'high': 'orange', 'critical': 'red'}


async def service_dialog(user: User, row: customer_queries.ServiceRow | None = None) -> None:
    with ui.dialog() as dialog, ui.card().classes('w-[30rem] max-w-full gap-2'):
        ui.label('New service' if row is None else f'Edit {row.name}').classes('text-lg font-medium')
        name = ui.input('Name', value=row.name if row else '').props('outlined dense').classes('w-full') \
            .mark('service-name')
        description = ui.textarea('Description', value=row.description if row else '') \
            .props('outlined autogrow').classes('w-full')
        criticality = ui.select(customer_services.CRITICALITIES, value=row.criticality if row else 'normal',
                                label='Criticality').props('outlined dense').classes('w-full') \
            .mark('service-criticality')
        active = ui.checkbox('Customers can choose it', value=row.is_active if row else True)
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

            async def save() -> None:
                if not await attempt(customer_services.save_service(
                        actor=user, service_id=row.id if row else None, name=name.value,
                        description=description.value, criticality=criticality.value, is_active=active.value)):
                    return
                dialog.close()
                ui.navigate.to('/admin/services')
            ui.button('Save', on_click=save).props('no-caps unelevated').mark('service-save')
    dialog.open()


@desk_page('/admin/services')
async def services_page() -> None:
    user = await require_user(Role.ADMIN)
    if user is None:
        return
    rows = await customer_queries.services(user)
    with frame('Services', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Services').classes('text-2xl font-semibold')
            ui.space()
            directory_nav(user, '/admin/services')
            ui.button('New service', icon='add', on_click=lambda: service_dialog(user)) \
                .props('no-caps unelevated').mark('service-new')
        with ui.card().classes('w-full p-0 gap-0').props('flat bordered'):
            for row in rows:
                with ui.row().classes('w-full items-center gap-3 px-4 py-2 border-b border-slate-200' +
                                      ('' if row.is_active else ' opacity-50')).mark('service-row'):
                    ui.label(row.name).classes('font-medium w-48')
                    ui.badge(row.criticality, color=CRITICALITY_COLORS.get(row.criticality, 'grey')) \
                        .props('outline')
                    ui.label(row.description or '').classes('text-sm text-slate-500 grow truncate')
                    ui.label(f'{row.open_tickets} open').classes('text-sm text-slate-500')
                    if not row.is_active:
                        ui.badge('off', color='grey')
                    ui.button(icon='edit', on_click=lambda row=row: service_dialog(user, row)) \
                        .props('flat dense round').tooltip('Edit').mark('service-edit')
