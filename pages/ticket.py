"""The live ticket: header, detail sections, chatter, team list, documents, presence."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi.responses import RedirectResponse
from nicegui import ui
from nicegui.client import ClientConnectionTimeout

from components import dialogs, in_app, page_scope, sla_badge
from components.actions import attempt
from components.badges import priority_badge, status_badge, type_badge
from components.call_log import CallDialog
from components.chatter import Chatter, Composer
from components.customer_panel import FIELDS as CUSTOMER_PANEL_FIELDS
from components.customer_panel import CustomerPanel
from components.details import DetailsPanel
from components.documents import DocumentsList
from components.error_details import CHANGE_KIND as ERROR_COUNT_CHANGE
from components.error_details import ErrorDetails
from components.frame import frame
from components.presence_bar import PresenceBar
from components.related_panel import FIELDS as RELATED_FIELDS
from components.related_panel import RelatedPanel
from components.render import render_boundary
from components.select import Select
from components.session import require_user
from components.sla_badge import SlaPanel
from components.team import TeamList
from components.ticket_screen import LiveTicketScreen, read_per_change
from components.work_panel import WorkPanel
from pages.params import OptionalRowId, Reference, desk_page
from pulse_live import auth
from pulse_live.config import get_settings
from pulse_live.errors import StaleWrite
from pulse_live.events import TicketChanged
from pulse_live.models import Channel, Status, User
from pulse_live.queries import catalog, shared
from pulse_live.queries import kb as kb_queries
from pulse_live.queries import queues as queue_queries
from pulse_live.queries import sla as sla_queries
from pulse_live.queries import tickets as ticket_queries
from pulse_live.services import team, tickets
from pulse_live.services.labels import INTERNAL_FIELDS
from pulse_live.services.tickets import CUSTOMER_TRANSITIONS, TRANSITIONS

ACTION_LABELS = {Status.IN_PROGRESS: 'Start work', Status.RESOLVED: 'Resolve…', Status.CLOSED: 'Close',
                 Status.OPEN: 'Back to open', Status.WAITING: 'Wait for customer'}
REOPEN_REASON_LIMIT = tickets.REASON_LIMIT
PICKER_CHOICES = catalog.CUSTOMER_CHOICES  # people a picker offers before anything is typed (then: who matches)
CONNECT_TIMEOUT_S = 60.0  # a page whose socket has not connected by then never gets its side column


class _LaterDocuments:
    """Stands in for the documents list until the side column is built: keeps what it was last asked to show."""

    def __init__(self, attachments) -> None:
        self.attachments = attachments

    def show(self, attachments) -> None:
        self.attachments = attachments


def not_found_body() -> None:
    ui.label('Ticket not found').classes('text-2xl font-semibold')
    ui.label('It does not exist or you do not have access to it.').classes('text-slate-500')
    ui.link('Back to the list', '/')


class TicketScreen(LiveTicketScreen[ticket_queries.TicketView]):
    def __init__(self, user: User, view: ticket_queries.TicketView) -> None:
        super().__init__(user, view, view.ticket.id)
        self.staff = auth.is_staff(user)
        # what the header parts show: a live change rebuilds only the parts whose content changed (each rebuild
        # costs this process the elements and every viewer's browser a re-render)
        self._shown_keys: dict[str, tuple] = {}
        self._sla_shown: tuple | None = None  # (the SLA view the panel shows,) once a live change showed one
        self.side_built = False  # the side column comes after the first paint (build_side)
        self._call: CallDialog | None = None  # the "Log a call" dialog while it is open
        self.sla_panel: SlaPanel | None = None
        self.customer_panel: CustomerPanel | None = None
        self.related: RelatedPanel | None = None
        self.team: TeamList | None = None
        self._team_later: list | None = None  # the team as a live change read it before the side column was built

    async def build(self) -> None:
        """What the first paint shows (header, work strip, chatter, composer); the side column stays empty until
        ``build_side``, after the page was sent to the browser."""
        t = self.view.ticket
        self.resolution_codes = await catalog.resolution_codes()
        self.not_takeable = await queue_queries.queues_not_takeable(self.user) if self.staff else frozenset()
        # render boundaries: a live change to the header or the side panels re-renders only that part in the
        # browser, not the chatter (components/render.py)
        with render_boundary(), ui.column().classes('w-full gap-1'):
            with ui.row().classes('w-full items-center gap-3'):
                ui.label(t.reference).classes('font-mono text-slate-500').mark('reference')
                self.badges = ui.row().classes('items-center gap-2')
                ui.space()
                self.presence = PresenceBar(self.user.id)
            self.title = ui.label(t.title).classes('text-2xl font-semibold break-words').mark('ticket-title')
            self.meta = ui.label('').classes('text-sm text-slate-500')
            self.actions = ui.row().classes('gap-2')
            self.work = WorkPanel(self.user, lambda: self.view, self.not_takeable) if self.staff else None
        with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-3 gap-4'):
            with ui.column().classes('lg:col-span-2 gap-3 min-w-0'):
                self.error_details = ErrorDetails(self.user, self.ticket_id) \
                    if self.staff and t.channel == Channel.ERROR_REPORT else None  # staff only, collapsed
                if self.error_details is not None:
                    await self.error_details.load()
                self.chatter = Chatter(self.user.id, self.view.events, self.view.has_older, self._older)
                if self.staff:  # every contact in the history: a phone call too (components/call_log.py)
                    with ui.row().classes('gap-2'):
                        ui.button('Log a call', icon='call', on_click=self._log_call) \
                            .props('outline dense no-caps').mark('log-call')
                        # the knowledge base: an article pre-filled with this ticket's problem and resolution
                        ui.button('Create article from this ticket', icon='menu_book',
                                  on_click=lambda: ui.navigate.to(f'/kb/new?ticket={self.ticket_id}')) \
                            .props('outline dense no-caps').mark('create-article')
                self.composer = Composer(can_note=self.staff, mention_candidates=await catalog.mention_candidates(),
                                         send=self._send, on_typing=self._typing,
                                         ticket_view=lambda: self.view,
                                         article_search=self._article_search if self.staff else None)
            with render_boundary():
                self.side = ui.column().classes('gap-3 min-w-0').mark('ticket-side')
        self.dialogs = ui.element('div')  # dialogs live here, not in the header row a live update re-renders
        if self.staff:  # the SLA panel's countdown script must be in the page's head as sent: a script added to the
            sla_badge.install()  # head after the page was sent (the side column comes then) is never run
        self._show_header()
        # following starts now, before the page is sent (as it always did): a change made while the side column is
        # still to come reaches the header and the chatter, and the side column reads what it shows when it is built
        self.documents = _LaterDocuments(self.view.attachments)  # type: ignore[assignment]
        self.follow(on_presence=lambda: self.presence.show_ticket(self.ticket_id))

    def entries_shown(self, entries: Sequence[ticket_queries.EventView]) -> None:
        self.presence.posted({e.actor_id for e in entries if e.actor_id is not None})

    def typists(self) -> Sequence[tuple[int, str]]:
        return self.presence.typists

    def entries_shown_in_browser(self, typists: Sequence[str]) -> None:
        self.presence.posted_in_browser(typists)

    def tail_synced(self) -> None:
        self.presence.typing.update()  # a lost broadcast may have held a typing line's end: the line as it is

    async def build_side(self) -> None:
        """The side column (SLA, customer, related, details, team, documents). Called once the browser has the
        page: its reads and elements are not on the way to the first paint."""
        t = self.view.ticket
        options: dict[str, dict] = {
            'type_id': await catalog.ticket_types(),
            'priority_id': await catalog.priorities(include_id=t.priority_id),
            'queue_id': await catalog.queues(),
            'assignee_id': await catalog.agents(),
            'customer_id': await catalog.customer_choices(include=t.customer_id),  # typing finds the others
            'service_id': await catalog.services(),
            'channel': {c.value: c.label for c in Channel},
        }
        if self.gone:
            return
        with self.side:
            # after each read: the page may have moved on meanwhile (a ticket opened in place deletes this column;
            # an element made in a deleted container stays in the page, orphaned, until the tab closes)
            self.sla_panel = SlaPanel(self.user, self.ticket_id) if self.staff else None  # due times, staff only
            if self.sla_panel is not None:
                await self.sla_panel.load()
            if self.gone:
                return
            self.customer_panel = CustomerPanel(self.user, self.ticket_id,
                                                can_change=t.status != Status.CLOSED) if self.staff else None
            if self.customer_panel is not None:
                await self.customer_panel.load()
            if self.gone:
                return
            self.related = RelatedPanel(self.user, self.ticket_id) if self.staff else None  # search
            if self.related is not None:
                await self.related.load()
            if self.gone:
                return
            self.details = DetailsPanel(self.view.ticket, options, self._editable, self._save_field,
                                        visible=lambda f: self.staff or f not in INTERNAL_FIELDS,
                                        searches={'customer_id': self._customer_choices})
            if self.staff:
                self.team = TeamList(viewer_id=self.user.id, can_manage=True,
                                     candidates=lambda: catalog.users_matching('', limit=PICKER_CHOICES),
                                     add=self._add_member, remove=self._remove_member, watch=self._watch,
                                     search=lambda text: catalog.users_matching(text, limit=PICKER_CHOICES))
                self.team.show(self._team_later if self._team_later is not None else self.view.team)
            later = self.documents
            self.documents = DocumentsList()
            self.documents.show(later.attachments if isinstance(later, _LaterDocuments) else self.view.attachments)
        self.side_built = True
        now = self.view.ticket
        if now is not t:  # a change arrived while the side column was being built (its reads await): show it
            self.details.apply(now, labels=self._labels(self.view))
            for field, editor in self.details.editors.items():
                editor.set_enabled(self._editable(field))
            if self.customer_panel is not None and (t.status == Status.CLOSED) != (now.status == Status.CLOSED):
                await self.customer_panel.load(can_change=now.status != Status.CLOSED)

    # --- rendering ---
    def _editable(self, field: str) -> bool:
        return auth.can_edit_field(self.user, self.view.ticket, field) and self.view.ticket.status != Status.CLOSED

    def _start_work_refused(self) -> bool:
        """Start work would make this agent the owner of a ticket of a queue they may not take from."""
        t = self.view.ticket
        return (get_settings().start_work_assigns and t.assignee_id is None and t.queue_id in self.not_takeable)

    def _show_header(self) -> None:
        v, t = self.view, self.view.ticket
        self.title.set_text(t.title)
        if self._changed_part('badges', (v.type, v.priority, v.priority_color, t.status)):
            self.badges.clear()
            with self.badges:
                type_badge(v.type)
                priority_badge(v.priority, v.priority_color)
                status_badge(t.status)
        parts = [f'Customer: {v.customer or "—"} ({v.organisation})']
        if self.staff:
            parts += [f'Assignee: {v.assignee or "unassigned"}',
                      f'Opened {t.created_at:%Y-%m-%d %H:%M} by {v.creator} via {Channel(t.channel).label}']
        else:
            parts.append(f'Opened {t.created_at:%Y-%m-%d %H:%M}')
        if t.status in (Status.RESOLVED, Status.CLOSED) and v.resolution_code:
            parts.append(f'Resolution: {v.resolution_code} — {t.resolution_text}')
        self.meta.set_text(' · '.join(parts))
        if self.work is not None and self._changed_part('work', (
                t.priority_overridden, t.priority_reason, v.priority, t.impact, t.urgency, t.status, t.assignee_id,
                t.queue_id)):
            self.work.show(v)
        if not self._changed_part('actions', (t.status, self._start_work_refused())):
            return
        self.actions.clear()
        current = Status(t.status)
        with self.actions:
            for target in sorted(TRANSITIONS[current], key=list(Status).index):
                if not self.staff and (current, target) not in CUSTOMER_TRANSITIONS:
                    continue
                label = ACTION_LABELS[target]
                if current == Status.RESOLVED and target == Status.OPEN:
                    label = 'Reopen'
                elif current == Status.CLOSED and target == Status.OPEN:
                    label = 'Reopen…'
                elif current in (Status.RESOLVED, Status.WAITING) and target == Status.IN_PROGRESS:
                    label = 'Resume work'
                if target == Status.IN_PROGRESS and self._start_work_refused():
                    ui.icon('lock', size='xs').classes('text-slate-400 self-center').mark('start-work-locked') \
                        .tooltip('Starting work makes you the owner: only members of this queue can; '
                                 'a manager can assign it to you')
                    continue
                ui.button(label, on_click=lambda target=target: self._change_status(target)) \
                    .props('outline dense no-caps').mark(f'status-{target.value}')

    def _changed_part(self, part: str, key: tuple) -> bool:
        if self._shown_keys.get(part) == key:
            return False
        self._shown_keys[part] = key
        return True

    def show(self, previous: ticket_queries.TicketView) -> None:
        self._show_header()
        if not self.side_built:  # the side column, when it comes, shows the view of then
            return
        self.details.apply(self.view.ticket, labels=self._labels(self.view))
        if self._closed_changed(previous):  # closed or reopened meanwhile
            for field, editor in self.details.editors.items():
                editor.set_enabled(self._editable(field))

    async def shown(self, previous: ticket_queries.TicketView) -> None:
        if self._closed_changed(previous) and self.customer_panel is not None:
            await self.customer_panel.load(can_change=self.view.ticket.status != Status.CLOSED)

    def _closed_changed(self, previous: ticket_queries.TicketView) -> bool:
        return (previous.ticket.status == Status.CLOSED) != (self.view.ticket.status == Status.CLOSED)

    # --- reads (for this viewer; viewers woken by the same change share one read: queries/shared.py) ---
    def reader(self) -> object | None:
        return 'staff' if self.staff else None  # staff read a ticket alike: one read per change for all of them

    async def read_view(self) -> ticket_queries.TicketView | None:
        return await ticket_queries.ticket_view(self.user, self.ticket_id, with_events=False)

    async def read_new_entries(self, event: TicketChanged):
        return await shared.new_events(self.user, self.ticket_id, after=self.chatter.last_id,
                                       upto=max(event.event_ids, default=0))

    async def read_attachments(self):
        return await ticket_queries.ticket_attachments(self.user, self.ticket_id)

    async def after_change(self, event: TicketChanged) -> None:
        if self.error_details is not None and event.kind in ('field_change', ERROR_COUNT_CHANGE) and not self.gone:
            await self.error_details.load()  # the error group's counter, last seen, context
        if event.kind == ERROR_COUNT_CHANGE:
            return  # only the error group changed: nothing else to read
        if self.sla_panel is not None and event.kind in ('field_change', 'created', 'message') and not self.gone:
            await self._load_sla(event)  # the clock moves with status, priority, replies and recorded breaches
        if event.kind in ('field_change', 'created'):
            await self.reload(event)
            if self.customer_panel is not None and not CUSTOMER_PANEL_FIELDS.isdisjoint(event.fields) \
                    and not self.gone:
                await self.customer_panel.load(can_change=self.view.ticket.status != Status.CLOSED)
            if self.related is not None and not RELATED_FIELDS.isdisjoint(event.fields) and not self.gone:
                await self.related.load()
        elif event.kind == 'team' and self.staff:
            members = await ticket_queries.ticket_team(self.user, self.ticket_id)
            if self.team is not None:
                self.team.show(members)
            else:  # the side column is still to come: it shows these
                self._team_later = members

    async def _load_sla(self, event: TicketChanged) -> None:
        """One read for every staff page woken by the change; the panel is rebuilt only when it shows something
        else (most messages move no clock)."""
        assert self.sla_panel is not None
        view = await read_per_change(event, ('sla', self.ticket_id),
                                     lambda: sla_queries.ticket_sla(self.user, self.ticket_id))
        if self.gone or (self._sla_shown is not None and view == self._sla_shown[0]):
            return
        self._sla_shown = (view,)
        self.sla_panel.show(view)

    # --- actions (all through services) ---
    async def _customer_choices(self, text: str, current: Any) -> dict:
        return await catalog.customer_choices(text, include=current if isinstance(current, int) else None)

    @staticmethod
    def _labels(view: ticket_queries.TicketView) -> dict[str, str]:
        """What the details show for a value their select may not offer yet (it offers a few customers)."""
        if not view.customer:
            return {}
        return {'customer_id': f'{view.customer} ({view.organisation})' if view.organisation else view.customer}

    async def _article_search(self, text: str, public_only: bool) -> list[dict[str, str]]:
        return await kb_queries.pick_articles(self.user, text, public_only=public_only)

    async def _older(self, before: int):
        return await ticket_queries.ticket_events(self.user, self.ticket_id, before=before, limit=100)

    async def _send(self, body: str, internal: bool, files) -> bool:
        return await self._post(body, internal, files)

    async def _save_field(self, field: str, value, base_version: int) -> bool:
        editor = self.details.editors[field]
        for round_ in range(2):
            done = await attempt(tickets.update_ticket(actor=self.user, ticket_id=self.ticket_id,
                                                       expected_version=base_version, changes={field: value},
                                                       seen={field: editor.base_value}), handled=(StaleWrite,))
            if done:
                return True
            if not isinstance(done.error, StaleWrite):  # refused (shown): the editor shows the stored value again
                self.details.apply(self.view.ticket, force_field=field, labels=self._labels(self.view))
                return False
            fresh = await ticket_queries.ticket_view(self.user, self.ticket_id, with_events=False)
            if fresh is None:
                return False
            if round_ == 0 and getattr(fresh.ticket, field) == editor.base_value:
                base_version = fresh.ticket.version  # only other fields changed: safe to apply on top
                continue
            ui.notify(str(done.error), type='warning', multi_line=True, timeout=8000)
            self.view = fresh
            self._show_header()
            self.details.apply(fresh.ticket, force_field=field, labels=self._labels(fresh))
            return False
        return False

    async def _change_status(self, target: Status) -> None:
        if target == Status.RESOLVED:
            await self._resolve_dialog()
            return
        if self.view.ticket.status == Status.CLOSED and target == Status.OPEN:
            await self._reopen_dialog()
            return
        await self._do_status(target.value)

    async def _do_status(self, status: str, **kwargs) -> bool:
        return await self.write(tickets.change_status(actor=self.user, ticket_id=self.ticket_id,
                                                      expected_version=self.view.ticket.version, status=status,
                                                      **kwargs))

    async def _resolve_dialog(self) -> None:
        with self.dialogs:
            dialog = dialogs.single('resolve')
        if dialog is None:
            return  # one is open already
        with dialog, ui.card().classes('w-[28rem] max-w-full'):
            ui.label(f'Resolve {self.view.ticket.reference}').classes('text-lg font-medium')
            code = Select(self.resolution_codes, label='Resolution code').classes('w-full').mark('resolution-code')
            text = ui.textarea('Resolution description').props('autogrow').classes('w-full').mark('resolution-text')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def confirm() -> None:
                    if await self._do_status('resolved', resolution_code_id=code.value, resolution_text=text.value):
                        dialog.close()
                ui.button('Resolve', on_click=confirm).props('no-caps').mark('resolve-confirm')
        dialog.open()

    async def _reopen_dialog(self) -> None:
        with self.dialogs:
            dialog = dialogs.single('reopen')
        if dialog is None:
            return  # one is open already
        with dialog, ui.card().classes('w-[28rem] max-w-full'):
            ui.label(f'Reopen {self.view.ticket.reference}').classes('text-lg font-medium')
            ui.label('The ticket goes back to Open. Say why: the reason is shown in the history, to the customer '
                     'too.').classes('text-sm text-slate-500')
            reason = ui.textarea('Reason for reopening') \
                .props(f'autogrow outlined stack-label maxlength={REOPEN_REASON_LIMIT}') \
                .classes('w-full').mark('reopen-reason')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def confirm() -> None:
                    if await self._do_status('open', reason=reason.value):
                        dialog.close()
                ui.button('Reopen', on_click=confirm).props('no-caps').mark('reopen-confirm')
        dialog.open()

    def _log_call(self) -> None:
        if self._call is not None and not self._call.dialog.is_deleted:
            return  # one is open already (it goes when closed)
        with self.dialogs:
            self._call = CallDialog(self.user, self.ticket_id, reference=self.view.ticket.reference,
                                    customer=self.view.customer)
            self._call.open()

    async def _add_member(self, user_id: int) -> None:
        await attempt(team.add_member(actor=self.user, ticket_id=self.ticket_id, user_id=user_id))

    async def _remove_member(self, member_id: int) -> None:
        await attempt(team.remove_member(actor=self.user, ticket_id=self.ticket_id, member_id=member_id))

    async def _watch(self, member_id: int, watching: bool) -> None:
        await attempt(team.set_watching(actor=self.user, ticket_id=self.ticket_id, member_id=member_id,
                                        watching=watching))


async def _read(user: User, reference: str, entry: int) -> ticket_queries.TicketView | None:
    ticket_id = await ticket_queries.find_ticket_id(user, reference[:60])
    return await ticket_queries.ticket_view(user, ticket_id, from_event=entry or None) if ticket_id else None


async def _show(user: User, view: ticket_queries.TicketView | None, entry: int) -> TicketScreen | None:
    """The ticket's first part (or that it is not there) in the current container."""
    if view is None:
        not_found_body()
        return None
    screen = TicketScreen(user, view)
    await screen.build()
    if entry:  # from a search result: the chatter opens on that entry
        screen.chatter.land_on(entry)
    return screen


