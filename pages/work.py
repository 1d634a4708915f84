"""Agents' work lists: queue lines (/queues), My tickets (/my) and All open with filters (/open); all live."""
from __future__ import annotations

from datetime import date

from nicegui import ui

from components.frame import frame
from components.session import STAFF, require_user
from components.work_list import WorkList
from pages.params import OptionalRowId, PageNumber
from pulse_live.config import get_settings
from pulse_live.errors import ServiceError
from pulse_live.models import Status
from pulse_live.queries import catalog
from pulse_live.queries import queues as work_queries
from pulse_live.queries import tickets as ticket_queries
from pulse_live.queries.shared import shared_read


def _nav(current: str) -> None:
    with ui.row().classes('gap-1'):
        for path, label in (('/queues', 'Queues'), ('/my', 'My tickets'), ('/open', 'All open')):
            ui.button(label, on_click=lambda p=path: ui.navigate.to(p)) \
                .props(f'no-caps dense {"unelevated" if path == current else "flat"}')


@ui.page('/queues')
async def queues_page(queue: OptionalRowId = 0, page: PageNumber = 1) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    summaries = await work_queries.queue_summaries(user)
    with frame('Queues', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Queues').classes('text-2xl font-semibold')
            ui.space()
            _nav('/queues')
        if not summaries:
            ui.label('There are no queues yet. An admin creates them under Admin → Queues.').classes('text-slate-500')
            return
        selected = next((q for q in summaries if q.id == queue), summaries[0])
        chips: dict[int, ui.button] = {}
        with ui.row().classes('w-full gap-2 items-center'):
            for q in summaries:
                chips[q.id] = ui.button(f'{q.name} · {q.unassigned}',
                                        on_click=lambda q=q: ui.navigate.to(f'/queues?queue={q.id}')) \
                    .props(f'no-caps rounded {"unelevated" if q.id == selected.id else "outline"}') \
                    .mark(f'queue-chip queue-{q.id}')
                if q.is_member:
                    chips[q.id].props('icon=star')
        with ui.column().classes('gap-0'):
            ui.label(f'{selected.name}: unassigned tickets, most urgent first, then oldest') \
                .classes('text-lg font-medium').mark('queue-title')
            members = ', '.join(selected.member_names) or 'no members yet (every agent may take its tickets)'
            ui.label(f'{selected.description} · Members: {members}'.lstrip(' ·')).classes('text-sm text-slate-500')

        async def load(page_number: int) -> work_queries.WorkPage:
            return await work_queries.queue_line(user, selected.id, page=page_number)

        async def update_counts(woken_by) -> None:  # only the counts are used: the same for every agent
            fresh = await shared_read(('queue-summaries', id(woken_by)), lambda: work_queries.queue_summaries(user))
            for q in fresh:
                if q.id in chips and not chips[q.id].is_deleted:
                    chips[q.id].set_text(f'{q.name} · {q.unassigned}')

        work = WorkList(user, load, page=page, empty=f'Nothing waiting in {selected.name}.', on_refresh=update_counts,
                        share=('queue-line', selected.id))  # the same rows for every agent: one read per change
        await work.refresh()
    work.go_live()


@ui.page('/my')
async def my_tickets_page(page: PageNumber = 1) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    state = {'resolved': False, 'sort': 'priority'}
    with frame('My tickets', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('My tickets').classes('text-2xl font-semibold')
            ui.space()
            _nav('/my')
        with ui.row().classes('w-full items-center gap-3'):
            ui.select(work_queries.SORT_LABELS, value=state['sort'], label='Sort',
                      on_change=lambda e: changed('sort', e.value)).props('dense outlined').classes('w-52')
            ui.switch('Include resolved', on_change=lambda e: changed('resolved', e.value)).mark('include-resolved')

        async def load(page_number: int) -> work_queries.WorkPage:
            return await work_queries.my_tickets(user, include_resolved=state['resolved'], sort=state['sort'],
                                                 page=page_number)

        async def changed(key: str, value) -> None:
            state[key] = value
            work.page = 1
            await work.refresh()

        work = WorkList(user, load, page=page, empty='Nothing assigned to you. Take a ticket from a queue.')
        await work.refresh()
    work.go_live()


def _parse_day(text: str | None, label: str) -> date | None:
    text = (text or '').strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ServiceError(f'{label}: {text!r} is not a date (YYYY-MM-DD).') from None


@ui.page('/open')
async def open_tickets_page(page: PageNumber = 1) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    filters = work_queries.WorkFilters()
    state = {'sort': 'priority'}
    options = {
        'status': {'': 'Open + in progress', **{s.value: s.label for s in Status}},
        'priority_id': {0: 'Any priority', **await catalog.priorities()},
        'type_id': {0: 'Any type', **await catalog.ticket_types()},
        'queue_id': {0: 'Any queue', **await catalog.queues()},
        'assignee_id': {-1: 'Anyone', 0: 'Unassigned', **await catalog.agents()},
        'organisation_id': {0: 'Any organisation', **await work_queries.organisations()},
        'service_id': {0: 'Any service', **await catalog.services()},
    }
    with frame('All open', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('All open tickets').classes('text-2xl font-semibold')
            ui.space()
            _nav('/open')
        with ui.row().classes('w-full items-end gap-2'):
            search = ui.input('Reference or title').props('dense outlined clearable').classes('w-56') \
                .on('keydown.enter', lambda: jump_or_search()).mark('open-search')
            ui.button(icon='search', on_click=lambda: jump_or_search()).props('flat dense')
            for key, label in (('status', 'Status'), ('priority_id', 'Priority'), ('type_id', 'Type'),
                               ('queue_id', 'Queue'), ('assignee_id', 'Assignee'), ('organisation_id', 'Organisation'),
                               ('service_id', 'Service')):
                first = next(iter(options[key]))
                ui.select(options[key], value=first, label=label, with_input=len(options[key]) > 8,
                          on_change=lambda e, k=key: set_filter(k, e.value)) \
                    .props('dense outlined options-dense').classes('w-44').mark(f'filter-{key}')
            created_from = ui.input('Created from', on_change=lambda: set_dates()) \
                .props('dense outlined type=date stack-label').classes('w-40').mark('filter-created-from')
            created_to = ui.input('Created to', on_change=lambda: set_dates()) \
                .props('dense outlined type=date stack-label').classes('w-40').mark('filter-created-to')
            ui.select(work_queries.SORT_LABELS, value=state['sort'], label='Sort',
                      on_change=lambda e: set_sort(e.value)).props('dense outlined').classes('w-48')

        async def load(page_number: int) -> work_queries.WorkPage:
            try:
                return await work_queries.open_tickets(user, filters, sort=state['sort'], page=page_number)
            except ServiceError as e:
                ui.notify(str(e), type='negative')
                return work_queries.WorkPage(rows=[], total=0, page=1, page_size=25)

        async def reload() -> None:
            work.page = 1
            await work.refresh()

        async def set_filter(key: str, value) -> None:
            if key == 'status':
                filters.status = value or None
            elif key == 'assignee_id':
                filters.assignee_id = None if value in (-1, None) else value
            else:
                setattr(filters, key, value or None)
            await reload()

        async def set_sort(value: str) -> None:
            state['sort'] = value
            await reload()

        async def set_dates() -> None:
            try:
                filters.created_from = _parse_day(created_from.value, 'Created from')
                filters.created_to = _parse_day(created_to.value, 'Created to')
            except ServiceError as e:
                ui.notify(str(e), type='negative')
                return
            await reload()

        async def jump_or_search() -> None:
            term = (search.value or '').strip()
            if term.upper().startswith(f'{get_settings().ticket_prefix}-'):
                ticket_id = await ticket_queries.find_ticket_id(user, term)
                if ticket_id is not None:
                    ui.navigate.to(f'/tickets/{term.upper()}')
                    return
            filters.search = term
            await reload()

        work = WorkList(user, load, page=page, empty='No tickets match these filters.')
        await work.refresh()
    work.go_live()
