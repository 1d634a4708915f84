"""The article editor: title, category, tags, service, visibility, status, markdown with a live preview (the one safe
renderer; it follows the text once the writer pauses, PREVIEW_PAUSE, not at every key: a long article takes a
second or more to render), images and files (the upload limits of every upload), and the conflict rule of tickets:
a save names the version it edited; when somebody saved meanwhile the editor keeps the user's text and shows theirs
beside it (Use mine / Take theirs / Copy mine)."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from nicegui import events, ui

from pulse_live.config import get_settings
from pulse_live.errors import StaleWrite
from pulse_live.models import User
from pulse_live.queries import kb as kb_queries
from pulse_live.services import kb
from pulse_live.services.kb import ArticleFields

from . import upload_budget
from .actions import attempt
from .chatter import TOO_LARGE
from .markdown import to_html

VISIBILITY = {'internal': 'Internal (staff only)', 'public': 'Public (customers)'}
STATUS = {'draft': 'Draft', 'published': 'Published'}
PREVIEW_PAUSE = 0.5        # seconds without a change before the preview is rendered again
RENDER_IN_THREAD = 20_000  # characters: a longer body is rendered beside the event loop


def file_url(attachment_id: int) -> str:
    return f'/help/files/{attachment_id}'


class ArticleEditor:
    """Edits ``article`` (None: a new one, pre-filled by ``prefill``); ``saved(article_id)`` runs after a save.
    ``preview``: the article as already rendered (pages/kb.article_html, title heading and body), so opening the
    editor does not render it again."""

    def __init__(self, user: User, *, article: kb_queries.ArticleView | None, categories: list[kb_queries.CategoryNode],
                 services: dict[int, str], saved: Callable[[int], Awaitable[None]],
                 prefill: kb_queries.Prefill | None = None, preview: str | None = None) -> None:
        self.user, self.saved = user, saved
        self._rendered: tuple[str, str] | None = None  # the body in the preview: (markdown, html)
        self._changed_at = 0.0
        self.article_id = article.id if article else None
        self.version = article.version if article else 0
        self.from_ticket = prefill.ticket_id if prefill and article is None else None
        category_options: dict[int | None, str] = {None: '— no category —'}
        category_options.update({c.id: ('\u2003' * c.depth) + c.name for c in categories})
        service_options: dict[int | None, str] = {None: '— no service —'}
        for service_id, service_name in services.items():
            service_options[service_id] = service_name
        if article and article.service_id and article.service_id not in service_options:
            service_options[article.service_id] = article.service
        with ui.column().classes('w-full gap-3').mark('kb-editor'):
            if prefill is not None and article is None:
                ui.label(f'From ticket {prefill.reference}: the problem and the resolution are filled in; '
                         'edit them into an answer anybody can follow.').classes('text-sm text-slate-600') \
                    .mark('kb-prefill-note')
            self.conflict = ui.column().classes('w-full gap-2 p-3 rounded border border-red-300 bg-red-50') \
                .mark('kb-conflict')
            self.conflict.set_visibility(False)
            self.title = ui.input('Title', value=article.title if article else (prefill.title if prefill else '')) \
                .props('outlined dense').classes('w-full text-lg').mark('kb-title')
            with ui.row().classes('w-full gap-3 items-start'):
                self.category = ui.select(category_options, label='Category',
                                          value=article.category_id if article else None) \
                    .props('outlined dense').classes('w-64').mark('kb-category')
                self.service = ui.select(service_options, label='Related service',
                                         value=article.service_id if article else
                                         (prefill.service_id if prefill else None)) \
                    .props('outlined dense').classes('w-56').mark('kb-service')
                self.tags = ui.input('Tags (comma separated)', value=', '.join(article.tags) if article else '') \
                    .props('outlined dense').classes('w-64 grow').mark('kb-tags')
            with ui.row().classes('w-full gap-6 items-center'):
                self.visibility = ui.toggle(VISIBILITY, value=article.visibility if article else 'internal') \
                    .props('no-caps dense unelevated toggle-color=primary').mark('kb-visibility')
                self.status = ui.toggle(STATUS, value=article.status if article else 'draft') \
                    .props('no-caps dense unelevated toggle-color=positive').mark('kb-status')
            with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-2 gap-4'):
                with ui.column().classes('gap-1 min-w-0'):
                    ui.label('Markdown').classes('text-xs uppercase tracking-wide text-slate-500')
                    self.body = ui.textarea(value=article.body if article else (prefill.body if prefill else '')) \
                        .props('outlined autogrow input-style="min-height: 18rem; font-family: monospace"') \
                        .classes('w-full').mark('kb-body')
                with ui.column().classes('gap-1 min-w-0'):
                    ui.label('Preview').classes('text-xs uppercase tracking-wide text-slate-500')
                    self.preview = ui.html('', sanitize=False).classes(
                        'chatter-body kb-article w-full min-h-[18rem] p-3 border border-slate-300 rounded bg-white') \
                        .mark('kb-preview')
            self.body.on_value_change(self._changed)
            self.title.on_value_change(self._changed)
            self.preview_timer = ui.timer(PREVIEW_PAUSE / 2, self._preview_if_paused, active=False)
            with ui.row().classes('w-full items-center gap-2'):
                settings = get_settings()
                self.upload = ui.upload(multiple=True, auto_upload=True, max_file_size=settings.max_upload_bytes,
                                        max_files=settings.max_upload_files, on_upload=self._uploaded,
                                        on_rejected=lambda: ui.notify(TOO_LARGE, type='negative')).classes('hidden')
                attach = ui.button('Image or file', icon='image',
                                   on_click=lambda: self.upload.run_method('pickFiles')) \
                    .props('flat dense no-caps').mark('kb-attach')
                if self.article_id is None:
                    attach.disable()
                    attach.tooltip('Save the article once, then add images and files')
                    self.upload.disable()  # NiceGUI's route then refuses uploads (403) before reading them
                ui.space()
                self.save_button = ui.button('Save', icon='save', on_click=self.save).props('no-caps unelevated') \
                    .mark('kb-save')
        heading = _heading(article.title) if article else ''
        if article is not None and preview is not None and preview.startswith(heading):
            self._rendered = (article.body, preview[len(heading):])
        else:
            body = self.body.value or ''
            self._rendered = (body, to_html(body))
        self._show_preview()

    def _changed(self) -> None:
        """A key in the title or the text: the preview follows once the writer pauses."""
        self._changed_at = time.monotonic()
        self.preview_timer.activate()

    async def _preview_if_paused(self) -> None:
        if time.monotonic() - self._changed_at < PREVIEW_PAUSE:
            return  # still typing
        self.preview_timer.deactivate()  # a change while rendering activates it again
        await self.render_preview()

    async def render_preview(self) -> None:
        """The preview of the title and text now in the editor; the body is rendered again only when it changed."""
        body = self.body.value or ''
        if self._rendered is None or self._rendered[0] != body:
            html = await asyncio.to_thread(to_html, body) if len(body) > RENDER_IN_THREAD else to_html(body)
            self._rendered = (body, html)
        self._show_preview()

    def _show_preview(self) -> None:
        assert self._rendered is not None
        html = _heading(self.title.value or '') + self._rendered[1]
        if self.preview.content != html:
            self.preview.set_content(html)

    def fields(self) -> ArticleFields:
        return ArticleFields(title=self.title.value or '', body=self.body.value or '',
                             category_id=self.category.value, tags=tuple((self.tags.value or '').split(',')),
                             service_id=self.service.value, visibility=self.visibility.value or 'internal',
                             status=self.status.value or 'draft')

    async def save(self) -> None:
        self.save_button.props('loading')
        try:
            if self.article_id is None:
                done = await attempt(kb.create_article(actor=self.user, fields=self.fields(),
                                                       from_ticket_id=self.from_ticket), success='Article saved')
                if done:
                    self.article_id, self.version = done.value.id, done.value.version
                    await self.saved(done.value.id)
                return
            result = await attempt(kb.save_article(actor=self.user, article_id=self.article_id,
                                                   expected_version=self.version, fields=self.fields()),
                                   success='Article saved', handled=(StaleWrite,))
            if result:
                self.version = result.value.version
                self.conflict.set_visibility(False)
                await self.saved(self.article_id)
            elif isinstance(result.error, StaleWrite):
                await self._show_conflict(result.error)
        finally:
            self.save_button.props(remove='loading')

    async def _show_conflict(self, error: StaleWrite) -> None:
        """Theirs beside mine: the editor keeps the user's text; they choose."""
        assert self.article_id is not None
        theirs = await kb_queries.article(self.user, self.article_id)
        self.conflict.clear()
        self.conflict.set_visibility(True)
        with self.conflict:
            ui.label(str(error)).classes('text-sm font-medium text-red-900').mark('kb-conflict-message')
            if theirs is None:
                ui.label('The article was deleted meanwhile. Copy your text to keep it.').classes('text-sm')
            else:
                with ui.expansion(f'Their version {theirs.version}: {theirs.title}', icon='compare') \
                        .classes('w-full bg-white').mark('kb-theirs'):
                    ui.html(to_html(theirs.body), sanitize=False).classes('chatter-body text-sm')
            with ui.row().classes('gap-2'):
                if theirs is not None:
                    ui.button('Use mine', icon='save', on_click=lambda: self._use_mine(theirs.version)) \
                        .props('no-caps unelevated color=negative').mark('kb-use-mine')
                    ui.button('Take theirs', icon='undo', on_click=lambda: self._take_theirs(theirs)) \
                        .props('no-caps outline').mark('kb-take-theirs')
                ui.button('Copy mine', icon='content_copy', on_click=self._copy_mine).props('no-caps flat')

    async def _use_mine(self, version: int) -> None:
        self.version = version
        await self.save()

    def _take_theirs(self, theirs: kb_queries.ArticleView) -> None:
        self.version = theirs.version
        self.title.value, self.body.value = theirs.title, theirs.body
        self.category.value, self.service.value = theirs.category_id, theirs.service_id
        self.tags.value = ', '.join(theirs.tags)
        self.visibility.value, self.status.value = theirs.visibility, theirs.status
        self.conflict.set_visibility(False)

    def _copy_mine(self) -> None:
        ui.run_javascript(f'navigator.clipboard.writeText({json.dumps(self.body.value or "")})')
        ui.notify('Your text is on the clipboard.')

    async def _uploaded(self, e: events.UploadEventArguments) -> None:
        if self.article_id is None:  # the element is disabled until then; nothing is held for it
            return
        upload = await upload_budget.take(e, 0, per='per article')
        if upload is None:
            return
        try:
            done = await attempt(kb.add_attachments(actor=self.user, article_id=self.article_id, files=[upload]))
        finally:
            upload_budget.release(e.sender.client, upload)
            self.upload.reset()
        if not done:
            return
        row = done.value[0]
        link = (f'![{row.filename}]({file_url(row.id)})' if row.content_type.startswith('image/')
                else f'[{row.filename}]({file_url(row.id)})')
        value = self.body.value or ''
        self.body.value = (value.rstrip('\n') + '\n\n' if value.strip() else '') + link + '\n'
        ui.notify(f'{row.filename} added to the article.', type='positive')


def _heading(title: str) -> str:
    title = title.strip()
    return f'<h1>{_escape(title)}</h1>' if title else ''


def _escape(text: str) -> str:
    import html
    return html.escape(text)
