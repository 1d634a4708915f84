"""The chatter: messages, internal notes, attachments and automatic change entries, plus the composer."""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from nicegui import events, ui

from pulse_live.config import get_settings
from pulse_live.queries.tickets import EventView
from pulse_live.services import chatter as chatter_service
from pulse_live.storage import UploadedFile, safe_filename

from . import css, markup, upload_budget
from .chatter_html import ENTRY_CLASSES, TOOLTIP_JS, entry_html, entry_kind, human_size, markers
from .live_entries import TAIL_JS, tail_call
from .render import render_boundary

CHATTER_CSS = '''
.chatter-body p { margin: 0 0 .4em 0; } .chatter-body p:last-child { margin-bottom: 0; }
.chatter-body pre { background: #f1f5f9; padding: .5em; border-radius: 4px; overflow-x: auto; }
.chatter-body code { background: #f1f5f9; padding: 0 .2em; border-radius: 3px; }
.chatter-body ul, .chatter-body ol { padding-left: 1.4em; margin: .2em 0; }
.chatter-body ul { list-style: disc; } .chatter-body ol { list-style: decimal; }
.chatter-body a { color: #2563eb; text-decoration: underline; }
.chatter-landed > div:last-child { outline: 3px solid #f59e0b; outline-offset: 1px; transition: outline .3s; }
.mention { background: #e0e7ff; color: #3730a3; border-radius: 4px; padding: 0 3px; font-weight: 500; }
'''
TOO_LARGE = 'That file is too large or there are too many files.'
TRAILING_MENTION = re.compile(r'(?:^|\s)@([A-Za-z0-9_.-]*)$')
# "#" then a word typed at the end (not a markdown heading "# Title"): the knowledge base article picker
TRAILING_ARTICLE = re.compile(r'(?:^|\s)#([^\s#\[\]()]{1,40})$')
ArticleSearch = Callable[[str, bool], Awaitable[list[dict[str, str]]]]


def render_events(events_: Sequence[EventView], viewer_id: int) -> ui.element:
    """Entries read together (a page's first entries, a page of older ones) as one element: the same markup each
    entry's element renders to (its classes, ``data-entry``, its shared markup; the live tail builds the same in the
    browser), inside a wrapper that takes no part in the layout. A ticket page opened with 30 entries built 30
    elements for them, each kept, sent and mounted as a component (~a tenth of an open's server CPU)."""
    markup_ = ''.join(f'<div class="{ENTRY_CLASSES[entry_kind(e)]}" data-entry="{int(e.id)}">'
                      f'{entry_html(e, viewer_id)}</div>' for e in events_)
    shown = sorted({m for e in events_ for m in markers(e).split()})  # what the entries show (the tests look)
    return ui.html(markup_, sanitize=False).style('display: contents').mark(' '.join(['chatter-entries', *shown]))


def render_event(e: EventView, viewer_id: int) -> ui.element:
    """One entry, one element: its markup is built once per way of seeing it and shared (components/chatter_html)."""
    element = ui.html(entry_html(e, viewer_id), sanitize=False).classes(ENTRY_CLASSES[entry_kind(e)]).mark(markers(e))
    element.props['data-entry'] = str(e.id)  # a search result lands here (Chatter.land_on); set, not a string to parse
    return element


