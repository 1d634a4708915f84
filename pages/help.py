"""Reading the knowledge base: the portal's Help section for customers (/portal/help, /portal/help/{id}) and the
public help centre for visitors without an account (/help, /help/{id}), which an admin opens on /kb (off by default;
while off, /help answers 404 to visitors and sends signed-in people to their own help pages). Both show public,
published articles only (``queries/kb.readable``) and ask "Did this help?" (counted once per browser session and
article). Article files: /help/files/{id}, served after the same check."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import RedirectResponse, StreamingResponse
from nicegui import app, ui

from components.actions import attempt
from components.frame import frame
from components.session import current_user, require_user
from pages.kb import article_html, style, when
from pages.params import OptionalRowId, RowId, ShortText, desk_page
from pulse_live import auth, storage
from pulse_live.models import Role, User
from pulse_live.queries import kb as kb_queries
from pulse_live.services import kb


def _reader() -> str | None:
    """This browser's session (hashed by the service): one answer per reader and article."""
    try:
        return str(app.storage.browser.get('id') or '') or None
    except RuntimeError:
        return None


def _address() -> str:
    """The visitor's network address (behind the proxy: the one it forwarded, see docs/DEPLOY.md)."""
    try:
        request = ui.context.client.request
    except (RuntimeError, AttributeError):
        return 'unknown'
    return request.client.host if request is not None and request.client else 'unknown'


def visitor_frame(title: str):
    """The shell for visitors without an account: a plain header with the help centre and a sign-in link."""
    ui.page_title(f'{title} · Help · Pulse Live')
    ui.colors(primary='#2563eb', secondary='#475569', accent='#7c3aed')
    with ui.header().classes('items-center gap-4 px-4 py-2 bg-slate-900 text-white no-wrap'):
        ui.link('Pulse Live Help', '/help').classes('text-lg font-semibold text-white no-underline whitespace-nowrap')
        ui.space()
        ui.link('Sign in', '/login').classes('text-white no-underline').mark('help-sign-in')
    return ui.column().classes('w-full max-w-5xl mx-auto p-4 gap-4')


def help_home(viewer: User | None, base: str, tree: list[kb_queries.CategoryNode], rows: list[kb_queries.ArticleRow],
              selected: int | None, q: str) -> None:
    with ui.column().classes('w-full gap-1'):
        ui.label('How can we help?').classes('text-2xl font-semibold').mark('help-heading')
        ui.label('Answers to common questions, written by our support team.').classes('text-slate-500')

    def go(text: str) -> None:
        ui.navigate.to(base + (f'?q={quote(text)}' if text else ''))
    ui.input('Search the help articles', value=q, on_change=lambda e: go((e.value or '').strip())) \
        .props('outlined clearable debounce=500').classes('w-full max-w-xl').mark('help-search')
    with ui.row().classes('w-full gap-6 items-start no-wrap'):
        visible = [c for c in tree if c.total]  # help_categories: only those with an article this reader may read
        if visible:
            with ui.column().classes('gap-0 w-52 shrink-0 gt-xs').mark('help-categories'):
                ui.label('Topics').classes('text-xs uppercase tracking-wide text-slate-500 mb-1')
                ui.link('All topics', base).classes('no-underline px-2 py-1 text-sm ' +
                                                    ('font-medium text-blue-800' if selected is None else
                                                     'text-slate-700'))
                for c in visible:
                    ui.link(c.name, f'{base}?category={c.id}').classes(
                        'no-underline py-1 text-sm ' + ('font-medium text-blue-800' if c.id == selected
                                                        else 'text-slate-700')).style(
                        f'padding-left: {0.5 + c.depth}rem')
        with ui.column().classes('grow gap-2 min-w-0').mark('help-articles'):
            if not rows:
                ui.label('No articles found.' if q or selected else 'There are no help articles yet.') \
                    .classes('text-slate-500 py-4').mark('help-empty')
            for row in rows:
                with ui.card().classes('w-full gap-1 p-3').props('flat bordered').mark('help-row'):
                    ui.link(row.title, f'{base}/{row.id}').classes('font-medium text-blue-800 no-underline') \
                        .mark('help-row-title')
                    if row.excerpt:
                        ui.label(row.excerpt).classes('text-sm text-slate-600')
                    if row.category:
                        ui.label(row.category).classes('text-xs text-slate-500')


