"""The live ticket: header, detail sections, chatter, team list, documents, presence."""
from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import RedirectResponse
from nicegui import ui

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
from components.render import render_boundary
from components.session import require_user
from components.sla_badge import SlaPanel
from components.team import TeamList
from components.ticket_screen import LiveTicketScreen
from components.work_panel import WorkPanel
from pages.params import Reference
from pulse_live import auth, presence
from pulse_live.config import get_settings
from pulse_live.errors import StaleWrite
from pulse_live.events import TicketChanged
from pulse_live.models import Channel, Status, User
from pulse_live.queries import catalog, shared
from pulse_live.queries import queues as queue_queries
from pulse_live.queries import tickets as ticket_queries
from pulse_live.services import team, tickets
from pulse_live.services.labels import INTERNAL_FIELDS
from pulse_live.services.tickets import CUSTOMER_TRANSITIONS, TRANSITIONS

ACTION_LABELS = {Status.IN_PROGRESS: 'Start work', Status.RESOLVED: 'Resolve…', Status.CLOSED: 'Close',
                 Status.OPEN: 'Back to open', Status.WAITING: 'Wait for customer'}
REOPEN_REASON_LIMIT = tickets.REASON_LIMIT


def removed_when_closed(dialog: ui.dialog) -> None:
    """A closed dialog leaves the page (a page open all day does not collect them)."""
    def closed(e) -> None:
        if not e.value and not dialog.is_deleted:
            dialog.delete()
    dialog.on_value_change(closed)


def not_found(user: User) -> None:
    with frame('Not found', user):
        ui.label('Ticket not found').classes('text-2xl font-semibold')
        ui.label('It does not exist or you do not have access to it.').classes('text-slate-500')
        ui.link('Back to the list', '/')


