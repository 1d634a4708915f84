"""The agents' ticket page panel: similar tickets (resolved and closed ones first, with their resolution) and related
articles, found by the ticket's title and description (``queries/search.py``). Read when the page opens and when
the title or description changes."""
from __future__ import annotations

from nicegui import ui

from pulse_live.models import User
from pulse_live.queries import search as search_queries

from . import css
from .search_box import SEARCH_CSS, hit_row

FIELDS = frozenset({'title', 'description'})  # a change of these changes what is related


class RelatedPanel:
    def __init__(self, user: User, ticket_id: int) -> None:
        css.add_once(SEARCH_CSS)
        self.user, self.ticket_id = user, ticket_id
        with ui.expansion('Similar tickets and articles', icon='travel_explore', value=True) \
                .classes('w-full border border-slate-200 rounded-lg') \
                .props('dense header-class="text-sm font-medium"') \
                .mark('related-panel'):
            self.body = ui.column().classes('w-full gap-0')

    async def load(self) -> None:
        similar = await search_queries.similar_tickets(self.user, self.ticket_id)
        articles = await search_queries.related_articles(
            self.user, await search_queries.ticket_text(self.user, self.ticket_id))
        if self.body.is_deleted:
            return
        self.body.clear()
        with self.body:
            ui.label('Similar tickets').classes('text-xs font-semibold uppercase tracking-wide text-slate-500 px-2')
            with ui.column().classes('w-full gap-0').mark('similar-tickets'):
                for hit in similar:
                    hit_row(hit, staff=True, dense=True)
                if not similar:
                    ui.label('None found.').classes('text-xs text-slate-400 px-2 pb-1')
            ui.label('Related articles').classes('text-xs font-semibold uppercase tracking-wide text-slate-500 '
                                                 'px-2 pt-2')
            with ui.column().classes('w-full gap-0').mark('related-articles'):
                for hit in articles:
                    hit_row(hit, staff=True, dense=True)
                if not articles:
                    ui.label('None found.').classes('text-xs text-slate-400 px-2 pb-1')
