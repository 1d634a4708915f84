"""The header's search box (grouped results as you type) and the rendering of a hit, shared with the results page.

The input is debounced in the browser (``debounce``), each answer is the viewer's own read
(``queries/search.py``), and an answer that arrives after the user typed on is dropped: the list never shows an
older query's results. Enter (or "All results") opens ``/search?q=…``. A message hit lands on its entry in the
ticket's chatter (``?entry=<id>``, see ``components/chatter.py``).
"""
from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

from nicegui import ui

from pulse_live import auth
from pulse_live.models import User
from pulse_live.queries import search as search_queries
from pulse_live.queries.search import Hit, Results

from . import css, in_app, markup
from .badges import STATUS_COLORS

ICONS = {'ticket': 'confirmation_number', 'message': 'chat', 'article': 'menu_book', 'customer': 'person',
         'organisation': 'business'}
SEARCH_CSS = '''
.search-hit mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.search-hit { text-decoration: none; color: inherit; }
'''


def hit_url(hit: Hit, *, staff: bool) -> str:
    ref = quote(hit.reference, safe='')
    if hit.kind == 'ticket':
        return f'/tickets/{ref}' if staff else f'/portal/requests/{ref}'
    if hit.kind == 'message':
        base = f'/tickets/{ref}' if staff else f'/portal/requests/{ref}'
        return f'{base}?entry={hit.id}'
    if hit.kind == 'article':
        return f'/kb/{hit.id}' if staff else f'/portal/help/{hit.id}'
    if hit.kind == 'customer':
        return f'/customers/{hit.id}'
    return f'/customers?{urlencode({"organisation": hit.id})}'


def results_url(text: str, **filters: str | int | None) -> str:
    params = {'q': text, **{k: v for k, v in filters.items() if v}}
    return '/search?' + urlencode(params)


HIT_ROW_CLASSES = 'nicegui-row w-full no-wrap items-start gap-2'


def _badge(text: str, color: str) -> str:
    """The markup of ``ui.badge(text, color=color).props('outline').classes('text-xs shrink-0')``."""
    return (f'<div class="q-badge flex inline items-center no-wrap q-badge--single-line q-badge--outline '
            f'text-{escape(color)} text-xs shrink-0" role="status">{escape(text)}</div>')


def hit_html(hit: Hit, *, dense: bool = False) -> str:
    """What one hit's row shows, as the markup its former elements rendered to (icon, highlighted title, badges, a
    line of facts, the snippet, the resolution). Nothing in it is interactive: the whole row is one link. Texts
    are escaped; the title and snippet are the search engine's highlighted HTML of escaped text
    (``search/text.py``)."""
    parts = [f'<i class="q-icon notranslate material-icons text-slate-500 mt-1" aria-hidden="true" '
             f'role="presentation" style="font-size: 18px;">{ICONS[hit.kind]}</i>',
             '<div class="nicegui-column gap-0 grow min-w-0">',
             '<div class="nicegui-row items-center gap-2 no-wrap min-w-0 w-full">',
             f'<div class="text-sm font-medium text-slate-800 truncate min-w-0">{hit.title_html or "(untitled)"}</div>']
    if hit.kind == 'ticket' and hit.status:
        parts.append(_badge(hit.status.replace('_', ' '), STATUS_COLORS.get(hit.status, 'grey')))
    if hit.internal:
        parts.append(_badge('Internal note' if hit.kind == 'message' else 'Internal', 'amber-8'))
    if hit.kind == 'article' and hit.status == 'draft':
        parts.append(_badge('Draft', 'grey'))
    parts.append('</div>')
    if hit.meta:
        parts.append(f'<div class="text-xs text-slate-500 truncate">{escape(hit.meta)}</div>')
    if hit.snippet_html:
        parts.append(f'<div class="text-xs text-slate-600 {"line-clamp-1" if dense else "line-clamp-2"}">'
                     f'{hit.snippet_html}</div>')
    if hit.resolution:
        parts.append(f'<div class="text-xs text-emerald-700 line-clamp-2">Resolution: {escape(hit.resolution)}</div>')
    parts.append('</div>')
    return ''.join(parts)


def hit_link_classes(dense: bool) -> str:
    return 'search-hit block w-full rounded px-2 ' + ('py-1' if dense else 'py-2') + ' hover:bg-slate-100'


def hit_link_html(hit: Hit, *, staff: bool, dense: bool = False) -> str:
    """One hit as the markup its elements rendered to (a ``ui.link`` holding the row ``hit_html``), for a block of
    hits that is one element."""
    return (f'<a class="nicegui-link {hit_link_classes(dense)}" href="{escape(hit_url(hit, staff=staff))}" '
            f'data-mark="search-hit search-{hit.kind}"><div class="{HIT_ROW_CLASSES}">{hit_html(hit, dense=dense)}'
            f'</div></a>')