class TicketScreen(LiveTicketScreen[ticket_queries.TicketView]):
    def __init__(self, user: User, view: ticket_queries.TicketView) -> None:
        super().__init__(user, view, view.ticket.id)
        self.staff = auth.is_staff(user)

    async def build(self) -> None:
        t = self.view.ticket
        options: dict[str, dict] = {
            'type_id': await catalog.ticket_types(),
            'priority_id': await catalog.priorities(include_id=t.priority_id),
            'queue_id': await catalog.queues(),
            'assignee_id': await catalog.agents(),
            'customer_id': await catalog.customers(),
            'service_id': await catalog.services(),
            'channel': {c.value: c.label for c in Channel},
        }
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
                    ui.button('Log a call', icon='call', on_click=self._log_call) \
                        .props('outline dense no-caps').classes('self-start').mark('log-call')
                self.composer = Composer(can_note=self.staff, mention_candidates=await catalog.mention_candidates(),
                                         send=self._send, on_typing=self._typing, ticket_view=lambda: self.view)
            with render_boundary(), ui.column().classes('gap-3 min-w-0'):
                self.sla_panel = SlaPanel(self.user, self.ticket_id) if self.staff else None  # due times, staff only
                if self.sla_panel is not None:
                    await self.sla_panel.load()
                self.customer_panel = CustomerPanel(self.user, self.ticket_id,
                                                    can_change=t.status != Status.CLOSED) if self.staff else None
                if self.customer_panel is not None:
                    await self.customer_panel.load()
                self.details = DetailsPanel(t, options, self._editable, self._save_field,
                                            visible=lambda f: self.staff or f not in INTERNAL_FIELDS)
                if self.staff:
                    self.team = TeamList(viewer_id=self.user.id, can_manage=True,
                                         candidates=await catalog.users_matching('', limit=500),
                                         add=self._add_member, remove=self._remove_member, watch=self._watch)
                    self.team.show(self.view.team)
                self.documents = DocumentsList()
                self.documents.show(self.view.attachments)
        self.dialogs = ui.element('div')  # dialogs live here, not in the header row a live update re-renders
        self._show_header()
        self.follow(on_presence=lambda: self.presence.show(presence.snapshot(self.ticket_id)))

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
        if self.work is not None:
            self.work.show(v)
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

    def show(self, previous: ticket_queries.TicketView) -> None:
        self._show_header()
        self.details.apply(self.view.ticket)
        if self._closed_changed(previous):  # closed or reopened meanwhile
            for field, editor in self.details.editors.items():
                editor.element.set_enabled(self._editable(field))

    async def shown(self, previous: ticket_queries.TicketView) -> None:
        if self._closed_changed(previous) and self.customer_panel is not None:
            await self.customer_panel.load(can_change=self.view.ticket.status != Status.CLOSED)

    def _closed_changed(self, previous: ticket_queries.TicketView) -> bool:
        return (previous.ticket.status == Status.CLOSED) != (self.view.ticket.status == Status.CLOSED)

    # --- reads (for this viewer; viewers woken by the same change share one read: queries/shared.py) ---
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
            await self.sla_panel.load()  # the clock moves with status, priority, replies and recorded breaches
        if event.kind in ('field_change', 'created'):
            await self.reload()
            if self.customer_panel is not None and not CUSTOMER_PANEL_FIELDS.isdisjoint(event.fields) \
                    and not self.gone:
                await self.customer_panel.load(can_change=self.view.ticket.status != Status.CLOSED)
        elif event.kind == 'team' and self.staff:
            self.team.show(await ticket_queries.ticket_team(self.user, self.ticket_id))

    # --- actions (all through services) ---
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
                self.details.apply(self.view.ticket, force_field=field)
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
            self.details.apply(fresh.ticket, force_field=field)
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
        with self.dialogs, ui.dialog() as dialog, ui.card().classes('w-[28rem] max-w-full'):
            ui.label(f'Resolve {self.view.ticket.reference}').classes('text-lg font-medium')
            code = ui.select(self.resolution_codes, label='Resolution code').classes('w-full').mark('resolution-code')
            text = ui.textarea('Resolution description').props('autogrow').classes('w-full').mark('resolution-text')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def confirm() -> None:
                    if await self._do_status('resolved', resolution_code_id=code.value, resolution_text=text.value):
                        dialog.close()
                ui.button('Resolve', on_click=confirm).props('no-caps').mark('resolve-confirm')
        removed_when_closed(dialog)
        dialog.open()

    async def _reopen_dialog(self) -> None:
        with self.dialogs, ui.dialog() as dialog, ui.card().classes('w-[28rem] max-w-full'):
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
        removed_when_closed(dialog)
        dialog.open()

    def _log_call(self) -> None:
        with self.dialogs:
            CallDialog(self.user, self.ticket_id, reference=self.view.ticket.reference,
                       customer=self.view.customer).open()

    async def _add_member(self, user_id: int) -> None:
        await attempt(team.add_member(actor=self.user, ticket_id=self.ticket_id, user_id=user_id))

    async def _remove_member(self, member_id: int) -> None:
        await attempt(team.remove_member(actor=self.user, ticket_id=self.ticket_id, member_id=member_id))

    async def _watch(self, member_id: int, watching: bool) -> None:
        await attempt(team.set_watching(actor=self.user, ticket_id=self.ticket_id, member_id=member_id,
                                        watching=watching))


@ui.page('/tickets/{reference}', response_timeout=15)
async def ticket_page(reference: Reference):
    user = await require_user()
    if user is None:
        return
    if not auth.is_staff(user):  # customers follow their requests in the portal (pages/portal_request.py)
        return RedirectResponse(f'/portal/requests/{quote(reference[:60], safe="")}', status_code=303)
    ticket_id = await ticket_queries.find_ticket_id(user, reference[:60])
    view = await ticket_queries.ticket_view(user, ticket_id) if ticket_id else None
    if view is None:
        not_found(user)
        return
    with frame(view.ticket.reference, user):
        await TicketScreen(user, view).build()
