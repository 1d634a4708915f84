"""The portal's new-request form: public articles matching what the customer has typed so far, live, under the
form. "This solved it" ends the request without a ticket and counts a deflection on the article
(``services/kb.record_deflection``)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import app, ui

from pulse_live.models import User
from pulse_live.queries import search as search_queries
from pulse_live.services import kb

from . import css
from .actions import attempt
from .search_box import SEARCH_CSS

MIN_TEXT = 3  # characters typed before anything is suggested
DEBOUNCE_S = 0.3


def _reader() -> str | None:
    """This browser's session (hashed by the service): a deflection counts once per reader and article."""
    try:
        return str(app.storage.browser.get('id') or '') or None
    except RuntimeError:
        return None


class ArticleSuggestions:
    """Call ``update(text)`` at every change of the form: it waits for a pause in the typing (``DEBOUNCE_S``; the
    inputs themselves are not debounced, so what is sent is always what was typed) and drops answers of an older
    text."""

    def __init__(self, user: User, *, on_solved: Callable[[], None]) -> None:
        css.add_once(SEARCH_CSS)
        self.user, self._on_solved = user, on_solved
        self._seq = 0
        self.card = ui.card().classes('w-full max-w-3xl gap-2 p-4 bg-sky-50 border-sky-200') \
            .props('flat bordered').mark('article-suggestions')
        self.card.set_visibility(False)

    async def update(self, text: str) -> None:
        self._seq += 1
        seq = self._seq
        await asyncio.sleep(DEBOUNCE_S)
        if seq != self._seq:
            return  # typed on: the newer call answers
        text = (text or '').strip()
        hits = await search_queries.related_articles(self.user, text, limit=4) if len(text) >= MIN_TEXT else []
        if seq != self._seq or self.card.is_deleted:
            return
        self.card.clear()
        self.card.set_visibility(bool(hits))
        if not hits:
            return
        with self.card:
            with ui.row().classes('items-center gap-2'):
                ui.icon('lightbulb', color='amber-8')
                ui.label('These articles may answer it already').classes('font-medium')
            for hit in hits:
                with ui.row().classes('w-full no-wrap items-start gap-3 py-1 search-hit').mark('suggested-article'):
                    with ui.column().classes('gap-0 grow min-w-0'):
                        with ui.link(target=f'/portal/help/{hit.id}', new_tab=True).classes('search-hit'):
                            ui.html(hit.title_html, sanitize=False).classes('font-medium text-primary')
                        if hit.snippet_html:
                            ui.html(hit.snippet_html, sanitize=False).classes('text-sm text-slate-600 line-clamp-2')
                    ui.button('This solved it', icon='check',
                              on_click=lambda hit=hit: self._solved(hit.id)) \
                        .props('outline dense no-caps color=positive').classes('shrink-0').mark('this-solved-it')

    async def _solved(self, article_id: int) -> None:
        if await attempt(kb.record_deflection(article_id=article_id, reader=_reader(), viewer=self.user)):
            self._on_solved()
