"""A live work list (queue line, My tickets, All open): rows with a Take button, pages, debounced live refresh.

Rows are NiceGUI elements (not a Vue table slot) so every Take button is a real server-side element with its own
handler (and simulated users in the UI tests can press it). The list re-reads its page after ticket changes: one
subscription per page, a burst of changes costs one query, and there is no polling. Lists that read the same thing
for every viewer (a queue line page; the ticket list, by its filters and sort) pass ``share`` (or a function giving
it, for a list whose filters change): the pages woken by the same change then share one read in flight (compute
once, push to all), like the ticket page's chatter reads; a read is only shared with pages woken by the same change,
so nobody gets an answer older than the change they were told about.

The Take button is only rendered where Take would succeed: pages pass ``not_takeable``, the queues the viewer may not
take from (``queries.queues.queues_not_takeable`` / ``QueueSummary.may_take``, read when the page opens; the service
checks again on every Take).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from html import escape

from nicegui import ui
from nicegui.elements.mixins.color_elements import QUASAR_COLORS, TAILWIND_COLORS

from components import markup
from components.actions import attempt
from components.badges import STATUS_COLORS, count_text
from components.chatter_html import TOOLTIP_JS
from components.coalesce import Coalesced
from components.live_list import LiveRefresh
from components.sla_badge import due_html
from pulse_live.events import TicketChanged
from pulse_live.models import Status, User, utcnow
from pulse_live.queries.queues import WorkPage, WorkRow
from pulse_live.queries.shared import read_per_change
from pulse_live.services import ownership

DEBOUNCE_S = 0.25
COLUMNS = '9.5rem minmax(10rem,1fr) 6rem 6.5rem 6rem 8rem 7.5rem 3.5rem 7rem 5.5rem'
HEADERS = ['Reference', 'Title', 'Priority', 'Status', 'Type', 'Organisation', 'Assignee', 'Age', 'Due', '']


def age_text(created_at: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or utcnow()) - created_at).total_seconds()))
    if seconds < 3600:
        return f'{max(1, seconds // 60)} min'
    if seconds < 86400:
        return f'{seconds // 3600} h'
    return f'{seconds // 86400} d'


def summary_text(result: WorkPage) -> str:
    """"No tickets", "1 ticket", "12 tickets", "26–50 of 60 tickets · page 2 of 3"."""
    if result.total == 0:
        return 'No tickets'
    if result.pages == 1:
        return count_text(result.total, 'ticket')
    first = (result.page - 1) * result.page_size + 1
    last = min(result.total, result.page * result.page_size)
    return f'{first}–{last} of {count_text(result.total, "ticket")} · page {result.page} of {result.pages}'


def _badge(text: str, color: str, classes: str) -> str:
    """The markup of ``ui.badge(text, color=color).classes(classes)`` (a Quasar or Tailwind colour name is a class,
    anything else a style, as NiceGUI does)."""
    style = ''
    if color in QUASAR_COLORS or color in TAILWIND_COLORS:
        classes = f'bg-{color} {classes}'
    else:
        style = f' style="background-color: {escape(color)};"'
    return (f'<div class="q-badge flex inline items-center no-wrap q-badge--single-line {escape(classes)}" '
            f'role="status"{style}>{escape(text)}</div>')


def title_html(row: WorkRow) -> str:
    """The title cell (no escalation, no triage): the title (its tooltip a ``data-tip``) and queue · service."""
    details = ' · '.join(x for x in (row.queue, row.service) if x)
    return (f'<div class="truncate w-full" data-tip="{escape(row.title)}">{escape(row.title)}</div>'
            + (f'<div class="text-xs text-slate-400 truncate w-full">{escape(details)}</div>' if details else ''))


def cells_html(row: WorkRow) -> str:
    """Priority, status, type and organisation: four grid cells, the markup their elements rendered to."""
    return (_badge(row.priority, row.priority_color or 'grey', 'justify-self-start')
            + _badge(Status(row.status).label, STATUS_COLORS.get(row.status, 'grey'), 'justify-self-start')
            + f'<div class="truncate min-w-0">{escape(row.type)}</div>'
            + f'<div class="truncate min-w-0">{escape(row.organisation)}</div>')


def _link_html(row: WorkRow) -> str:
    """``ui.link(reference, address).classes(…)`` (a click on it opens the ticket in place: components/in_app.py)."""
    return (f'<a href="/tickets/{escape(row.reference)}" target="_self" '
            f'class="nicegui-link font-mono text-primary no-underline">{escape(row.reference)}</a>')


def _rest_html(row: WorkRow, now: datetime) -> str:
    """The cells after the title: priority, status, type, organisation, assignee, age and the due countdown.
    ``data-mark`` names the assignee and due cells for tests."""
    assignee = markup.label(row.assignee or '—', 'truncate min-w-0' + ('' if row.assignee else ' text-slate-400'),
                            mark=f'assignee {row.reference}')
    age = markup.label(age_text(row.created_at, now), 'text-slate-500',
                       **{'data-tip': f'Opened {row.created_at:%Y-%m-%d %H:%M} UTC'})
    return cells_html(row) + assignee + age + due_html(row.sla, row.reference)


def row_html(row: WorkRow, now: datetime) -> str:
    """A row's static cells but the last (a row without an escalation or triage badge): one block."""
    return (_link_html(row) + f'<div class="nicegui-column gap-0 min-w-0 w-full">{title_html(row)}</div>'
            + _rest_html(row, now))


