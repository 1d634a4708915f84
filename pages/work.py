"""Agents' work lists: queue lines (/queues), My tickets (/my) and the one ticket list with filters (/tickets); all
live.

``/tickets`` takes its filters from the address too (``/tickets?status=open&queue_id=3&created_from=2026-01-01&q=vpn``)
and keeps the address in step as they change, so a filtered list can be bookmarked. Malformed ids get the 400 page
(typed parameters, ``pages/params.py``); well-formed values that name nothing (an unknown status, queue, day out of
range) are told in a notice and not applied. ``/open`` (the former "All open" list) answers with a redirect to
``/tickets`` and the same filters, so its bookmarks keep working; the former ticket list's ``sort=created`` is read
as "newest first".
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from components import dialogs, in_app
from components.actions import attempt
from components.frame import frame
from components.saved_views_nav import SavedViewsNav
from components.select import Select
from components.session import STAFF, require_user
from components.work_list import WorkList
from pages.params import MAX_ID, OptionalRowId, PageNumber, desk_page
from pages.ticket import open_in_place
from pulse_live.config import get_settings
from pulse_live.errors import ValidationError
from pulse_live.models import Status, User
from pulse_live.queries import catalog
from pulse_live.queries import queues as work_queries
from pulse_live.queries import saved_views as view_queries
from pulse_live.queries import tickets as ticket_queries
from pulse_live.queries.shared import shared_read
from pulse_live.services import saved_views as view_services

T = TypeVar('T')


async def _nav(user: User, current: str, view: int = 0) -> None:
    with ui.row().classes('gap-1 items-center'):
        for path, label in (('/tickets', 'Tickets'), ('/queues', 'Queues'), ('/my', 'My tickets')):
            ui.button(label, on_click=lambda p=path: ui.navigate.to(p)) \
                .props(f'no-caps dense {"unelevated" if path == current and not view else "flat"}')
        await SavedViewsNav(user, view).build()  # the saved views with their live counts


@desk_page('/queues')
async def queues_page(queue: OptionalRowId = 0, page: PageNumber = 1) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    summaries = await work_queries.queue_summaries(user)
    with frame('Queues', user):
        in_app.offer(open_in_place)  # a click on a ticket opens it in place (components/in_app.py)
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Queues').classes('text-2xl font-semibold')
            ui.space()
            await _nav(user, '/queues')
        if not summaries:
            ui.label('There are no queues yet. An admin creates them under Admin → Queues.').classes('text-slate-500')
            return
        selected = next((q for q in summaries if q.id == queue), None if queue else summaries[0])
        chips: dict[int, ui.button] = {}
        with ui.row().classes('w-full gap-2 items-center'):
            for q in summaries:
                chips[q.id] = ui.button(f'{q.name} · {q.unassigned}',
                                        on_click=lambda q=q: ui.navigate.to(f'/queues?queue={q.id}')) \
                    .props(f'no-caps rounded {"unelevated" if selected and q.id == selected.id else "outline"}') \
                    .mark(f'queue-chip queue-{q.id}')
                if q.is_member:
                    chips[q.id].props('icon=star')
        if selected is None:  # a stale bookmark or a crafted address: say so, never show another queue instead
            ui.context.client.status_code = 404
            ui.label('No such queue').classes('text-lg font-medium').mark('queue-missing')
            ui.label(f'There is no queue #{queue} (it may have been deleted). Choose one of the queues above.') \
                .classes('text-slate-500')
            return
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
                        share=('queue-line', selected.id),  # the same rows for every agent: one read per change
                        not_takeable=frozenset() if selected.may_take else frozenset({selected.id}))
        await work.refresh()
    work.go_live()


@desk_page('/my')
async def my_tickets_page(page: PageNumber = 1) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    state: dict[str, Any] = {'resolved': False, 'sort': 'priority'}
    with frame('My tickets', user):
        in_app.offer(open_in_place)  # a click on a ticket opens it in place (components/in_app.py)
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('My tickets').classes('text-2xl font-semibold')
            ui.space()
            await _nav(user, '/my')
        with ui.row().classes('w-full items-center gap-3'):
            Select(work_queries.SORT_LABELS, value=state['sort'], label='Sort',
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


AssigneeFilter = Annotated[int, Query(ge=-1, le=MAX_ID)]
"""The assignee filter in the address: -1 anyone (the default), 0 unassigned, else an agent's id."""
SearchText = Annotated[str, Query(max_length=200)]
DayText = Annotated[str, Query(max_length=20)]
FILTER_LABELS = {'status': 'Status', 'priority_id': 'Priority', 'type_id': 'Type', 'queue_id': 'Queue',
                 'assignee_id': 'Assignee', 'organisation_id': 'Organisation', 'service_id': 'Service'}


