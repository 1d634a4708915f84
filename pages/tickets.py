"""The agents' ticket list: search by reference or title, filter by status, sort, pages; live."""
from __future__ import annotations

import asyncio

from nicegui import background_tasks, ui

from components import live
from components.badges import STATUS_COLORS
from components.frame import frame
from components.session import STAFF, require_user
from pages.params import PageNumber, ShortText
from pulse_live.models import Status
from pulse_live.queries import tickets as ticket_queries

COLUMNS = [
    {'name': 'reference', 'label': 'Reference', 'field': 'reference', 'align': 'left'},
    {'name': 'title', 'label': 'Title', 'field': 'title', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'priority', 'label': 'Priority', 'field': 'priority', 'align': 'left'},
    {'name': 'type', 'label': 'Type', 'field': 'type', 'align': 'left'},
    {'name': 'organisation', 'label': 'Organisation', 'field': 'organisation', 'align': 'left'},
    {'name': 'assignee', 'label': 'Assignee', 'field': 'assignee', 'align': 'left'},
    {'name': 'updated', 'label': 'Updated', 'field': 'updated', 'align': 'left'},
]
SORT_OPTIONS = {'updated': 'Recently updated', 'created': 'Newest', 'oldest': 'Oldest', 'priority': 'Priority',
                'reference': 'Reference'}


def ticket_rows(page: ticket_queries.TicketPage) -> list[dict]:
    return [{'id': r.id, 'reference': r.reference, 'title': r.title, 'status': Status(r.status).label,
             'status_color': STATUS_COLORS.get(r.status, 'grey'), 'priority': r.priority,
             'priority_color': r.priority_color, 'type': r.type, 'organisation': r.organisation,
             'assignee': r.assignee or '—', 'updated': r.updated_at.strftime('%Y-%m-%d %H:%M')} for r in page.rows]


def ticket_table(rows: list[dict]) -> ui.table:
    table = ui.table(columns=COLUMNS, rows=rows, row_key='id').classes('w-full').props('flat bordered dense')
    table.add_slot('body-cell-reference', '''
        <q-td :props="props"><a :href="'/tickets/' + props.value" class="font-mono text-primary">{{ props.value }}</a></q-td>''')
    table.add_slot('body-cell-status', '''
        <q-td :props="props"><q-badge :color="props.row.status_color">{{ props.value }}</q-badge></q-td>''')
    table.add_slot('body-cell-priority', '''
        <q-td :props="props"><q-badge :color="props.row.priority_color">{{ props.value }}</q-badge></q-td>''')
    return table


@ui.page('/')
async def home_page() -> None:
    user = await require_user()
    if user is not None:
        ui.navigate.to('/portal' if user.role == 'customer' else '/tickets')


@ui.page('/tickets')
async def tickets_page(q: ShortText = '', status: ShortText = '', sort: ShortText = 'updated',
                       page: PageNumber = 1) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    state = {'q': q[:200], 'status': status if status in Status._value2member_map_ else '',
             'sort': sort if sort in SORT_OPTIONS else 'updated', 'page': max(1, page)}

    async def load() -> ticket_queries.TicketPage:
        return await ticket_queries.list_tickets(user, search=state['q'], status=state['status'] or None,
                                                 sort=state['sort'], page=state['page'])

    async def refresh() -> None:
        result = await load()
        table.rows = ticket_rows(result)
        table.update()
        summary.set_text(f'{result.total} tickets · page {result.page} of {result.pages}')
        prev_button.set_enabled(result.page > 1)
        next_button.set_enabled(result.page < result.pages)

    async def jump_or_search() -> None:
        term = search.value.strip()
        ticket_id = await ticket_queries.find_ticket_id(user, term) if term.upper().startswith('PL-') else None
        if ticket_id is not None:
            ui.navigate.to(f'/tickets/{term.upper()}')
            return
        state.update(q=term, page=1)
        await refresh()

    async def set_filter(key: str, value) -> None:
        state.update({key: value or '', 'page': 1})
        await refresh()

    async def turn(delta: int) -> None:
        state['page'] = max(1, state['page'] + delta)
        await refresh()

    with frame('Tickets', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Tickets').classes('text-2xl font-semibold')
            ui.space()
            ui.button('New ticket', icon='add', on_click=lambda: ui.navigate.to('/tickets/new')).props('no-caps')
        with ui.row().classes('w-full items-end gap-3'):
            search = ui.input('Search reference or title', value=state['q']).props('clearable dense outlined') \
                .classes('w-72').on('keydown.enter', jump_or_search)
            ui.button('Search', on_click=jump_or_search).props('flat no-caps')
            ui.select({'': 'All statuses', **{s.value: s.label for s in Status}}, value=state['status'],
                      label='Status', on_change=lambda e: set_filter('status', e.value)) \
                .props('dense outlined').classes('w-44')
            ui.select(SORT_OPTIONS, value=state['sort'], label='Sort',
                      on_change=lambda e: set_filter('sort', e.value)).props('dense outlined').classes('w-48')
        first = await load()
        table = ticket_table(ticket_rows(first))
        with ui.row().classes('w-full items-center'):
            summary = ui.label(f'{first.total} tickets · page {first.page} of {first.pages}').classes('text-slate-500')
            ui.space()
            prev_button = ui.button('Previous', on_click=lambda: turn(-1)).props('flat no-caps')
            next_button = ui.button('Next', on_click=lambda: turn(1)).props('flat no-caps')
            prev_button.set_enabled(first.page > 1)
            next_button.set_enabled(first.page < first.pages)

    client = ui.context.client
    pending: dict[str, asyncio.Task | None] = {'task': None}

    async def debounced_refresh() -> None:
        await asyncio.sleep(0.2)  # a burst of changes costs one re-read
        pending['task'] = None
        if not client.is_deleted:
            await refresh()

    def on_ticket_changed() -> None:
        if pending['task'] is None:
            pending["task"] = background_tasks.create(debounced_refresh(), name="ticket-list-refresh")

    live.ticket_changed.subscribe(on_ticket_changed)
