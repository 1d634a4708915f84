"""The chatter: messages, internal notes, attachments and automatic change entries, plus the composer."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from nicegui import events, ui

from pulse_live.config import get_settings
from pulse_live.queries.tickets import AttachmentView, EventView
from pulse_live.storage import UploadedFile

from .badges import avatar
from .markdown import markdown
from . import upload_budget
from .render import render_boundary

CHATTER_CSS = '''
.chatter-body p { margin: 0 0 .4em 0; } .chatter-body p:last-child { margin-bottom: 0; }
.chatter-body pre { background: #f1f5f9; padding: .5em; border-radius: 4px; overflow-x: auto; }
.chatter-body code { background: #f1f5f9; padding: 0 .2em; border-radius: 3px; }
.chatter-body ul, .chatter-body ol { padding-left: 1.4em; margin: .2em 0; }
.chatter-body ul { list-style: disc; } .chatter-body ol { list-style: decimal; }
.chatter-body a { color: #2563eb; text-decoration: underline; }
.mention { background: #e0e7ff; color: #3730a3; border-radius: 4px; padding: 0 3px; font-weight: 500; }
'''
TRAILING_MENTION = re.compile(r'(?:^|\s)@([A-Za-z0-9_.-]*)$')


def human_size(size: int) -> str:
    for unit in ('B', 'KB', 'MB', 'GB'):
        if size < 1024 or unit == 'GB':
            return f'{size:.0f} {unit}' if unit == 'B' else f'{size:.1f} {unit}'
        size /= 1024
    return f'{size} B'


def attachment_link(a: AttachmentView) -> None:
    with ui.row().classes('items-center gap-1 text-sm'):
        ui.icon('attach_file', size='xs').classes('text-slate-500')
        ui.link(a.filename, f'/attachments/{a.id}', new_tab=True).classes('text-primary').mark('attachment-link')
        ui.label(human_size(a.size)).classes('text-slate-400 text-xs')


def render_event(e: EventView, viewer_id: int) -> ui.element:
    when = e.created_at.strftime('%Y-%m-%d %H:%M')
    if e.kind != 'message':
        with ui.row().classes('w-full items-center gap-2 text-xs text-slate-500 py-0.5').mark('chatter-entry') as row:
            ui.icon('history' if e.kind == 'field_change' else 'group' if e.kind.startswith('team') else 'flag',
                    size='xs')
            ui.label(e.body).classes('italic')
            ui.label(when).classes('text-slate-400')
            if e.is_internal:
                ui.icon('lock', size='xs').tooltip('Agents only')
        return row
    mine = e.actor_id == viewer_id
    bubble = 'bg-amber-50 border-amber-300' if e.is_internal else ('bg-blue-50 border-blue-200' if mine else
                                                                    'bg-white border-slate-200')
    with ui.row().classes('w-full no-wrap items-start gap-2 py-1').mark('chatter-entry') as row:
        avatar(e.actor, color='indigo' if mine else 'teal')
        with ui.column().classes(f'gap-1 grow border rounded-lg px-3 py-2 {bubble}').style('min-width: 0'):
            with ui.row().classes('items-center gap-2'):
                ui.label(e.actor).classes('font-medium text-sm')
                ui.label(when).classes('text-xs text-slate-400')
                if e.is_internal:
                    ui.badge('Internal note', color='amber-8').props('outline').mark('internal-badge')
            if e.body:
                markdown(e.body, e.mentions).classes('text-sm break-words w-full')
            for a in e.attachments:
                attachment_link(a)
    return row


# installed once per chatter: a ResizeObserver on the scroll area's content keeps a reader who is at the end there
FOLLOW_JS = '''(() => {
  const atEnd = (window.__pulseAtEnd ??= {});
  const install = (attempt) => {
    const area = getElement(SID);
    const el = area?.getScrollTarget?.();
    if (!el || !el.firstElementChild) { if (attempt < 50) setTimeout(() => install(attempt + 1), 100); return; }
    if (el.__pulseFollow) return;
    el.__pulseFollow = true;
    new ResizeObserver(() => { if (atEnd[SID] !== false) area.setScrollPercentage('vertical', 1, 0); })
      .observe(el.firstElementChild);
  };
  install(0);
})()'''


class Chatter:
    """The stream; ``append`` adds entries that arrived live, ``_older`` prepends older pages.

    Entries live in blocks of at most ``BLOCK`` live entries, each block in a render boundary: a live entry
    re-renders (in every viewer's browser) only the block it joins, not every entry on the page; only starting a new
    block re-renders the stream.
    """

    BLOCK = 20
    AT_END_PX = 120  # a reader this close to the end counts as following the conversation

    def __init__(self, viewer_id: int, events_: list[EventView], has_older: bool,
                 load_older: Callable[[int], Awaitable[tuple[list[EventView], bool]]]) -> None:
        ui.add_css(CHATTER_CSS)
        self.viewer_id, self._load_older = viewer_id, load_older
        self.first_id = events_[0].id if events_ else None
        self.last_id = events_[-1].id if events_ else 0
        self.scroll = ui.scroll_area().classes('w-full border border-slate-200 rounded-lg bg-slate-50').style('height: 60vh')
        with self.scroll:
            self.older_button = ui.button('Load older entries', on_click=self._older).props('flat dense no-caps') \
                .classes('self-center')
            self.older_button.set_visibility(has_older)
            self.stream = ui.column().classes('w-full gap-0 px-2').mark('chatter')
        self._tail: ui.column | None = None  # the block live entries join, until it holds BLOCK of them
        self._tail_count = 0
        if events_:
            self._block(events_)
        self.scroll.scroll_to(percent=1.0)
        # Following the conversation happens in the browser, without a message per entry: whether the reader is at
        # the end is kept on every scroll, and when the content grows (a live entry, however late it finishes
        # rendering) a reader at the end is kept there; one who scrolled up to older entries is left alone.
        sid = self.scroll.id
        self.scroll.on('scroll', js_handler=f'(info) => {{ (window.__pulseAtEnd ??= {{}})[{sid}] = '
                                            'info.verticalSize - info.verticalPosition - info.verticalContainerSize '
                                            f'< {self.AT_END_PX}; }}')
        self.scroll.client.run_javascript(FOLLOW_JS.replace('SID', str(sid)))

    def _block(self, events_: list[EventView], *, at_top: bool = False) -> ui.column:
        with self.stream:
            boundary = render_boundary()
        if at_top:
            boundary.move(self.stream, target_index=0)
        with boundary:
            block = ui.column().classes('w-full gap-0')
        with block:
            for e in events_:
                render_event(e, self.viewer_id)
        return block

    def append(self, events_: list[EventView]) -> None:
        fresh = [e for e in events_ if e.id > self.last_id]
        if not fresh:
            return
        if self._tail is None or self._tail_count + len(fresh) > self.BLOCK:
            self._tail, self._tail_count = self._block(fresh), len(fresh)
        else:
            with self._tail:
                for e in fresh:
                    render_event(e, self.viewer_id)
            self._tail_count += len(fresh)
        self.last_id = fresh[-1].id
        if self.first_id is None:
            self.first_id = fresh[0].id
        if any(e.actor_id == self.viewer_id for e in fresh):  # their own post: show it, wherever they were
            sid = self.scroll.id
            self.scroll.client.run_javascript(f'(window.__pulseAtEnd ??= {{}})[{sid}] = true; '
                                              f'getElement({sid})?.setScrollPercentage("vertical", 1, 0);')

    async def _older(self) -> None:
        if self.first_id is None:
            return
        older, has_more = await self._load_older(self.first_id)
        if older:
            self._block(older, at_top=True)
            self.first_id = older[0].id
        self.older_button.set_visibility(has_more)


class Composer:
    """Message box with internal-note switch, attachments and @mention suggestions."""

    def __init__(self, *, can_note: bool, mention_candidates: list[dict[str, str]],
                 send: Callable[[str, bool, list[UploadedFile]], Awaitable[bool]],
                 on_typing: Callable[[], Awaitable[None]]) -> None:
        settings = get_settings()
        self._send, self._on_typing = send, on_typing
        self.candidates = mention_candidates
        self.pending: list[UploadedFile] = []
        self._uploaded_any = False  # the (hidden) uploader holds files until it is reset
        self._sending = False
        # a render boundary: the composer's own changes (the Send button's spinner, clearing the text, mention
        # suggestions) re-render the composer only, not the whole page
        with render_boundary(), ui.column().classes('w-full gap-2 border border-slate-200 rounded-lg p-3 bg-white'):
            self.text = ui.textarea(placeholder='Write a message… (@ to mention, Ctrl+Enter to send)') \
                .props('autogrow outlined dense').classes('w-full').mark('composer')
            self.text.on_value_change(self._changed)
            self.text.on('keydown.ctrl.enter', self.submit)
            self.suggestions = ui.row().classes('gap-1')
            self.files_row = ui.row().classes('gap-1')
            with ui.row().classes('w-full items-center gap-2'):
                self.internal = ui.switch('Internal note').mark('internal-switch') if can_note else None
                self.upload = ui.upload(multiple=True, auto_upload=True, max_file_size=settings.max_upload_bytes,
                                        max_files=settings.max_upload_files, on_upload=self._uploaded,
                                        on_rejected=lambda: ui.notify('That file is too large or there are too many files.',
                                                                      type='negative')).classes('hidden')
                ui.button('Attach', icon='attach_file', on_click=lambda: self.upload.run_method('pickFiles')) \
                    .props('flat dense no-caps').mark('attach-button')
                ui.space()
                self.send_button = ui.button('Send', icon='send', on_click=self.submit).props('no-caps')

    async def _changed(self) -> None:
        value = self.text.value or ''
        self._show_suggestions(value)
        if value:
            await self._on_typing()

    def _show_suggestions(self, value: str) -> None:
        match = TRAILING_MENTION.search(value)
        if not match:
            self._clear_suggestions()  # every keystroke comes here: no update unless chips are shown
            return
        self.suggestions.clear()
        prefix = match.group(1).lower()
        options = [{'handle': 'Team', 'name': 'everyone on the team'}] + self.candidates
        hits = [c for c in options if c['handle'].lower().startswith(prefix) or prefix in c['name'].lower()][:6]
        with self.suggestions:
            for c in hits:
                ui.chip(f"@{c['handle']} · {c['name']}", on_click=lambda c=c: self._pick(c['handle'])) \
                    .props('clickable dense outline color=primary').mark('mention-option')

    def _pick(self, handle: str) -> None:
        value = self.text.value or ''
        match = TRAILING_MENTION.search(value)
        if match:
            value = value[:match.start(1) - 1] + f'@{handle} '
        self.text.value = value
        self._clear_suggestions()

    def _clear_suggestions(self) -> None:
        if self.suggestions.default_slot.children:
            self.suggestions.clear()

    async def _uploaded(self, e: events.UploadEventArguments) -> None:
        settings = get_settings()
        size = e.file.size()  # the browser's limit can be bypassed: check here as well
        if size > settings.max_upload_bytes:
            ui.notify(f'{e.file.name} is too large ({human_size(size)}; at most '
                      f'{human_size(settings.max_upload_bytes)}).', type='negative')
            return
        if len(self.pending) >= settings.max_upload_files:
            ui.notify(f'At most {settings.max_upload_files} files per message.', type='negative')
            return
        reservation = object()
        refused = upload_budget.hold(self.upload.client, reservation, size)
        if refused:
            ui.notify(refused, type='negative')
            return
        upload = UploadedFile(e.file.name, e.file.content_type, await e.file.read())
        upload_budget.release(self.upload.client, reservation)  # the file itself holds it from here on
        upload_budget.hold(self.upload.client, upload, len(upload.data))
        self._uploaded_any = True
        self.pending.append(upload)
        self._show_files()

    def _show_files(self) -> None:
        self.files_row.clear()
        with self.files_row:
            for f in self.pending:
                ui.chip(f'{f.name} ({human_size(len(f.data))})', icon='attach_file', removable=True,
                        on_value_change=lambda _, f=f: self._remove(f)).props('dense').mark('pending-file')

    def _remove(self, f: UploadedFile) -> None:
        upload_budget.release(self.upload.client, f)
        self.pending = [p for p in self.pending if p is not f]
        self._show_files()

    async def submit(self) -> None:
        body = (self.text.value or '').strip()
        if not body and not self.pending:
            ui.notify('Write a message or attach a file.', type='warning')
            return
        if self._sending:
            return  # a second click while the first is on its way must not post twice
        internal = bool(self.internal and self.internal.value)
        self._sending = True
        self.send_button.props('loading')
        try:
            ok = await self._send(body, internal, list(self.pending))
        finally:
            self._sending = False
            self.send_button.props(remove='loading')
        if ok:
            self.text.value = ''
            if self.pending:  # only what changed: each update costs the browser a re-render
                for f in self.pending:
                    upload_budget.release(self.upload.client, f)
                self.pending = []
                self._show_files()
            if self._uploaded_any:
                self._uploaded_any = False
                self.upload.reset()
            self._clear_suggestions()
