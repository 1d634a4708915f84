"""The knowledge base for staff: /kb (articles by category, search, categories, the public help centre switch for
admins), /kb/new (optionally ?ticket=<id>: pre-filled from a ticket), /kb/{id} (the article, its tickets, its history
with a diff, "Mark reviewed") and /kb/{id}/edit. Customers who follow an article link land on the portal's Help page
of it. Article files are served at /help/files/{id} (pages/help.py)."""
from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from datetime import datetime

from fastapi.responses import RedirectResponse
from nicegui import ui

from components import dialogs
from components.actions import attempt
from components.frame import frame
from components.kb_editor import ArticleEditor
from components.markdown import to_html
from components.session import STAFF, require_user
from pages.params import OptionalRowId, RowId, ShortText, desk_page
from pulse_live import auth
from pulse_live.models import Role, User
from pulse_live.queries import catalog
from pulse_live.queries import kb as kb_queries
from pulse_live.services import kb

KB_STYLE = '''
.kb-article h1 { font-size: 1.5rem; line-height: 2rem; font-weight: 600; margin: 0 0 .75rem; letter-spacing: 0; }
.kb-article h2 { font-size: 1.2rem; line-height: 1.6rem; font-weight: 600; margin: 1rem 0 .5rem; letter-spacing: 0; }
.kb-article h3 { font-size: 1.05rem; line-height: 1.4rem; font-weight: 600; margin: .75rem 0 .25rem; }
.kb-article blockquote { border-left: 3px solid #cbd5e1; padding: .25rem .75rem; color: #475569; margin: 0 0 .6rem; }
.kb-article p { margin: 0 0 .6rem; line-height: 1.55; }
.kb-article ul, .kb-article ol { margin: 0 0 .6rem 1.25rem; list-style: revert; }
.kb-article img { max-width: 100%; border-radius: .375rem; border: 1px solid #e2e8f0; }
.kb-article code { background: #f1f5f9; padding: 0 .25rem; border-radius: .25rem; }
.kb-article pre { background: #f1f5f9; padding: .5rem .75rem; border-radius: .375rem; overflow-x: auto; }
.kb-diff { font-family: ui-monospace, monospace; font-size: .8rem; white-space: pre-wrap; }
.kb-diff .added { background: #dcfce7; color: #14532d; }
.kb-diff .removed { background: #fee2e2; color: #7f1d1d; text-decoration: line-through; }
.kb-diff .gap { color: #94a3b8; }
'''


def style() -> None:
    ui.add_css(KB_STYLE)


# Rendered articles (title and body as HTML), by article, version, last change, variant and a digest of the text
# itself (a database made afresh, as in the tests, may hand out the same id and version again): a long article takes
# a second or more to render, and the help centre is read by anybody. The last RENDERED_KEPT are kept.
_RENDERED: OrderedDict[tuple[int, int, datetime, str, bytes], str] = OrderedDict()
_RENDERING: dict[tuple[int, int, datetime, str, bytes], asyncio.Future[str]] = {}
RENDERED_KEPT = 64
RENDER_IN_THREAD = 20_000  # characters: a longer body is rendered beside the event loop


async def article_html(article: kb_queries.ArticleView, variant: str) -> str:
    """The article's title and body as HTML (the one safe renderer), rendered once per version of the text and
    ``variant`` ('staff': /kb; 'public': the portal's Help and /help); readers opening it at the same time wait for
    the one rendering."""
    digest = hashlib.blake2b(f'{article.title}\0{article.body}'.encode('utf-8', 'surrogatepass'),
                             digest_size=16).digest()
    key = (article.id, article.version, article.updated_at, variant, digest)
    html = _RENDERED.get(key)
    if html is not None:
        _RENDERED.move_to_end(key)
        return html
    pending = _RENDERING.get(key)
    if pending is None:
        pending = _RENDERING[key] = asyncio.ensure_future(_render(article.title, article.body))
        pending.add_done_callback(lambda _: _RENDERING.pop(key, None))
    html = await asyncio.shield(pending)
    _RENDERED[key] = html
    while len(_RENDERED) > RENDERED_KEPT:
        _RENDERED.popitem(last=False)
    return html


