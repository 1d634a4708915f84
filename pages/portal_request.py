"""One request, as the customer follows it: status, the public conversation, files; reply, upload, confirm the
solution or reopen. Live: our replies and status changes appear as they happen.

Only what ``queries/portal.py`` gives out is shown (never internal notes, internal fields, priority, the team
list or agent-only documents); the actions call the same services as the agents' page, which check again.
"""
from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import RedirectResponse
from nicegui import ui

from components import dialogs
from components.chatter import Chatter, Composer
from components.documents import DocumentsList
from components.frame import frame
from components.markdown import markdown
from components.request_status import progress_line, request_status_badge
from components.session import require_user
from components.ticket_screen import LiveTicketScreen
from pages.params import OptionalRowId, Reference, desk_page
from pulse_live.config import get_settings
from pulse_live.events import TicketChanged
from pulse_live.models import Role, Status, User
from pulse_live.queries import portal as portal_queries
from pulse_live.services import tickets


def request_not_found(user: User) -> None:
    ui.context.client.status_code = 404
    with frame('Request not found', user):
        ui.label('Request not found').classes('text-2xl font-semibold').mark('request-not-found')
        ui.label('It does not exist, or it is not one of your requests.').classes('text-slate-500')
        ui.link('Back to my requests', '/portal')