async def open_in_place(reference: str, entry: int) -> in_app.Rest | None:
    """A link to a ticket clicked on a desk page (components/in_app.py): the ticket replaces the page's content.
    Who is asking is read again (the session may have ended since the page was built)."""
    user = await require_user()
    if user is None:
        return None
    if not auth.is_staff(user):
        ui.navigate.to(f'/portal/requests/{quote(reference[:60], safe="")}')
        return None
    view = await _read(user, reference, entry)
    client = ui.context.client
    content = client.__dict__.get('pulse_content')
    if client.is_deleted or content is None or content.is_deleted:
        return None
    page_scope.replace(client)  # what the old content registered ends (its ticket, its presence, its live list)
    content.clear()
    with content:
        screen = await _show(user, view, entry)
    ui.page_title(f'{view.ticket.reference if view else "Not found"} · Pulse Live')
    if screen is None:
        return _nothing
    return screen.build_side


async def _nothing() -> None:
    return None


@desk_page('/tickets/{reference}')
async def ticket_page(reference: Reference, entry: OptionalRowId = 0):
    user = await require_user()
    if user is None:
        return
    if not auth.is_staff(user):  # customers follow their requests in the portal (pages/portal_request.py)
        return RedirectResponse(f'/portal/requests/{quote(reference[:60], safe="")}', status_code=303)
    view = await _read(user, reference, entry)
    with frame(view.ticket.reference if view is not None else 'Not found', user):
        in_app.offer(open_in_place)  # a link to another ticket opens it in place
        screen = await _show(user, view, entry)
    if screen is None:
        return
    # the page goes to the browser now (NiceGUI sends it when the page function waits for the socket); the side
    # column is built over the socket once the page connected. A page that never connects (a prefetch, a script,
    # a tab closed at once) costs no more than its first part.
    client = ui.context.client
    try:
        await client.connected(timeout=CONNECT_TIMEOUT_S)
    except ClientConnectionTimeout:
        return
    async with in_app.held(client):  # a ticket opened in place meanwhile waits for this column, then replaces it
        if client.is_deleted or screen.gone:
            return
        with client:
            await screen.build_side()
