"""``/search?q=…``: every result the viewer may find, grouped by kind, with filters (kind; for staff the ticket's
status and queue). A kind chosen shows more of it (``more`` pages of 20)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from nicegui import ui

from components.frame import frame
from components.search_box import SEARCH_CSS, grouped, results_url
from components.session import require_user
from pages.params import OptionalRowId, ShortText, desk_page
from pulse_live import auth
from pulse_live.models import Status
from pulse_live.queries import catalog
from pulse_live.queries import search as search_queries

PAGE = 20
Kind = Annotated[str, Query(max_length=20, pattern='^(|ticket|message|article|customer|organisation)$')]
StatusParam = Annotated[str, Query(max_length=20, pattern='^(|' + '|'.join(s.value for s in Status) + ')$')]
More = Annotated[int, Query(ge=1, le=10)]


@desk_page('/search')
async def search_page(q: ShortText = '', kind: Kind = '', status: StatusParam = '', queue: OptionalRowId = 0,
                      more: More = 1) -> None:
    user = await require_user()
    if user is None:
        return
    staff = auth.is_staff(user)
    labels = search_queries.labels_for(user)
    if kind and kind not in labels:
        kind = ''  # a kind this viewer cannot search (a customer asking for customers): all they may find
    queues = await catalog.queues() if staff else {}
    if queue and queue not in queues:
        queue = 0
    if not staff:
        status, queue = '', 0
    ui.add_css(SEARCH_CSS)
    with frame(f'Search: {q}' if q else 'Search', user):
        ui.label('Search').classes('text-2xl font-semibold')
        state: dict[str, Any] = {'q': q, 'kind': kind, 'status': status, 'queue': queue}

        def go(**changes) -> None:
            state.update(changes)
            ui.navigate.to(results_url(state['q'], kind=state['kind'], status=state['status'],
                                       queue=state['queue']))

        with ui.row().classes('w-full items-center gap-3'):
            box = ui.input('Search for', value=q).props('outlined dense clearable autofocus') \
                .classes('w-96 max-w-full').mark('search-text')
            box.on('keydown.enter', lambda: go(q=(box.value or '').strip()))
            ui.button('Search', icon='search', on_click=lambda: go(q=(box.value or '').strip())) \
                .props('no-caps unelevated').mark('search-go')
        with ui.row().classes('w-full items-center gap-3'):
            ui.toggle({'': 'All', **labels}, value=kind, on_change=lambda e: go(kind=e.value or '')) \
                .props('no-caps dense unelevated toggle-color=primary').mark('search-kind')
            if staff:
                ui.select({'': 'Any status', **{s.value: s.label for s in Status}}, value=status,
                          label='Ticket status', on_change=lambda e: go(status=e.value or '')) \
                    .props('outlined dense options-dense').classes('w-44').mark('search-status')
                ui.select({0: 'Any queue', **queues}, value=queue, label='Queue',
                          on_change=lambda e: go(queue=e.value or 0)) \
                    .props('outlined dense options-dense').classes('w-44').mark('search-queue')
        if not q.strip():
            ui.label('Type what you are looking for: words of a title, a message, a name, a reference.') \
                .classes('text-slate-500')
            return
        per_group = PAGE * more if kind else 10
        results = await search_queries.search(user, q, kinds=(kind,) if kind else None, per_group=per_group,
                                              status=status or None, queue_id=queue or None)
        with ui.card().classes('w-full max-w-4xl p-2 gap-0').props('flat bordered').mark('search-results'):
            if results.empty:
                ui.label(f'Nothing found for “{q}”.').classes('text-slate-500 p-3').mark('search-none')
            else:
                grouped(results, staff=staff, dense=False, more_link=not kind)
        if kind and results.groups and results.groups[0].more and more < 10:
            ui.link('Show more', results_url(q, kind=kind, status=status, queue=queue, more=more + 1)) \
                .classes('text-primary').mark('search-more')