async def help_article(viewer: User | None, base: str, article: kb_queries.ArticleView) -> None:
    body_html = await article_html(article, 'public')  # cached per version: see pages/kb.article_html
    with ui.row().classes('items-center gap-1 text-sm text-slate-500'):
        ui.link('Help', base).classes('text-blue-800')
        if article.category:
            ui.label(f'› {article.category}')
    with ui.card().classes('w-full gap-2 p-6').props('flat bordered'):
        ui.html(body_html, sanitize=False).classes('chatter-body kb-article w-full').mark('help-article-body')
        for f in article.attachments:
            ui.link(f'📎 {f.filename}', f'/help/files/{f.id}', new_tab=True).classes('text-sm')
        ui.label(f'Updated {when(article.updated_at)}').classes('text-xs text-slate-500')
    with ui.row().classes('items-center gap-3').mark('help-feedback') as box:
        ui.label('Did this help?').classes('font-medium')

        async def answer(helped: bool) -> None:
            done = await attempt(kb.record_feedback(article_id=article.id, helped=helped, reader=_reader(),
                                                    viewer=viewer, address=_address()))
            if done:
                box.clear()
                with box:
                    ui.label('Thank you for telling us.' if helped else
                             'Thank you. We will improve this article.').classes('text-slate-600') \
                        .mark('help-thanks')
                    if not helped and viewer is not None and viewer.role == Role.CUSTOMER:
                        ui.link('Ask our support team', '/portal/new').classes('text-blue-800')
        ui.button('Yes', icon='thumb_up', on_click=lambda: answer(True)).props('outline no-caps') \
            .mark('help-yes')
        ui.button('No', icon='thumb_down', on_click=lambda: answer(False)).props('outline no-caps') \
            .mark('help-no')


async def _list(viewer: User | None, category: int, q: str) \
        -> tuple[list[kb_queries.CategoryNode], list[kb_queries.ArticleRow], int | None] | None:
    """The categories shown, the articles listed and the category chosen; None for a ``?category=`` this reader may
    not choose: unknown, or holding no article the reader may read (the same answer for both: not found)."""
    tree = await kb_queries.help_categories(viewer)
    if category and category not in {c.id for c in tree}:
        return None
    selected = category or None
    rows = await kb_queries.article_list(viewer, category_id=selected, text=q)
    return tree, rows, selected


@desk_page('/portal/help')
async def portal_help_page(category: OptionalRowId = 0, q: ShortText = '') -> None:
    user = await require_user()
    if user is None:
        return
    style()
    listed = await _list(user, category, q)
    if listed is None:
        with frame('Not found', user):
            ui.context.client.status_code = 404
            ui.label('Topic not found').classes('text-2xl font-semibold').mark('help-missing')
            ui.link('Back to Help', '/portal/help')
        return
    tree, rows, selected = listed
    with frame('Help', user):
        help_home(user, '/portal/help', tree, rows, selected, q)


@desk_page('/portal/help/{article_id}')
async def portal_help_article_page(article_id: RowId) -> None:
    user = await require_user()
    if user is None:
        return
    style()
    article = await kb_queries.article(user, article_id)
    with frame(article.title if article else 'Not found', user):
        if article is None or (auth.is_staff(user) and not _public(article)):
            ui.context.client.status_code = 404
            ui.label('Article not found').classes('text-2xl font-semibold').mark('help-missing')
            ui.link('Back to Help', '/portal/help')
            return
        await help_article(user, '/portal/help', article)


def _public(article: kb_queries.ArticleView) -> bool:
    return article.visibility == 'public' and article.status == 'published'


async def _closed_help(path: str):
    """/help while the help centre is closed: signed-in people go to their own help pages, visitors get 404."""
    user = await current_user()
    if user is not None:
        return RedirectResponse(path.replace('/help', '/portal/help' if user.role == Role.CUSTOMER else '/kb', 1),
                                status_code=303)
    return _not_found()


def _not_found():
    from pages.errors import error_page
    return error_page(404, 'Page not found', 'There is nothing at this address. It may have been mistyped, or the '
                      'help centre is not open to visitors.')


@desk_page('/help')
async def public_help_page(category: OptionalRowId = 0, q: ShortText = ''):
    if not await kb_queries.help_centre_open():
        return await _closed_help('/help')
    listed = await _list(None, category, q)
    if listed is None:
        return _not_found()
    style()
    tree, rows, selected = listed
    with visitor_frame('Help'):
        help_home(None, '/help', tree, rows, selected, q)
    return None


@desk_page('/help/{article_id}')
async def public_help_article_page(article_id: RowId):
    if not await kb_queries.help_centre_open():
        return await _closed_help(f'/help/{article_id}')
    style()
    article = await kb_queries.article(None, article_id)
    if article is None:
        return _not_found()
    with visitor_frame(article.title):
        await help_article(None, '/help', article)
    return None


def register() -> None:
    @app.get('/help/files/{attachment_id}')
    async def article_file(attachment_id: RowId) -> StreamingResponse:
        user = await current_user()
        row = await kb_queries.attachment_for_download(user, attachment_id)
        if row is None:
            raise HTTPException(status_code=404, detail='Not found')
        try:  # streamed from the attachment store (local directory or object storage), after the check above
            size, chunks = await storage.open_stream(row.sha256)
        except storage.MissingFile:
            raise HTTPException(status_code=404, detail='The file is missing on the server') from None
        inline = storage.is_inline_safe(row.content_type)
        disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(row.filename)}"
        return StreamingResponse(chunks, media_type=row.content_type if inline else 'application/octet-stream',
                                 headers={'Content-Disposition': disposition, 'Content-Length': str(size),
                                          'X-Content-Type-Options': 'nosniff',
                                          'Content-Security-Policy': "default-src 'none'; sandbox",
                                          'Cache-Control': 'private, no-store'})

