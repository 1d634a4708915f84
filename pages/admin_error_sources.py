"""Error reporting sources (/admin/error-sources, admins): applications that report their exceptions with the
Sentry SDK. Create a source tied to an organisation, a queue and a service (and optionally a contact, who becomes
the tickets' customer); its DSN is shown to copy into the application. Revoke a source; see the groups (one ticket
each) with their counts and first and last seen."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.actions import attempt
from components.frame import frame
from components.session import require_user
from pages.params import desk_page
from pulse_live.config import get_settings
from pulse_live.models import Role, User
from pulse_live.queries import catalog
from pulse_live.queries import customers as customer_queries
from pulse_live.queries import error_reports as error_queries
from pulse_live.services import error_sources

PATH = '/admin/error-sources'


def _opened(dialog: ui.dialog) -> None:
    """Open the dialog; once closed it leaves the page (an admin page open all day does not collect them)."""
    def closed(e) -> None:
        if not e.value and not dialog.is_deleted:
            dialog.delete()
    dialog.on_value_change(closed)
    dialog.open()


def dsn_of(row: error_queries.SourceRow) -> str:
    return error_sources.dsn(row)


def show_dsn(name: str, dsn: str, where: ui.element) -> None:
    with where, ui.dialog() as dialog, ui.card().classes('w-[36rem] max-w-full gap-2'):
        ui.label(f'DSN of {name}').classes('text-lg font-medium')
        ui.label('Set it in the application, e.g. sentry_sdk.init(dsn="…"). Anybody with it can send reports to this '
                 'source (as with any Sentry DSN); revoke the source if it leaks.').classes('text-sm text-slate-500')
        ui.input(value=dsn).props('readonly outlined dense').classes('w-full font-mono').mark('error-dsn')
        with ui.row().classes('w-full justify-end'):
            ui.button('Copy', icon='content_copy', on_click=lambda: ui.clipboard.write(dsn)).props('flat no-caps')
            ui.button('Close', on_click=dialog.close).props('no-caps unelevated')
    _opened(dialog)


async def source_dialog(user: User, on_created: Callable[[], Awaitable[None]], where: ui.element) -> None:
    organisations = await customer_queries.organisation_choices(customers_only=True)
    queues = await catalog.queues()
    services = await catalog.services()
    with where, ui.dialog() as dialog, ui.card().classes('w-[32rem] max-w-full gap-2'):
        ui.label('New error reporting source').classes('text-lg font-medium')
        name = ui.input('Name (the application)').props('outlined dense').classes('w-full').mark('source-name')
        organisation = ui.select(organisations, label='Organisation').props('outlined dense') \
            .classes('w-full').mark('source-organisation')
        contact = ui.select({}, label='Contact (optional: the tickets\' customer)', clearable=True) \
            .props('outlined dense').classes('w-full').mark('source-contact')
        service = ui.select(services, label='Service', clearable=True).props('outlined dense').classes('w-full') \
            .mark('source-service')
        queue = ui.select(queues, label='Queue', value=next(iter(queues), None)).props('outlined dense') \
            .classes('w-full').mark('source-queue')
        rate = ui.number('Events per minute (more are refused and counted)',
                         value=get_settings().error_rate_limit_default, min=1, precision=0) \
            .props('outlined dense').classes('w-full').mark('source-rate')

        async def organisation_changed() -> None:
            people = await customer_queries.organisation_people(user, organisation.value) \
                if organisation.value else {}
            contact.set_options(people, value=None)
        organisation.on_value_change(organisation_changed)
        ui.label('A contact sees the tickets in the portal (title and status, never the stack trace); without one '
                 'they stay with the support staff.').classes('text-xs text-slate-500')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

            async def save() -> None:
                made = await attempt(error_sources.create_source(
                    actor=user, name=name.value, organisation_id=organisation.value, queue_id=queue.value,
                    service_id=service.value, contact_id=contact.value,
                    rate_limit_per_minute=int(rate.value) if rate.value else None))
                if not made:
                    return
                dialog.close()
                await on_created()
                show_dsn(made.value.name, error_sources.dsn(made.value), where)
            ui.button('Create', on_click=save).props('no-caps unelevated').mark('source-save')
    _opened(dialog)


@desk_page(PATH)
async def error_sources_page() -> None:
    user = await require_user(Role.ADMIN)
    if user is None:
        return
    dialogs: ui.element  # made in the frame below, before anything opens a dialog

    async def revoke(row: error_queries.SourceRow) -> None:
        with dialogs, ui.dialog() as dialog, ui.card().classes('w-[28rem] max-w-full gap-2'):
            ui.label(f'Revoke {row.name}?').classes('text-lg font-medium')
            ui.label('Its reports are refused from now on (403). Its groups and tickets stay.') \
                .classes('text-sm text-slate-500')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def confirm() -> None:
                    if await attempt(error_sources.revoke_source(actor=user, source_id=row.id),
                                     success=f'{row.name} is revoked.'):
                        dialog.close()
                        await content.refresh()
                ui.button('Revoke', on_click=confirm).props('no-caps unelevated color=negative') \
                    .mark('source-revoke-confirm')
        _opened(dialog)

    @ui.refreshable
    async def content() -> None:
        sources = await error_queries.sources(user)
        groups = await error_queries.groups(user)
        ui.label('Sources').classes('text-lg font-medium mt-2')
        with ui.card().classes('w-full p-0 gap-0').props('flat bordered'):
            if not sources:
                ui.label('No source yet: create one and set its DSN in the application.') \
                    .classes('px-4 py-3 text-slate-500')
            for row in sources:
                with ui.row().classes('w-full items-center gap-3 px-4 py-2 border-b border-slate-200 no-wrap' +
                                      ('' if row.is_active else ' opacity-60')).mark('source-row'):
                    with ui.column().classes('gap-0 w-56 min-w-0'):
                        ui.label(row.name).classes('font-medium truncate')
                        ui.label(f'#{row.id} · {row.organisation}').classes('text-xs text-slate-500 truncate')
                    ui.label(f'{row.queue} · {row.service} · contact: {row.contact}') \
                        .classes('text-sm text-slate-600 grow truncate')
                    ui.label(f'{row.groups} groups · {row.events:,} events · {row.rate_limit_per_minute}/min'
                             + (f' · {row.rate_limited:,} refused' if row.rate_limited else '')) \
                        .classes('text-sm text-slate-500 whitespace-nowrap')
                    if row.is_active:
                        ui.button('DSN', icon='key',
                                  on_click=lambda row=row: show_dsn(row.name, dsn_of(row), dialogs)) \
                            .props('flat dense no-caps').mark('source-dsn')
                        ui.button('Revoke', on_click=lambda row=row: revoke(row)) \
                            .props('flat dense no-caps color=negative').mark('source-revoke')
                    else:
                        ui.badge(f'revoked {row.revoked_at:%Y-%m-%d}' if row.revoked_at else 'revoked',
                                 color='grey')
        ui.label('Error groups (one ticket each)').classes('text-lg font-medium mt-4')
        with ui.card().classes('w-full p-0 gap-0').props('flat bordered'):
            if not groups:
                ui.label('No error reported yet.').classes('px-4 py-3 text-slate-500')
            for g in groups:
                with ui.row().classes('w-full items-center gap-3 px-4 py-2 border-b border-slate-200 no-wrap') \
                        .mark('group-row'):
                    if g.ticket_reference:
                        ui.link(g.ticket_reference, f'/tickets/{g.ticket_reference}') \
                            .classes('font-mono text-sm w-36 shrink-0')
                    else:
                        ui.label('no ticket yet').classes('text-sm text-slate-400 w-36 shrink-0')
                    with ui.column().classes('gap-0 grow min-w-0'):
                        ui.label(g.title).classes('font-medium truncate')
                        ui.label(f'{g.source} · {g.culprit or "—"}').classes('text-xs text-slate-500 truncate')
                    if g.ticket_status:
                        ui.badge(g.ticket_status.replace('_', ' '), color='grey').props('outline')
                    if g.regressions:
                        ui.badge(f'{g.regressions}× regression', color='orange')
                    ui.label(f'{g.count:,}×').classes('font-medium w-20 text-right').mark('group-count')
                    ui.label(f'first {g.first_seen:%Y-%m-%d %H:%M} · last {g.last_seen:%Y-%m-%d %H:%M}') \
                        .classes('text-xs text-slate-500 whitespace-nowrap')

    with frame('Error reports', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Error reports').classes('text-2xl font-semibold')
            ui.space()
            ui.button('Refresh', icon='refresh', on_click=lambda: content.refresh()).props('flat no-caps')
            ui.button('New source', icon='add', on_click=lambda: source_dialog(user, content.refresh, dialogs)) \
                .props('no-caps unelevated').mark('source-new')
        ui.label('Applications report their exceptions here with the Sentry SDK: each source has a DSN; events with '
                 'the same fingerprint make one ticket in the source\'s queue.').classes('text-sm text-slate-500')
        dialogs = ui.element('div')  # dialogs live here, outside the part that is re-rendered
        await content()