async def _render(title: str, body: str) -> str:
    rendered = await asyncio.to_thread(to_html, body) if len(body) > RENDER_IN_THREAD else to_html(body)
    return f'<h1>{_escape(title)}</h1>' + rendered


def when(moment: datetime | None) -> str:
    return f'{moment:%Y-%m-%d %H:%M}' if moment else 'never'


def badges(visibility: str, status: str) -> None:
    ui.badge('Public' if visibility == 'public' else 'Internal',
             color='teal' if visibility == 'public' else 'amber-9').props('outline').mark('kb-visibility-badge')
    ui.badge('Published' if status == 'published' else 'Draft',
             color='positive' if status == 'published' else 'grey').mark('kb-status-badge')


def category_tree_nav(tree: list[kb_queries.CategoryNode], selected: int | None, base: str) -> None:
    with ui.column().classes('gap-0 w-56 shrink-0').mark('kb-categories'):
        ui.label('Categories').classes('text-xs uppercase tracking-wide text-slate-500 mb-1')
        ui.link('All articles', base).classes(
            'no-underline px-2 py-1 rounded ' + ('bg-blue-50 text-blue-800 font-medium' if selected is None
                                                else 'text-slate-700'))
        for c in tree:
            ui.link(f'{c.name} ({c.articles})' if c.articles else c.name, f'{base}?category={c.id}') \
                .classes('no-underline py-1 rounded text-sm ' + ('bg-blue-50 text-blue-800 font-medium'
                                                                  if c.id == selected else 'text-slate-700')) \
                .style(f'padding-left: {0.5 + c.depth}rem').mark('kb-category-link')


async def categories_dialog(user: User) -> None:
    tree = await kb_queries.category_tree(user)
    if (dialog := dialogs.single('kb-categories')) is None:
        return
    with dialog, ui.card().classes('w-[34rem] max-w-full gap-2'):
        ui.label('Categories').classes('text-lg font-medium')
        options: dict[int | None, str] = {None: '— top level —'}
        options.update({c.id: ('\u2003' * c.depth) + c.name for c in tree})
        with ui.column().classes('w-full gap-1 max-h-72 overflow-auto'):
            for c in tree:
                with ui.row().classes('w-full items-center gap-2 no-wrap').mark('kb-category-row'):
                    ui.label(c.name).classes('grow text-sm').style(f'padding-left: {c.depth}rem')

                    def edit(c: kb_queries.CategoryNode = c) -> None:
                        editing['id'] = c.id
                        name.value, parent.value, position.value = c.name, c.parent_id, c.position
                        save_button.set_text(f'Save "{c.name}"')
                    ui.button(icon='edit', on_click=edit).props('flat dense round size=sm').mark('kb-category-edit')

                    async def remove(c: kb_queries.CategoryNode = c) -> None:
                        if await attempt(kb.delete_category(actor=user, category_id=c.id),
                                         success=f'{c.name} deleted'):
                            dialog.close()
                            await categories_dialog(user)
                    ui.button(icon='delete', on_click=remove).props('flat dense round size=sm color=negative')
        ui.separator()
        editing: dict[str, int | None] = {'id': None}
        name = ui.input('Name').props('outlined dense').classes('w-full').mark('kb-category-name')
        with ui.row().classes('w-full gap-2'):
            parent = ui.select(options, value=None, label='Inside').props('outlined dense').classes('grow') \
                .mark('kb-category-parent')
            position = ui.number('Position', value=None, min=0, max=100000, precision=0) \
                .props('outlined dense').classes('w-28')
        with ui.row().classes('w-full justify-end gap-2'):
            ui.button('Close', on_click=dialog.close).props('flat no-caps')

            async def save() -> None:
                pos = int(position.value) if position.value is not None else None
                if await attempt(kb.save_category(actor=user, name=name.value or '', parent_id=parent.value,
                                                  position=pos, category_id=editing['id']),
                                 success='Category saved'):
                    dialog.close()
                    ui.navigate.reload()
            save_button = ui.button('Add category', on_click=save).props('no-caps unelevated') \
                .mark('kb-category-save')
    dialog.open()