def _last_cell_html(row: WorkRow, viewer_id: int) -> str:
    """The last cell of a row nobody can take: "yours", or empty."""
    if row.assignee_id == viewer_id:
        return markup.label('yours', 'text-xs text-green-700 font-medium')
    return '<div></div>'


class WorkList:
    def __init__(self, viewer: User, load: Callable[[int], Awaitable[WorkPage]], *, page: int = 1,
                 empty: str = 'Nothing here.', on_page: Callable[[int], None] | None = None,
                 on_refresh: Callable[[TicketChanged | None], Awaitable[None]] | None = None,
                 share: tuple | Callable[[], tuple] | None = None,
                 not_takeable: frozenset[int] = frozenset()) -> None:
        self.viewer, self._load, self.page, self._empty = viewer, load, max(1, page), empty
        self.not_takeable = not_takeable
        self._tips = False
        self._shown: list[tuple] | None = None  # what the rows show now (``_shown_as``), once shown
        self._on_page, self._on_refresh, self._share = on_page, on_refresh, share
        self._reads = Coalesced(self._read)
        self._asked_by_user = False  # what the next read is for (``refresh``)
        self._woken_by: TicketChanged | None = None
        self.container = ui.column().classes('w-full gap-0 border border-slate-200 rounded bg-white').mark('work-list')
        with ui.row().classes('w-full items-center'):
            self.summary = ui.label('').classes('text-slate-500 text-sm').mark('work-summary')
            ui.space()
            self.prev = ui.button('Previous', on_click=lambda: self.turn(-1)).props('flat no-caps dense')
            self.next = ui.button('Next', on_click=lambda: self.turn(1)).props('flat no-caps dense')

    async def refresh(self, *, woken_by: TicketChanged | None = None) -> None:
        """Read and show the list; ``woken_by``: the live change that asked (its read is shared with the other
        pages it woke). One read at a time: calls made while one runs share one more (a burst of filter changes
        over the socket costs two reads), which shares nothing if any of them was not a live change."""
        if woken_by is None:
            self._asked_by_user = True
        else:
            self._woken_by = woken_by
        await self._reads()

    async def _read(self) -> None:
        woken_by = None if self._asked_by_user else self._woken_by
        self._asked_by_user, self._woken_by = False, None
        if self.container.is_deleted:
            return
        page = self.page
        if self._share is not None and woken_by is not None:
            share = self._share() if callable(self._share) else self._share
            result = await read_per_change(woken_by, ('work-list', *share, page), lambda: self._load(page))
        else:
            result = await self._load(page)
        if self.container.is_deleted:
            return
        self.page = result.page
        self._show(result)

    @staticmethod
    def _shown_as(row: WorkRow, now: datetime) -> tuple:
        """Everything a row shows (its last change time is not shown; the age is, as text)."""
        return dataclasses.replace(row, updated_at=row.created_at), age_text(row.created_at, now)

    def _show(self, result: WorkPage) -> None:
        now = utcnow()
        shown = [self._shown_as(row, now) for row in result.rows]
        if shown == self._shown and not self.container.is_deleted:
            # a live change the rows do not show (a text field, the description, …): every open list re-read it,
            # and keeps its rows as they are — no elements built again here, nothing re-rendered in the browsers
            self.summary.set_text(summary_text(result))
            self.prev.set_enabled(result.page > 1)
            self.next.set_enabled(result.page < result.pages)
            return
        self._shown = shown
        self.container.clear()
        with self.container:
            with ui.element('div').classes('w-full grid gap-x-3 px-3 py-2 text-xs font-medium text-slate-500 '
                                           'uppercase border-b border-slate-200 bg-slate-50') \
                    .style(f'grid-template-columns: {COLUMNS}'):
                for header in HEADERS:
                    ui.label(header)
            if not result.rows:
                ui.label(self._empty).classes('px-3 py-6 text-slate-500').mark('work-empty')
            for row in result.rows:
                self._row(row, now)
        if not self._tips:  # the data-tip tooltips of the rows (one delegated listener per page)
            self._tips = True
            self.container.client.run_javascript(TOOLTIP_JS)
        self.summary.set_text(summary_text(result))
        self.prev.set_enabled(result.page > 1)
        self.next.set_enabled(result.page < result.pages)

    def _row(self, row: WorkRow, now: datetime) -> None:
        """One row: its box, what is static as one block of markup (``row_html``: the link, the title, the plain
        cells, the assignee, the age and the due countdown — the markup their elements rendered to, tooltips as
        ``data-tip`` for ``TOOLTIP_JS``), and as elements only what has a handler or a tooltip of its own: Take, the
        lock where Take would be refused, an escalated or untriaged title's badges. About 2 elements a row where
        there were 8 (16 before the title and cells were markup)."""
        with ui.element('div').classes('w-full grid gap-x-3 px-3 py-1.5 items-center border-b border-slate-100 '
                                       'last:border-b-0 hover:bg-slate-50 text-sm') \
                .style(f'grid-template-columns: {COLUMNS}') \
                .mark(f'work-row {row.reference}'):
            level = row.sla.escalation_level if row.sla is not None else 0
            takeable = row.assignee_id is None and row.status in (Status.OPEN, Status.IN_PROGRESS)
            last = '' if takeable else _last_cell_html(row, self.viewer.id)
            if level or row.needs_triage:
                ui.html(_link_html(row), sanitize=False).style('display: contents')
                with ui.column().classes('gap-0 min-w-0 w-full'):
                    with ui.row().classes('gap-1 items-center no-wrap w-full min-w-0'):
                        if level:  # raised by escalation rules (pulse_live/services/escalation.py): in every list
                            ui.badge(f'L{level}', color='red').props('outline').classes('text-xs') \
                                .tooltip(f'Escalated · level {level}').mark(f'escalation {row.reference}')
                        if row.needs_triage:  # by e-mail from a sender who is no known customer
                            ui.badge('Needs triage', color='orange').props('outline').classes('text-xs') \
                                .tooltip('Came by e-mail from an unknown sender: set its customer') \
                                .mark(f'triage {row.reference}')
                        ui.label(row.title).classes('truncate min-w-0').tooltip(row.title)
                    details = ' · '.join(x for x in (row.queue, row.service) if x)
                    if details:
                        ui.label(details).classes('text-xs text-slate-400 truncate w-full')
                ui.html(_rest_html(row, now) + last, sanitize=False).style('display: contents')
            else:
                ui.html(row_html(row, now) + last, sanitize=False).style('display: contents')
            if takeable:
                if row.queue_id in self.not_takeable:  # Take would be refused: no button (the service checks too)
                    ui.icon('lock', color='grey-5').classes('justify-self-start') \
                        .tooltip(f'Only members of {row.queue or "its queue"} take it; '
                                 'a manager can assign it to you') \
                        .mark(f'no-take {row.reference}')
                else:
                    ui.button('Take', icon='pan_tool', on_click=lambda r=row: self.take(r)) \
                        .props('dense unelevated no-caps size=sm').mark(f'take {row.reference}')

    async def take(self, row: WorkRow) -> None:
        if not await attempt(ownership.take_ticket(actor=self.viewer, ticket_id=row.id),
                             success=f'{row.reference} is yours now.', level='warning'):
            await self.refresh()  # show who has it now

    async def turn(self, delta: int) -> None:
        self.page = max(1, self.page + delta)
        if self._on_page:
            self._on_page(self.page)
        await self.refresh()

    def go_live(self) -> None:
        """Re-read after ticket changes (created, field changes; not chatter), debounced. Call inside the page."""
        async def refresh(event: TicketChanged) -> None:
            await self.refresh(woken_by=event)
            if self._on_refresh:
                await self._on_refresh(event)

        LiveRefresh(refresh, concerns=lambda event: event.kind in ('created', 'field_change'),
                    alive=lambda: not self.container.is_deleted, delay=DEBOUNCE_S, name='work-list-refresh')