def _parse_day(text: str | None, label: str) -> date | None:
    """A day typed (or put in the address) for a "created" filter; ``ValidationError`` when it is no usable day."""
    text = (text or '').strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f'{label}: {text!r} is not a date (YYYY-MM-DD).') from None
    return work_queries.check_day(day, label)


def _checked(check: Callable[..., T], *args: Any) -> tuple[T | None, str | None]:
    """Run a check of a filter value the page read itself (typed, or from the address): its result, or its
    ``ValidationError`` as the message to show. The filters are parsed by the page, not refused by a service call, so
    ``actions.attempt`` does not fit: the message goes under the input or into a notice of its own."""
    try:
        return check(*args), None
    except ValidationError as e:
        return None, str(e)


def _not_applied(message: str) -> str:
    """A notice for a filter from the address that could not be used."""
    return f'{message.rstrip(".")}; not applied.'


def _mark_error(element: ui.input, message: str | None) -> None:
    """Show (or clear) a validation message under a date input."""
    if message:
        element.props['error'] = True
        element.props['error-message'] = message
    else:
        element.props.pop('error', None)
        element.props.pop('error-message', None)
    element.update()


ALL_STATUSES = 'all'
OLD_SORTS = {'created': 'newest'}  # the former ticket list's sort names, still in bookmarks


@desk_page('/open')
async def open_redirect(request: Request, page: PageNumber = 1, status: SearchText = '',
                        priority_id: OptionalRowId = 0, type_id: OptionalRowId = 0, queue_id: OptionalRowId = 0,
                        assignee_id: AssigneeFilter = -1, organisation_id: OptionalRowId = 0,
                        service_id: OptionalRowId = 0, created_from: DayText = '', created_to: DayText = '',
                        q: SearchText = '', sort: SearchText = 'priority'):
    """The former "All open" list: its bookmarks lead to /tickets with the same filters (same typed parameters, so
    a malformed address gets the same 400 page)."""
    if await require_user(*STAFF) is None:
        return None
    return RedirectResponse('/tickets' + (f'?{request.url.query}' if request.url.query else ''), status_code=302)


@desk_page('/tickets')
async def tickets_page(page: PageNumber = 1, status: SearchText = '', priority_id: OptionalRowId = 0,
                       type_id: OptionalRowId = 0, queue_id: OptionalRowId = 0, assignee_id: AssigneeFilter = -1,
                       organisation_id: OptionalRowId = 0, service_id: OptionalRowId = 0,
                       created_from: DayText = '', created_to: DayText = '', q: SearchText = '',
                       sort: SearchText = 'priority', triage: bool = False, view: OptionalRowId = 0) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    screen = TicketList(user, await TicketList.read_options(),
                        not_takeable=await work_queries.queues_not_takeable(user))
    screen.view_id = view
    screen.read_address({'status': status.strip(), 'priority_id': priority_id, 'type_id': type_id,
                         'queue_id': queue_id, 'assignee_id': assignee_id, 'organisation_id': organisation_id,
                         'service_id': service_id}, created_from=created_from, created_to=created_to, search=q,
                        sort=sort)
    screen.filters.triage = triage
    await screen.build(page)
    screen.work.go_live()