# installed once per chatter: a ResizeObserver on the scroll area's content keeps a reader who is at the end there.
# That scroll of the page's own does not wake the scroll area's machinery (its thumb, shown only under the pointer, and
# the reader's place, which stays "at the end"): a frame less to draw per live entry in every viewer's browser
# (benchmarks/README.md). The thumb catches up when the pointer comes; a scroll that leaves the end (the reader's,
# in the same frame) goes through.
FOLLOW_JS = '''(() => {
  const atEnd = (window.__pulseAtEnd ??= {});
  const install = (attempt) => {
    const area = getElement(SID);
    const el = area?.getScrollTarget?.();
    if (!el || !el.firstElementChild) { if (attempt < 50) setTimeout(() => install(attempt + 1), 100); return; }
    if (el.__pulseFollow) return;
    el.__pulseFollow = true;
    let ours = false, behind = false, over = false;
    el.addEventListener('scroll', (e) => {
      const fromEnd = el.scrollHeight - el.scrollTop - el.clientHeight;
      atEnd[SID] = fromEnd < AT_END_PX;  // where the reader is, on every scroll (the page's own included)
      if (!ours) return;
      ours = false;
      if (fromEnd > 2 || over) return;  // not (only) ours: the reader moved; or the thumb is shown
      behind = true;
      e.stopImmediatePropagation();
    }, {capture: true});
    area.$el.addEventListener('mouseenter', () => {
      over = true;
      if (behind) { behind = false; el.dispatchEvent(new Event('scroll')); }
    });
    area.$el.addEventListener('mouseleave', () => { over = false; });
    new ResizeObserver(() => {
      if (atEnd[SID] === false) return;
      const before = el.scrollTop;
      el.scrollTop = el.scrollHeight;  // (the end as it is now: the scroll area's own idea of its size may lag)
      if (el.scrollTop !== before) ours = true;
    }).observe(el.firstElementChild);
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
    KEEP = 300  # live entries beyond this push the oldest blocks out of the page (Load older brings them back)
    AT_END_PX = 120  # a reader this close to the end counts as following the conversation

    def __init__(self, viewer_id: int, events_: list[EventView], has_older: bool,
                 load_older: Callable[[int], Awaitable[tuple[list[EventView], bool]]]) -> None:
        css.add_once(CHATTER_CSS)
        self.viewer_id, self._load_older = viewer_id, load_older
        self.ticket_id = 0  # set by the page's screen (``show_ticket``): live entries only for the ticket shown
        self.first_id = events_[0].id if events_ else None
        self.last_id = events_[-1].id if events_ else 0
        self.scroll = ui.scroll_area().classes('w-full border border-slate-200 rounded-lg bg-slate-50') \
            .style('height: 60vh')
        with self.scroll:
            self.older_button = ui.button('Load older entries', on_click=self._older).props('flat dense no-caps') \
                .classes('self-center')
            self.older_button.set_visibility(has_older)
            with ui.column().classes('w-full gap-0 px-2'):
                self.stream = ui.column().classes('w-full gap-0').mark('chatter')
                # live entries sent to many pages at once land here, in the browser only (components/live_entries)
                self.live_tail = ui.column().classes('w-full gap-0').props('data-live-tail').mark('live-tail')
        self.live_tail.props['data-scroll'] = str(self.scroll.id)  # a reader's own entry brings it into view
        self.in_tail = False  # since a broadcast reached this page its live entries go to the tail
        self.tail_from = 0  # the last entry before the tail's first (the blocks hold it and older ones)
        self._tail_ids: list[int] = []  # the entries in the browser's tail, oldest first
        self._tail: ui.column | None = None  # the block live entries join, until it holds BLOCK of them
        self._tail_count = 0
        self._blocks: list[list] = []  # [boundary, entries, first entry id], top to bottom
        # the reader asked for older entries (Load older, or a link to an old entry that loaded more than KEEP):
        # nothing is pushed out any more
        self._older_loaded = len(events_) > self.KEEP
        if events_:
            self._block(events_, together=True)
        self.scroll.scroll_to(percent=1.0)
        # Following the conversation happens in the browser, without a message per entry: whether the reader is at
        # the end is kept on every scroll, and when the content grows (a live entry, however late it finishes
        # rendering) a reader at the end is kept there; one who scrolled up to older entries is left alone.
        sid = self.scroll.id
        self.scroll.client.run_javascript(FOLLOW_JS.replace('SID', str(sid)).replace('AT_END_PX', str(self.AT_END_PX))
                                          + ';\n' + TOOLTIP_JS + ';\n' + TAIL_JS)

    def show_ticket(self, ticket_id: int) -> None:
        """Say which ticket this chatter shows: the browser adds live entries to its tail only if for it."""
        self.ticket_id = ticket_id
        self.live_tail.props['data-ticket'] = str(ticket_id)
        self.live_tail.update()

    def _block(self, events_: list[EventView], *, at_top: bool = False, together: bool = False) -> ui.column:
        """A block of entries in a render boundary: one element each (live entries: a block takes more later), or
        ``together`` one element for all (entries read at once: the page's first, older ones)."""
        with self.stream:
            boundary = render_boundary()
        if at_top:
            boundary.move(self.stream, target_index=0)
            self._blocks.insert(0, [boundary, len(events_), events_[0].id])
        else:
            self._blocks.append([boundary, len(events_), events_[0].id])
        with boundary:
            block = ui.column().classes('w-full gap-0')
        with block:
            if together:
                render_events(events_, self.viewer_id)
            else:
                for e in events_:
                    render_event(e, self.viewer_id)
        return block

    def append(self, events_: Sequence[EventView]) -> None:
        fresh = [e for e in events_ if e.id > self.last_id]
        if not fresh:
            return
        if self.in_tail:  # after a broadcast: in the browser's tail, after the entries it brought
            self.scroll.client.run_javascript(tail_call(fresh, self.viewer_id, self.ticket_id))
        elif self._tail is None or self._tail_count + len(fresh) > self.BLOCK:
            for start in range(0, len(fresh), self.BLOCK):  # a burst read at once: blocks of BLOCK, to push out too
                chunk = fresh[start:start + self.BLOCK]
                self._tail, self._tail_count = self._block(chunk), len(chunk)
        else:
            with self._tail:
                for e in fresh:
                    render_event(e, self.viewer_id)
            self._tail_count += len(fresh)
            self._blocks[-1][1] += len(fresh)
        self.delivered(fresh)
        self._push_out_oldest()
        if any(e.actor_id == self.viewer_id for e in fresh):  # their own post: show it, wherever they were
            sid = self.scroll.id
            self.scroll.client.run_javascript(f'(window.__pulseAtEnd ??= {{}})[{sid}] = true; '
                                              f'getElement({sid})?.setScrollPercentage("vertical", 1, 0);')

    def delivered(self, fresh: Sequence[EventView], *, in_tail: bool = False) -> None:
        """``fresh`` are shown: appended here, or (``in_tail``) sent to the browser's tail with other pages'
        (components/live_entries), after which this page's live entries go there too."""
        if in_tail and not self.in_tail:
            self.in_tail, self.tail_from = True, self.last_id
        if self.in_tail:
            self._tail_ids.extend(e.id for e in fresh if e.id > self.last_id)
        self.last_id = max(self.last_id, fresh[-1].id)
        if self.first_id is None:
            self.first_id = fresh[0].id
        if in_tail:  # (``append`` pushes out for its own entries)
            self._push_out_oldest()

    def _push_out_oldest(self) -> None:
        """A page open all day on a busy ticket keeps at most about ``KEEP`` entries in its tree (server memory per
        page, and the browser's DOM): the oldest blocks leave, "Load older entries" brings them back. Not once the
        reader loaded older entries themselves (they are reading back)."""
        if self._older_loaded:
            return
        tail = self._tail_ids
        while (len(self._blocks) > 1 or (self._blocks and tail)) \
                and sum(b[1] for b in self._blocks) + len(tail) > self.KEEP:
            boundary = self._blocks.pop(0)[0]
            self.stream.remove(boundary)
            self.first_id = self._blocks[0][2] if self._blocks else tail[0]
            if not self.older_button.visible:
                self.older_button.set_visibility(True)
        # the browser's tail (entries sent to many pages at once): once it is all that is left, its oldest leave it
        # a block at a time, the same way
        if not self._blocks and len(tail) > self.KEEP + self.BLOCK:
            del tail[:len(tail) - self.KEEP]
            self.first_id = tail[0]
            self.scroll.client.run_javascript(f'window.pulseTailDrop?.({int(self.first_id)})')
            if not self.older_button.visible:
                self.older_button.set_visibility(True)

    def land_on(self, event_id: int) -> None:
        """Scroll to one entry and mark it for a moment (a search result that named it); the reader is then no
        longer "at the end", so live entries do not pull the view away from it, nor push it out of the page."""
        self._older_loaded = True
        sid = self.scroll.id
        self.scroll.client.run_javascript(f'''(() => {{
  const find = (attempt) => {{
    const el = document.querySelector('[data-entry="{int(event_id)}"]');
    if (!el) {{ if (attempt < 50) setTimeout(() => find(attempt + 1), 100); return; }}
    // the page's own scroll to the end (and the scroll events it raises late) must not carry the reader away:
    // the entry is brought back into view a few times during the first seconds, unless the reader moved first
    let moved = false;
    const mark = () => {{ moved = true; }};
    for (const kind of ['wheel', 'touchstart', 'keydown', 'mousedown'])
      window.addEventListener(kind, mark, {{once: true}});
    const show = () => {{
      if (moved) return;
      (window.__pulseAtEnd ??= {{}})[{sid}] = false;
      el.scrollIntoView({{block: 'center'}});
    }};
    show();
    for (const ms of [300, 800, 1600]) setTimeout(show, ms);
    el.classList.add('chatter-landed');
    setTimeout(() => el.classList.remove('chatter-landed'), 4000);
  }};
  setTimeout(() => find(0), 150);
}})()''')

    async def _older(self) -> None:
        if self.first_id is None:
            return
        self._older_loaded = True
        older, has_more = await self._load_older(self.first_id)
        if older:
            self._block(older, at_top=True, together=True)
            self.first_id = older[0].id
        self.older_button.set_visibility(has_more)


class Composer:
    """Message box with attachments and @mention suggestions. For agents (``can_note``) it has two modes, like
    tabs: *Reply to customer* names who will read it and *Internal note* looks different (amber); the mode a new
    page opens on is ``PULSE_COMPOSER_DEFAULT_INTERNAL`` (internal by default). Switching keeps the draft. A reply
    that mentions only staff asks once whether it is meant as an internal note. A refused send keeps the draft
    (and says so, with a Copy button). Customers' composer has no modes: always a public reply.

    ``ticket_view`` (agents' page) returns the page's current ticket view: its ``customer`` is named in reply mode
    and its ``ticket.status`` tells why a send was refused."""

    NOTE, REPLY = 'note', 'reply'
    BOX = 'w-full gap-2 border rounded-lg p-3'
    LOOK = {NOTE: 'bg-amber-50 border-amber-400', REPLY: 'bg-white border-sky-300'}

    def __init__(self, *, can_note: bool, mention_candidates: list[dict[str, str]],
                 send: Callable[[str, bool, list[UploadedFile]], Awaitable[bool]],
                 on_typing: Callable[[], Awaitable[None]], ticket_view: Callable[[], object] | None = None,
                 article_search: ArticleSearch | None = None) -> None:
        settings = get_settings()
        self._send, self._on_typing, self._view = send, on_typing, ticket_view
        self._article_search = article_search  # agents: "#word" suggests articles (text, public only?) → picks
        self.candidates = mention_candidates
        self.pending: list[UploadedFile] = []
        self._uploaded_any = False  # the (hidden) uploader holds files until it is reset
        self._sending: set[tuple] = set()  # the messages on their way (text, files)
        self._one_at_a_time = asyncio.Lock()
        self._asked_for: str | None = None  # the text the staff-mention question was answered for
        self.ask: ui.dialog | None = None  # "Send this to the customer?", built the first time it is asked
        self.mode = (self.NOTE if settings.composer_default_internal else self.REPLY) if can_note else self.REPLY
        # a render boundary: the composer's own changes (the Send button's spinner, clearing the text, mention
        # suggestions) re-render the composer only, not the whole page
        with render_boundary(), ui.column().classes(f'{self.BOX} border-slate-200 bg-white') as self.box:
            self.modes: ui.tabs | None = None
            self.audience: ui.html | None = None
            if can_note:
                with ui.row().classes('w-full items-center gap-2 no-wrap'), \
                        ui.tabs(value=cast(Any, self.mode), on_change=self._mode_changed) \
                        .props('dense no-caps inline-label align=left') \
                        .mark('composer-mode internal-switch') as self.modes:
                    ui.tab(self.REPLY, 'Reply to customer', icon='reply').mark('mode-reply')
                    ui.tab(self.NOTE, 'Internal note', icon='lock').mark('mode-note')
                # who will read it: the icon and the line as one static element (it was a row, an icon, a label)
                self.audience = ui.html('', sanitize=False) \
                    .classes('nicegui-row w-full items-center gap-1 no-wrap text-sm').mark('composer-audience')
            hint = '@ to mention, # to link an article' if article_search else '@ to mention'
            self.text = ui.textarea(placeholder=f'Write a message… ({hint}, Ctrl+Enter to send)') \
                .props('autogrow outlined dense bg-color=white').classes('w-full').mark('composer')
            self.text.on_value_change(self._changed)
            self.text.on('keydown.ctrl.enter', self.submit)
            self.suggestions = ui.row().classes('gap-1')
            self.files_row = ui.row().classes('gap-1')
            self.kept = ui.row().classes('w-full items-center gap-2 text-sm text-red-800').mark('composer-kept')
            self.kept.set_visibility(False)
            with ui.row().classes('w-full items-center gap-2'):
                self.upload = ui.upload(multiple=True, auto_upload=True, max_file_size=settings.max_upload_bytes,
                                        max_files=settings.max_upload_files, on_upload=self._uploaded,
                                        on_rejected=lambda: ui.notify(TOO_LARGE, type='negative')).classes('hidden')
                ui.button('Attach', icon='attach_file', on_click=lambda: self.upload.run_method('pickFiles')) \
                    .props('flat dense no-caps').mark('attach-button')
                ui.space()
                self.send_button = ui.button('Send', icon='send', on_click=self.submit).props('no-caps') \
                    .mark('composer-send')
        if can_note:
            self._show_mode()

    # --- the two modes ---
    @property
    def internal(self) -> bool:
        return self.modes is not None and self.mode == self.NOTE

    def _audience_text(self) -> str:
        if self.mode == self.NOTE:
            return 'Only staff see internal notes, never the customer.'
        customer = getattr(self._view(), 'customer', None) if self._view is not None else None
        if customer:
            return f'Visible to {customer} (the customer) and staff.'
        return 'No customer on this ticket: replies are seen by staff only.'

    def _refresh_audience(self) -> None:
        """The customer may change while the page is open: the line follows (only sent when it changed)."""
        if self.audience is None:
            return
        note = self.mode == self.NOTE
        content = markup.icon('lock' if note else 'visibility', 'text-amber-800' if note else 'text-sky-700') + \
            markup.label(self._audience_text(), 'font-medium text-amber-900' if note else 'font-medium text-sky-900',
                         mark='composer-audience-text')
        if self.audience.content != content:
            self.audience.set_content(content)

    def _show_mode(self) -> None:
        note = self.mode == self.NOTE
        self.box.classes(replace=f'{self.BOX} {self.LOOK[self.mode]}')
        self._refresh_audience()
        color = 'amber-9' if note else 'primary'
        if self.modes is not None:
            self.modes.props(f'active-color={color} indicator-color={color}')
        self.send_button.set_text('Send internal note' if note else 'Send reply')
        self.send_button.props(f'color={color}')

    def set_mode(self, mode: str) -> None:
        if self.modes is not None and mode in (self.NOTE, self.REPLY) and mode != self.mode:
            self.modes.value = mode  # → _mode_changed

    def _mode_changed(self) -> None:
        mode = self.modes.value if self.modes is not None else self.REPLY
        if mode not in (self.NOTE, self.REPLY) or mode == self.mode:
            return
        self.mode = mode  # the draft and the files stay as they are
        self._show_mode()

    async def _changed(self) -> None:
        value = self.text.value or ''
        if self._article_search is not None and TRAILING_ARTICLE.search(value):
            await self._show_articles(value)
        else:
            self._show_suggestions(value)
        self._refresh_audience()
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

    async def _show_articles(self, value: str) -> None:
        """The ``#`` picker (like the ``@`` one): published articles whose title holds the word typed after ``#``; in
        reply mode only public ones (the customer follows the link into the portal's Help)."""
        match = TRAILING_ARTICLE.search(value)
        if not match or self._article_search is None:
            return
        hits = await self._article_search(match.group(1), not self.internal)
        if (self.text.value or '') != value:  # typed on meanwhile: the newer keystroke shows its own
            return
        self.suggestions.clear()
        with self.suggestions:
            if not hits:
                ui.label(f'No published article matches "{match.group(1)}".').classes('text-xs text-slate-500') \
                    .mark('article-none')
            for a in hits:
                ui.chip(f"# {a['title']}", icon='menu_book' if a['visibility'] == 'public' else 'lock',
                        on_click=lambda a=a: self._pick_article(a)) \
                    .props('clickable dense outline color=teal').mark('article-option')

    def _pick_article(self, article: dict[str, str]) -> None:
        value = self.text.value or ''
        match = TRAILING_ARTICLE.search(value)
        title = article['title'].replace('[', '(').replace(']', ')')
        link = f"[{title}]({article['path']}) "
        self.text.value = (value[:match.start(1) - 1] + link) if match else value + link
        self._clear_suggestions()

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
        upload = await upload_budget.take(e, len(self.pending))
        if upload is None:
            return
        self._uploaded_any = True
        self.pending.append(upload)
        self._show_files()

    def _show_files(self) -> None:
        self.files_row.clear()
        with self.files_row:
            for f in self.pending:
                ui.chip(f'{safe_filename(f.name)} ({human_size(len(f.data))})', icon='attach_file', removable=True,
                        on_value_change=lambda _, f=f: self._remove(f)).props('dense').mark('pending-file')

    def _remove(self, f: UploadedFile) -> None:
        upload_budget.release(self.upload.client, f)
        self.pending = [p for p in self.pending if p is not f]
        self._show_files()

    async def submit(self) -> None:
        """Send what the composer holds. On a busy server a send takes a while, and what the user does meanwhile
        counts: a second click on the same message is nothing, another message sent meanwhile goes after it (it was
        dropped), and once it is posted only what was sent leaves the composer — text typed after Send stays (it
        was wiped)."""
        raw = self.text.value or ''
        body, files = raw.strip(), list(self.pending)
        if not body and not files:
            ui.notify('Write a message or attach a file.', type='warning')
            return
        key = (body, tuple(id(f) for f in files))
        if key in self._sending:
            return  # a second click while this message is on its way must not post it twice
        self._sending.add(key)
        try:
            async with self._one_at_a_time:  # in the order sent
                # a file the message before took is not sent twice (both were sent with it pending)
                files = [f for f in files if any(f is p for p in self.pending)]
                ok = await self._post(body, files) if body or files else None
        finally:
            self._sending.discard(key)
        if ok is None or self.text.is_deleted:
            return  # the question was dismissed: nothing sent, the draft stays
        now = self.text.value or ''
        if not ok:
            if now != raw:  # typed on meanwhile: the text not sent is put back before it
                self.text.value = raw + (f'\n\n{now}' if now.strip() else '')
            self._show_kept()
            return
        self._hide_kept()
        self._asked_for = None
        if now == raw:
            self.text.value = ''
        elif raw and now.startswith(raw):
            self.text.value = now[len(raw):].lstrip()
        if files:  # only what changed: each update costs the browser a re-render
            for f in files:
                upload_budget.release(self.upload.client, f)
            self.pending = [f for f in self.pending if f not in files]
            self._show_files()
        if self._uploaded_any and not self.pending:
            self._uploaded_any = False
            self.upload.reset()
        self._clear_suggestions()

    async def _post(self, body: str, files: list[UploadedFile]) -> bool | None:
        """Ask (a reply naming only staff) and send; None when the question was dismissed (nothing sent)."""
        internal = self.internal
        if not internal and self.modes is not None and body and body != self._asked_for \
                and await chatter_service.mentions_only_staff(body):
            choice = await self._ask_staff_only()
            if choice is None:
                return None
            self._asked_for = body  # asked once: sending the same text again does not ask again
            if choice == self.NOTE:
                internal = True
                self.set_mode(self.NOTE)
        self.send_button.props('loading')
        try:
            return await self._send(body, internal, files)
        finally:
            self.send_button.props(remove='loading')

    async def _ask_staff_only(self) -> str | None:
        self._refresh_audience()
        customer = getattr(self._view(), 'customer', None) if self._view is not None else None
        who = customer or 'the customer'
        ask = self._ask_dialog()
        self.ask_text.set_text(f'This reply mentions only staff. Sent as a reply, {who} will read it too. '
                               'Did you mean an internal note?')
        return await ask

    def _ask_dialog(self) -> ui.dialog:
        """The question, built when it is first asked: few replies mention only staff, and its 7 elements were
        built for every agent's ticket page and held while it was open."""
        if self.ask is None:
            with self.box, ui.dialog() as self.ask, ui.card().classes('w-[30rem] max-w-full'):
                ui.label('Send this to the customer?').classes('text-lg font-medium')
                self.ask_text = ui.label('').classes('text-sm')
                with ui.row().classes('w-full justify-end gap-2'):
                    ask = self.ask
                    ui.button('Send to customer', icon='reply', on_click=lambda: ask.submit(self.REPLY)) \
                        .props('outline no-caps').mark('send-to-customer')
                    ui.button('Send as internal note', icon='lock', on_click=lambda: ask.submit(self.NOTE)) \
                        .props('unelevated no-caps color=amber-9').mark('send-as-note')
        return self.ask

    def take_draft(self) -> tuple[str, list[str]]:
        """The unsent text and the names of the unsent files, for a page about to remove the composer (the
        files' upload budget is given back)."""
        text = '' if self.text.is_deleted else (self.text.value or '').strip()
        names = [f.name for f in self.pending]
        for f in self.pending:
            upload_budget.release(self.upload.client, f)
        self.pending = []
        return text, names

    # --- a refused send keeps the draft ---
    def _show_kept(self) -> None:
        view = self._view() if self._view is not None else None
        ticket = getattr(view, 'ticket', None)
        if ticket is not None and getattr(ticket, 'status', None) == 'closed':
            why = (f'Not sent: {ticket.reference} was closed meanwhile. Your text is kept here; '
                   'reopen the ticket to add it.')
        else:
            why = 'Not sent (the reason is shown above). Your text is kept here.'
        self.kept.clear()
        with self.kept:
            ui.icon('error_outline', size='xs')
            ui.label(why).classes('grow')
            ui.button('Copy text', icon='content_copy', on_click=self._copy).props('flat dense no-caps') \
                .mark('composer-copy')
        self.kept.set_visibility(True)

    def _hide_kept(self) -> None:
        if self.kept.visible:
            self.kept.set_visibility(False)
            self.kept.clear()

    def _copy(self) -> None:
        ui.clipboard.write(self.text.value or '')
        ui.notify('Copied your text to the clipboard.', type='info')