class RequestScreen(LiveTicketScreen[portal_queries.RequestView]):
    # a field or team change may take the request away from this customer (another customer set, a colleague
    # taken off the team): check access again before anything new is shown
    check_first = frozenset({'field_change', 'created', 'team'})

    def __init__(self, user: User, view: portal_queries.RequestView) -> None:
        super().__init__(user, view, view.id)

    def build(self) -> None:
        v = self.view
        ui.link('← My requests', '/portal').classes('text-sm text-primary no-underline')
        with ui.card().classes('w-full gap-2 p-5').props('flat bordered'):
            with ui.row().classes('w-full items-center gap-3'):
                ui.label(v.reference).classes('font-mono text-slate-500 text-lg').mark('reference')
                self.badge_slot = ui.row().classes('items-center')
                ui.space()
                self.progress_slot = ui.row().classes('items-center')
            self.title = ui.label(v.title).classes('text-2xl font-semibold break-words').mark('request-title')
            self.meta = ui.label('').classes('text-sm text-slate-500')
            self.hint = ui.label('').classes('text-sm').mark('request-hint')
            self.resolution = ui.column().classes('w-full gap-2')
        with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-3 gap-4'):
            with ui.column().classes('lg:col-span-2 gap-3 min-w-0'):
                ui.label('Conversation').classes('text-lg font-medium')
                self.chatter = Chatter(self.user.id, v.events, v.has_older, self._older)
                self.composer_box = ui.column().classes('w-full')
                with self.composer_box:
                    self.composer: Composer | None = Composer(can_note=False, mention_candidates=[], send=self._send,
                                             on_typing=self._typing)
                self.closed_note = ui.label('This request is closed. If you need more help, open a new request '
                                            f'and mention {v.reference}.').classes('text-sm text-slate-500')
            with ui.column().classes('gap-3 min-w-0'):
                with ui.card().classes('w-full gap-1').props('flat bordered'):
                    ui.label('Your description').classes('font-medium')
                    if v.description:
                        markdown(v.description).classes('text-sm break-words w-full').mark('request-description')
                    else:
                        ui.label('(none)').classes('text-sm text-slate-400')
                self.documents = DocumentsList()
                self.documents.show(v.attachments)
        self._show()
        self.follow()  # agents see that the customer is looking (the customer is not shown who is on our side)

    # --- rendering ---
    def show(self, previous: portal_queries.RequestView) -> None:
        self._show()

    def _show(self) -> None:
        v = self.view
        status = Status(v.status)
        self.title.set_text(v.title)
        self.badge_slot.clear()
        with self.badge_slot:
            request_status_badge(v.status)
        self.progress_slot.clear()
        with self.progress_slot:
            progress_line(v.status)
        parts = [f'Opened {v.created_at:%Y-%m-%d %H:%M}' + (f' for {v.requester}' if v.requester else ''), v.type]
        if v.service:
            parts.append(f'Service: {v.service}')
        self.meta.set_text(' · '.join(parts))
        self.hint.set_text(portal_queries.STATUS_HINTS[status])
        if status == Status.CLOSED and self.composer is not None:
            draft, files = self.composer.take_draft()
            self.composer_box.clear()  # removed, not hidden: no element is left that an event could address
            self.composer = None
            if draft or files:  # closed while the customer was writing: their text is not thrown away
                self._kept_draft(draft, files)
        self.closed_note.set_visibility(status == Status.CLOSED)
        self.resolution.clear()
        if status not in (Status.RESOLVED, Status.CLOSED):
            return
        with self.resolution, ui.card().classes('w-full gap-2 bg-green-50').props('flat bordered').mark('resolution'):
            title = 'Our solution' + (f' ({v.resolution_code})' if v.resolution_code else '')
            ui.label(title).classes('font-medium text-green-900')
            if v.resolution_text:
                markdown(v.resolution_text).classes('text-sm break-words w-full')
            if status == Status.RESOLVED:
                with ui.row().classes('items-center gap-2'):
                    ui.button('Yes, it is solved: close it', icon='check',
                              on_click=lambda: self._set_status(Status.CLOSED)) \
                        .props('no-caps unelevated color=green-8').mark('confirm-resolution')
                    if v.can_reopen:
                        ui.button('No, it is not solved: reopen', icon='replay', on_click=self._reopen_dialog) \
                            .props('no-caps outline').mark('reopen-request')
                if v.can_reopen and v.reopen_until:
                    ui.label(f'You can reopen it until {v.reopen_until:%Y-%m-%d %H:%M} (UTC).') \
                        .classes('text-xs text-slate-500')
                elif not v.can_reopen:
                    ui.label(f'It was solved more than {get_settings().reopen_days:g} days ago, so it can no '
                             f'longer be reopened: open a new request and mention {v.reference}.') \
                        .classes('text-xs text-slate-500')

    def _kept_draft(self, draft: str, files: list[str]) -> None:
        with self.composer_box, ui.card().classes('w-full gap-2 bg-orange-50').props('flat bordered') \
                .mark('kept-draft'):
            ui.label('This request was closed while you were writing, so your message was not sent. '
                     'Here is your text to copy into a new request:').classes('text-sm text-orange-900')
            if draft:
                ui.textarea(value=draft).props('readonly outlined dense autogrow bg-color=white').classes('w-full') \
                    .mark('kept-draft-text')
            if files:
                ui.label(f'Files not sent: {", ".join(files)}').classes('text-sm text-orange-900')
            with ui.row().classes('gap-2'):
                if draft:
                    ui.button('Copy text', icon='content_copy', on_click=lambda: self._copy(draft)) \
                        .props('outline dense no-caps').mark('kept-draft-copy')
                ui.button('New request', icon='add', on_click=lambda: ui.navigate.to('/portal/new')) \
                    .props('unelevated dense no-caps')

    @staticmethod
    def _copy(text: str) -> None:
        ui.clipboard.write(text)
        ui.notify('Copied your text to the clipboard.', type='info')

    # --- reads (for the customer: queries/portal.py) ---
    async def read_view(self) -> portal_queries.RequestView | None:
        return await portal_queries.request_view(self.user, self.ticket_id, with_events=False)

    def lost(self) -> None:
        ui.notify('You no longer have access to this request.', type='warning')
        ui.navigate.to('/portal')

    async def read_new_entries(self, event: TicketChanged):
        fresh, _ = await portal_queries.request_events(self.user, self.ticket_id, after=self.chatter.last_id)
        return fresh

    async def read_attachments(self):
        return await portal_queries.ticket_attachments(self.user, self.ticket_id)

    # --- actions (services check every one of them again) ---
    async def _older(self, before: int):
        return await portal_queries.request_events(self.user, self.ticket_id, before=before, limit=100)

    async def _send(self, body: str, internal: bool, files) -> bool:
        return await self._post(body, False, files)  # the customer writes no internal notes

    async def _set_status(self, status: Status) -> bool:
        return await self.write(
            tickets.change_status(actor=self.user, ticket_id=self.ticket_id, expected_version=self.view.version,
                                  status=status.value),
            success='Thank you, the request is closed.' if status == Status.CLOSED else 'The request is open again.',
            stale='The request changed meanwhile; here is the current state. Please try again.')

    async def _reopen_dialog(self) -> None:
        if (dialog := dialogs.single('reopen')) is None:
            return
        with dialog, ui.card().classes('w-[30rem] max-w-full'):
            ui.label(f'Reopen {self.view.reference}').classes('text-lg font-medium')
            reason = ui.textarea('What is still not working?').props('outlined autogrow').classes('w-full') \
                .mark('reopen-reason')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def confirm() -> None:
                    text = (reason.value or '').strip()
                    if not text:
                        ui.notify('Please tell us what is still not working.', type='warning')
                        return
                    # the status first: a refused reopen (the period ran out, somebody changed the request
                    # meanwhile) leaves nothing behind, so trying again cannot post the reason twice
                    if not await self._set_status(Status.OPEN):
                        return
                    dialog.close()
                    if not await self._send(text, False, []) and self.composer is not None \
                            and not self.composer.text.is_deleted and not self.composer.text.value:
                        self.composer.text.value = text  # reopened, but the reason was refused: keep it to resend
                ui.button('Reopen', on_click=confirm).props('no-caps unelevated').mark('reopen-confirm')
        dialog.open()


@desk_page('/portal/requests/{reference}')
async def request_page(reference: Reference, entry: OptionalRowId = 0):
    """``?entry=<id>`` (a search result naming a message): the conversation opens on that entry."""
    user = await require_user()
    if user is None:
        return None
    landing = f'?entry={entry}' if entry else ''
    if user.role != Role.CUSTOMER:  # agents follow tickets on their own page
        return RedirectResponse(f'/tickets/{quote(reference[:60], safe="")}{landing}', status_code=303)
    ticket_id = await portal_queries.find_request(user, reference[:60])
    view = await portal_queries.request_view(user, ticket_id, from_event=entry or None) if ticket_id else None
    if view is None:
        request_not_found(user)
        return None
    if view.reference != reference:  # e.g. typed in lower case or by id: one address per request
        return RedirectResponse(f'/portal/requests/{quote(view.reference, safe="")}{landing}', status_code=303)
    with frame(view.reference, user):
        screen = RequestScreen(user, view)
        screen.build()
        if entry and any(e.id == entry for e in view.events):  # an entry of this request the customer may see
            screen.chatter.land_on(entry)
    return None