class TicketList:
    """The one ticket list with filters (``/tickets``): what it is filtered and sorted by, the address that shows it,
    and its handlers. Every change of a filter reads page 1 again and puts the new address in the browser's history
    (replace, not push: Back leaves the list)."""

    work: WorkList

    def __init__(self, user: User, options: dict[str, dict], *, not_takeable: frozenset[int]) -> None:
        self.user, self.options, self.not_takeable = user, options, not_takeable
        self.filters = work_queries.WorkFilters()
        self.sort = 'priority'
        self.initial: dict[str, object] = {key: next(iter(choices)) for key, choices in options.items()}
        self.days = {'created_from': '', 'created_to': ''}  # the day inputs' text as the page opens
        self.problems: list[str] = []  # what the address asked for and could not be applied (told once shown)
        self.view_id = 0  # the saved view the list was opened as (its chip is highlighted)

    @staticmethod
    async def read_options() -> dict[str, dict]:
        """The choices of each filter, read once when the page opens (the first one is "any")."""
        return {
            'status': {'': 'Open, in progress, waiting', **{s.value: s.label for s in Status},
                       ALL_STATUSES: 'All statuses'},
            'priority_id': {0: 'Any priority', **await catalog.priorities()},
            'type_id': {0: 'Any type', **await catalog.ticket_types()},
            'queue_id': {0: 'Any queue', **await catalog.queues()},
            'assignee_id': {-1: 'Anyone', 0: 'Unassigned', **await catalog.agents()},
            'organisation_id': {0: 'Any organisation', **await work_queries.organisations()},
            'service_id': {0: 'Any service', **await catalog.services()},
        }

    # --- the address ---
    def read_address(self, asked: dict[str, object], *, created_from: str, created_to: str, search: str,
                     sort: str) -> None:
        """The filters named in the address: applied when they name a choice or a usable day, else told (once the
        list is shown) and left out."""
        sort = OLD_SORTS.get(sort, sort)
        self.sort = sort if sort in work_queries.SORT_LABELS else 'priority'
        for key, value in asked.items():
            if value in self.options[key]:
                self.initial[key] = value
            else:
                self.problems.append(f'{FILTER_LABELS[key]}: no such choice ({value}); not applied.')
            self.apply_choice(key, self.initial[key])
        for key, text, label in (('created_from', created_from, 'Created from'),
                                 ('created_to', created_to, 'Created to')):
            day, problem = _checked(_parse_day, text, label)
            if problem:
                self.problems.append(_not_applied(problem))
            else:
                setattr(self.filters, key, day)
                self.days[key] = text.strip()
        _, problem = _checked(work_queries.check_dates, self.filters.created_from, self.filters.created_to)
        if problem:
            self.problems.append(_not_applied(problem))
            self.filters.created_from = self.filters.created_to = None
            self.days = {'created_from': '', 'created_to': ''}
        self.filters.search = search.strip()

    def apply_choice(self, key: str, value) -> None:
        if key == 'status':
            self.filters.status = value or None
        elif key == 'assignee_id':
            self.filters.assignee_id = None if value in (-1, None) else value
        else:
            setattr(self.filters, key, value or None)

    def address(self) -> str:
        """The list as it is filtered now, as a bookmarkable address."""
        params = self.address_params()
        if self.work.page > 1:
            params['page'] = self.work.page
        return '/tickets' + (f'?{urlencode(params)}' if params else '')

    def address_params(self) -> dict[str, object]:
        """The filters and sort as the address names them (what a saved view stores)."""
        f = self.filters
        params: dict[str, object] = {key: value for key, value in (
            ('status', f.status), ('priority_id', f.priority_id), ('type_id', f.type_id),
            ('queue_id', f.queue_id), ('organisation_id', f.organisation_id), ('service_id', f.service_id),
            ('created_from', f.created_from.isoformat() if f.created_from else None),
            ('created_to', f.created_to.isoformat() if f.created_to else None),
            ('q', f.search or None)) if value}
        if f.assignee_id is not None:
            params['assignee_id'] = f.assignee_id
        if f.triage:
            params['triage'] = 1
        if self.sort != 'priority':
            params['sort'] = self.sort
        return params

    # --- the page ---
    async def build(self, page: int) -> None:
        with frame('Tickets', self.user):
            in_app.offer(open_in_place)  # a click on a ticket opens it in place (components/in_app.py)
            with ui.row().classes('w-full items-center gap-3'):
                ui.label('Tickets').classes('text-2xl font-semibold')
                ui.space()
                await _nav(self.user, '/tickets', self.view_id)
                ui.button('Save view', icon='bookmark_add', on_click=self.save_view_dialog) \
                    .props('no-caps outline').mark('save-view')
                if self.view_id:
                    ui.button(icon='bookmark_remove', on_click=self.delete_view).props('flat dense round') \
                        .tooltip('Delete this saved view').mark('delete-view')
                ui.button('New ticket', icon='add', on_click=lambda: ui.navigate.to('/tickets/new')).props('no-caps')
            self._filter_bar()
            # every agent's list with the same filters and sort shows the same rows (``open_tickets`` reads no
            # more of the viewer than that they are staff): one read per change for all of them
            self.work = WorkList(self.user, self.load, page=page, empty='No tickets match these filters.',
                                 not_takeable=self.not_takeable,
                                 share=lambda: ('ticket-list', repr(self.filters), self.sort),
                                 on_page=lambda _: ui.navigate.history.replace(self.address()))
            await self.work.refresh()
            for problem in self.problems:
                ui.notify(problem, type='warning')

    def _filter_bar(self) -> None:
        with ui.row().classes('w-full items-end gap-2'):
            self.search = ui.input('Search reference or title', value=self.filters.search) \
                .props('dense outlined clearable').classes('w-56') \
                .on('keydown.enter', self.jump_or_search).mark('open-search')
            ui.button(icon='search', on_click=self.jump_or_search).props('flat dense')
            for key, label in FILTER_LABELS.items():
                choices = self.options[key]
                Select(choices, value=self.initial[key], label=label, with_input=len(choices) > 8,
                       on_change=lambda e, k=key: self.set_filter(k, e.value)) \
                    .props('dense outlined options-dense').classes('w-44').mark(f'filter-{key}')
            self.from_input = ui.input('Created from', value=self.days['created_from'], on_change=self.set_dates) \
                .props('dense outlined type=date stack-label').classes('w-40').mark('filter-created-from')
            self.to_input = ui.input('Created to', value=self.days['created_to'], on_change=self.set_dates) \
                .props('dense outlined type=date stack-label').classes('w-40').mark('filter-created-to')
            Select(work_queries.SORT_LABELS, value=self.sort, label='Sort',
                   on_change=lambda e: self.set_sort(e.value)).props('dense outlined').classes('w-48')
            ui.switch('Needs triage', value=self.filters.triage, on_change=lambda e: self.set_triage(e.value)) \
                .tooltip('Tickets by e-mail from senders who are no known customer').mark('filter-triage')

    # --- saved views ---
    async def save_view_dialog(self) -> None:
        """Save the list as it is filtered now under a name: only for me, or shared with a queue's members."""
        queues = await catalog.queues()
        if (dialog := dialogs.single('save-view')) is None:
            return
        with dialog, ui.card().classes('w-[28rem] max-w-full gap-2'):
            ui.label('Save this list as a view').classes('text-lg font-medium')
            name = ui.input('Name').props('outlined dense autofocus').classes('w-full').mark('view-name')
            share: dict[int, str] = {0: 'Only me'}
            share.update({qid: f'Everyone in {qname}' for qid, qname in queues.items()})
            shared = Select(share, value=0, label='Who sees it').props('outlined dense').classes('w-full') \
                .mark('view-share')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def save() -> None:
                    done = await attempt(view_services.save_view(
                        actor=self.user, name=name.value or '', filters=self.address_params(),
                        queue_id=shared.value or None), success='View saved')
                    if done:
                        dialog.close()
                        ui.navigate.to(view_queries.view_address(done.value.id, done.value.filters))
                ui.button('Save', on_click=save).props('unelevated no-caps').mark('view-save')
        dialog.open()

    async def delete_view(self) -> None:
        if await attempt(view_services.delete_view(actor=self.user, view_id=self.view_id), success='View deleted'):
            ui.navigate.to('/tickets')

    # --- handlers ---
    async def load(self, page_number: int) -> work_queries.WorkPage:
        found = await attempt(work_queries.open_tickets(self.user, self.filters, sort=self.sort, page=page_number))
        return found.value if found else work_queries.WorkPage(rows=[], total=0, page=1, page_size=25)

    async def reload(self) -> None:
        self.work.page = 1
        await self.work.refresh()
        ui.navigate.history.replace(self.address())

    async def set_filter(self, key: str, value) -> None:
        self.apply_choice(key, value)
        await self.reload()

    async def set_triage(self, value: bool) -> None:
        self.filters.triage = bool(value)
        await self.reload()

    async def set_sort(self, value: str) -> None:
        self.sort = value
        await self.reload()

    async def set_dates(self) -> None:
        """Apply the two days only when both are usable; otherwise say why and keep the list as it was."""
        chosen: dict[str, date | None] = {}
        for key, element, label in (('created_from', self.from_input, 'Created from'),
                                    ('created_to', self.to_input, 'Created to')):
            chosen[key], problem = _checked(_parse_day, element.value, label)
            _mark_error(element, problem)
            if problem:
                ui.notify(f'{problem} The filter was not applied.', type='negative')
                return
        days = chosen['created_from'], chosen['created_to']
        _, problem = _checked(work_queries.check_dates, *days)
        if problem:
            _mark_error(self.to_input, problem)
            ui.notify(f'{problem} The filter was not applied.', type='negative')
            return
        if days == (self.filters.created_from, self.filters.created_to):
            return
        self.filters.created_from, self.filters.created_to = days
        await self.reload()

    async def jump_or_search(self) -> None:
        """A reference typed in full opens its ticket; anything else searches."""
        term = (self.search.value or '').strip()
        if term.upper().startswith(f'{get_settings().ticket_prefix}-') \
                and await ticket_queries.find_ticket_id(self.user, term) is not None:
            await in_app.go(f'/tickets/{term.upper()}')
            return
        self.filters.search = term
        await self.reload()