@desk_page('/kb')
async def kb_list_page(category: OptionalRowId = 0, q: ShortText = '', status: ShortText = '',
                       visibility: ShortText = '') -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    style()
    tree = await kb_queries.category_tree(user)
    known = {c.id for c in tree}
    selected = category if category in known else None
    rows = await kb_queries.article_list(user, category_id=selected, text=q, status=status, visibility=visibility)
    help_open = await kb_queries.help_centre_open()
    with frame('Knowledge base', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Knowledge base').classes('text-2xl font-semibold')
            ui.space()
            if user.role == Role.ADMIN:
                async def toggle(e) -> None:
                    if not await attempt(kb.set_public_help_centre(actor=user, open_=bool(e.value)),
                                         success='Public help centre ' + ('opened' if e.value else 'closed')):
                        e.sender.value = not e.value
                ui.switch('Public help centre at /help', value=help_open, on_change=toggle).mark('kb-help-switch')
            ui.button('Categories', icon='account_tree', on_click=lambda: categories_dialog(user)) \
                .props('outline no-caps').mark('kb-categories-button')
            ui.button('New article', icon='add', on_click=lambda: ui.navigate.to('/kb/new')) \
                .props('unelevated no-caps').mark('kb-new')
        if category and selected is None:
            ui.label('That category does not exist (any more): showing all articles.') \
                .classes('text-sm text-amber-800').mark('kb-notice')
        with ui.row().classes('w-full gap-6 items-start no-wrap'):
            category_tree_nav(tree, selected, '/kb')
            with ui.column().classes('grow gap-2 min-w-0'):
                def go(**changes: str) -> None:
                    params = {'category': str(selected or ''), 'q': q, 'status': status, 'visibility': visibility}
                    params.update(changes)
                    ui.navigate.to('/kb?' + '&'.join(f'{k}={v}' for k, v in params.items() if v))
                with ui.row().classes('w-full items-center gap-3'):
                    ui.input('Find in titles and text', value=q,
                             on_change=lambda e: go(q=(e.value or '').strip())) \
                        .props('dense outlined clearable debounce=500').classes('w-72').mark('kb-search')
                    ui.select({'': 'Any status', 'draft': 'Drafts', 'published': 'Published'}, value=status
                              if status in ('draft', 'published') else '', on_change=lambda e: go(status=e.value)) \
                        .props('dense outlined').classes('w-36').mark('kb-status-filter')
                    ui.select({'': 'Public and internal', 'public': 'Public', 'internal': 'Internal'},
                              value=visibility if visibility in ('public', 'internal') else '',
                              on_change=lambda e: go(visibility=e.value)).props('dense outlined').classes('w-44')
                if not rows:
                    ui.label('No articles here yet.').classes('text-slate-500 py-6').mark('kb-empty')
                for row in rows:
                    with ui.card().classes('w-full gap-1 p-3').props('flat bordered').mark('kb-row'):
                        with ui.row().classes('w-full items-center gap-2'):
                            ui.link(row.title, f'/kb/{row.id}').classes('font-medium text-slate-900 no-underline') \
                                .mark('kb-row-title')
                            badges(row.visibility, row.status)
                            ui.space()
                            ui.label(f'{row.helpful_yes} 👍 · {row.helpful_no} 👎').classes('text-xs text-slate-500')
                        if row.excerpt:
                            ui.label(row.excerpt).classes('text-sm text-slate-600')
                        ui.label(' · '.join(p for p in (row.category, ', '.join(f'#{t}' for t in row.tags),
                                                        f'updated {when(row.updated_at)}',
                                                        f'reviewed {when(row.last_reviewed_at)}') if p)) \
                            .classes('text-xs text-slate-500')


@desk_page('/kb/new')
async def kb_new_page(ticket: OptionalRowId = 0) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    style()
    prefill = await kb_queries.prefill_from_ticket(user, ticket) if ticket else None
    with frame('New article', user):
        ui.label('New article').classes('text-2xl font-semibold')
        if ticket and prefill is None:
            ui.label('That ticket does not exist: starting from an empty article.').classes('text-sm text-amber-800')

        async def saved(article_id: int) -> None:
            ui.navigate.to(f'/kb/{article_id}')
        ArticleEditor(user, article=None, categories=await kb_queries.category_tree(user),
                      services=await catalog.services(), saved=saved, prefill=prefill)


def not_found(user: User) -> None:
    with frame('Not found', user):
        ui.label('Article not found').classes('text-2xl font-semibold')
        ui.label('It does not exist (any more).').classes('text-slate-500')
        ui.link('Back to the knowledge base', '/kb')


@desk_page('/kb/{article_id}/edit')
async def kb_edit_page(article_id: RowId) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    style()
    article = await kb_queries.article(user, article_id)
    if article is None:
        not_found(user)
        return
    with frame(f'Edit {article.title}', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label(f'Edit article · version {article.version}').classes('text-2xl font-semibold')
            ui.space()
            if user.role in (Role.MANAGER, Role.ADMIN):  # agents unpublish instead (services/kb.py)
                ui.button('Delete', icon='delete', on_click=delete_dialog(user, article).open) \
                    .props('flat no-caps color=negative').mark('kb-delete')
            ui.link('Back to the article', f'/kb/{article.id}')

        async def saved(saved_id: int) -> None:
            ui.navigate.to(f'/kb/{saved_id}')
        ArticleEditor(user, article=article, categories=await kb_queries.category_tree(user),
                      services=await catalog.services(), saved=saved, preview=await article_html(article, 'staff'))


def delete_dialog(user: User, article: kb_queries.ArticleView) -> ui.dialog:
    """Ask first: deleting removes the article, its history and its links to tickets for good (and from search)."""
    with ui.dialog() as dialog, ui.card().classes('w-[28rem] max-w-full gap-3').mark('kb-delete-dialog'):
        ui.label(f'Delete "{article.title}"?').classes('text-lg font-medium')
        ui.label('The article, its history and its links to tickets are removed for good. Customers and search '
                 'no longer find it. To hide it for now, set it to Draft instead.').classes('text-sm text-slate-600')
        with ui.row().classes('w-full justify-end gap-2'):
            ui.button('Keep it', on_click=dialog.close).props('flat no-caps').mark('kb-delete-cancel')

            async def delete() -> None:
                if await attempt(kb.delete_article(actor=user, article_id=article.id),
                                 success=f'Deleted "{article.title}"'):
                    dialog.close()
                    ui.navigate.to('/kb')
            ui.button('Delete for good', icon='delete', on_click=delete) \
                .props('unelevated no-caps color=negative').mark('kb-delete-confirm')
    return dialog


def show_diff(d: kb_queries.VersionDiff) -> None:
    with ui.element('div').classes('kb-diff w-full border border-slate-200 rounded bg-white p-2').mark('kb-diff'):
        if not d.lines:
            ui.label('No change in the text.').classes('text-slate-500')
        for line in d.lines:
            marker = {'added': '+ ', 'removed': '− ', 'same': '  ', 'gap': ''}[line.kind]
            ui.label(f'{marker}{line.text}').classes(f'{line.kind} px-1').mark(f'kb-diff-{line.kind}')


@desk_page('/kb/{article_id}')
async def kb_article_page(article_id: RowId, version: OptionalRowId = 0):
    user = await require_user()
    if user is None:
        return None
    if not auth.is_staff(user):  # an article link in a reply: customers read it in the portal's Help section
        return RedirectResponse(f'/portal/help/{article_id}', status_code=303)
    style()
    article = await kb_queries.article(user, article_id)
    if article is None:
        not_found(user)
        return None
    history = await kb_queries.versions(user, article_id)
    body_html = await article_html(article, 'staff')
    shown = version if any(v.version == version for v in history) else (history[0].version if history else 0)
    with frame(article.title, user):
        with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-3 gap-6'):
            with ui.column().classes('lg:col-span-2 gap-3 min-w-0'):
                with ui.row().classes('w-full items-center gap-2'):
                    badges(article.visibility, article.status)
                    ui.label(f'Version {article.version}').classes('text-xs text-slate-500').mark('kb-version')
                    ui.space()
                    ui.button('Edit', icon='edit', on_click=lambda: ui.navigate.to(f'/kb/{article.id}/edit')) \
                        .props('unelevated no-caps').mark('kb-edit')

                    async def reviewed() -> None:
                        done = await attempt(kb.mark_reviewed(actor=user, article_id=article.id),
                                             success='Marked as reviewed')
                        if done:
                            reviewed_label.set_text(f'Last reviewed {when(done.value.last_reviewed_at)} '
                                                    f'by {user.display_name}')
                    ui.button('Mark reviewed', icon='verified', on_click=reviewed).props('outline no-caps') \
                        .mark('kb-mark-reviewed')
                ui.html(body_html, sanitize=False).classes('chatter-body kb-article w-full').mark('kb-article-body')
                if article.attachments:
                    with ui.row().classes('gap-2'):
                        for f in article.attachments:
                            ui.link(f'📎 {f.filename}', f'/help/files/{f.id}', new_tab=True).classes('text-sm')
            with ui.column().classes('gap-3 min-w-0'):
                with ui.card().classes('w-full gap-1').props('flat bordered').mark('kb-meta'):
                    meta = [('Category', article.category or '—'), ('Service', article.service or '—'),
                            ('Tags', ', '.join(f'#{t}' for t in article.tags) or '—'),
                            ('Author', article.author or '—'), ('Updated', when(article.updated_at)),
                            ('Published', when(article.published_at)),
                            ('Helped', f'{article.helpful_yes} yes · {article.helpful_no} no'),
                            ('Solved requests', str(article.deflections))]
                    for label, value in meta:
                        with ui.row().classes('w-full text-sm gap-2 no-wrap'):
                            ui.label(label).classes('w-28 text-slate-500 shrink-0')
                            ui.label(value).classes('break-words min-w-0')
                    reviewed_label = ui.label(
                        f'Last reviewed {when(article.last_reviewed_at)}'
                        + (f' by {article.last_reviewed_by}' if article.last_reviewed_by else '')) \
                        .classes('text-sm text-slate-600').mark('kb-reviewed')
                with ui.card().classes('w-full gap-1').props('flat bordered').mark('kb-tickets'):
                    ui.label('Linked tickets').classes('font-medium')
                    if not article.tickets:
                        ui.label('None yet.').classes('text-sm text-slate-500')
                    for t in article.tickets:
                        with ui.row().classes('items-center gap-2 no-wrap text-sm'):
                            ui.link(t.reference, f'/tickets/{t.reference}').classes('font-mono') \
                                .mark('kb-ticket-link')
                            ui.label(t.title).classes('truncate')
                with ui.card().classes('w-full gap-1').props('flat bordered').mark('kb-history'):
                    ui.label('History').classes('font-medium')
                    for v in history:
                        with ui.row().classes('w-full items-center gap-2 no-wrap text-sm'):
                            ui.link(f'v{v.version}', f'/kb/{article.id}?version={v.version}') \
                                .classes('font-mono ' + ('font-bold' if v.version == shown else '')) \
                                .mark('kb-history-version')
                            ui.label(f'{when(v.created_at)} · {v.author or "—"}').classes('grow truncate')
                            ui.label(f'+{v.added} −{v.removed}').classes('text-xs text-slate-500')
        if shown:
            d = await kb_queries.diff(user, article.id, shown)
            if d is not None:
                ui.label(f'Changes in version {d.new_version}'
                         + (f' (against version {d.old_version})' if d.old_version else ' (first version)')) \
                    .classes('text-lg font-medium').mark('kb-diff-title')
                show_diff(d)
    return None


def _escape(text: str) -> str:
    import html
    return html.escape(text)