SEPARATOR_CLASSES = 'q-separator q-separator--horizontal nicegui-separator'  # what ui.separator() renders


def grouped_html(results: Results, *, staff: bool, dense: bool, more_link: bool) -> str:
    """The groups that have hits, each under its name ("more" leads to that group on the results page), as the
    markup their columns, rows, labels and links rendered to: the results page shows up to hundreds of hits and the
    header's box 25, each two elements and a group five more, all built and held for the open page."""
    parts = []
    for group in results.groups:
        if not group.hits:
            continue
        more = (f'<a class="nicegui-link text-xs text-primary" '
                f'href="{escape(results_url(results.text, kind=group.kind))}">More</a>'
                if group.more and more_link else '')
        parts.append(f'<div class="nicegui-column w-full gap-0" data-mark="search-group-{escape(group.kind)}">'
                     '<div class="nicegui-row w-full items-center px-2 pt-2">'
                     + markup.label(group.label, 'text-xs font-semibold uppercase tracking-wide text-slate-500')
                     + f'<div class="q-space"></div>{more}</div>'
                     + ''.join(hit_link_html(hit, staff=staff, dense=dense) for hit in group.hits) + '</div>')
    return ''.join(parts)


def grouped(results: Results, *, staff: bool, dense: bool, more_link: bool) -> ui.html:
    """``grouped_html`` as one element, laid out in its container as the groups' own elements were."""
    return ui.html(grouped_html(results, staff=staff, dense=dense, more_link=more_link), sanitize=False) \
        .style('display: contents').mark('search-groups')


class SearchBox:
    """The header's box: results grouped by kind while typing (5 per group), Enter for the results page."""

    def __init__(self, user: User) -> None:
        css.add_once(SEARCH_CSS)
        self.user, self.staff = user, auth.is_staff(user)
        self._seq = 0
        self._searching = False
        placeholder = 'Search tickets, messages, articles, people…' if self.staff else 'Search my requests and help'
        self.input = ui.input(placeholder=placeholder, on_change=self._changed) \
            .props('dense outlined dark clearable debounce=250 color=white') \
            .classes('w-40 md:w-72 bg-slate-800 rounded').mark('header-search')
        with self.input.add_slot('prepend'):
            ui.icon('search', color='white')
        self.input.on('keydown.enter', self._open_results)
        with self.input:
            self.menu = ui.menu().props('no-parent-event no-focus no-refocus fit anchor="bottom left" self="top left" '
                                        'max-height=70vh transition-show=none transition-hide=none') \
                .classes('min-w-[24rem] max-w-[36rem] bg-white shadow-lg')
        with self.menu:  # the results: one static element (what a search found is only shown)
            self.panel = ui.html('', sanitize=False).classes('nicegui-column w-full gap-0 p-1') \
                .mark('header-search-results')
        in_app.on_open(self._reset)  # a hit opened in place: the box as on a new page

    def _reset(self) -> None:
        self.menu.close()
        self.input.set_value('')

    async def _changed(self) -> None:
        """One search at a time per box: a change while one runs only asks for another with the newest text when it
        ends (the browser's 250 ms debounce is the browser's; a socket sending 5,000 changes in 0.15 s kept the
        server busy for 26 s when every change searched)."""
        self._seq += 1
        if self._searching:
            return
        self._searching = True
        try:
            while True:
                seq = self._seq
                await self._search(seq)
                if seq == self._seq or self.panel.is_deleted:
                    return
        finally:
            self._searching = False

    async def _search(self, seq: int) -> None:
        value = self.input.value
        text = (value if isinstance(value, str) else '').strip()  # a crafted socket value: nothing
        if not text:
            self.menu.close()
            return
        results = await search_queries.search(self.user, text, per_group=5)
        if seq != self._seq or self.panel.is_deleted:
            return  # typed on meanwhile: a newer search answers
        found = markup.label(f'Nothing found for “{text}”.', 'text-sm text-slate-500 px-3 py-2',
                             mark='header-search-none') if results.empty \
            else grouped_html(results, staff=self.staff, dense=True, more_link=True)
        self.panel.set_content(
            found + f'<hr class="{SEPARATOR_CLASSES} my-1" aria-orientation="horizontal">'
            f'<a class="nicegui-link text-sm text-primary px-3 py-1" href="{escape(results_url(text))}" '
            'data-mark="header-search-all">All results</a>')
        self.menu.open()

    def _open_results(self) -> None:
        text = (self.input.value or '').strip()
        if text:
            ui.navigate.to(results_url(text))
