"""The agents' ticket page panel: similar tickets (resolved and closed ones first, with their resolution) and related
articles, found by the ticket's title and description (``queries/search.py``). Read when the page opens and when
the title or description changes."""
from __future__ import annotations

from nicegui import ui

from pulse_live.models import User
from pulse_live.queries import search as search_queries
from pulse_live.queries.search import Hit

from . import css
from .search_box import SEARCH_CSS, hit_link_html

FIELDS = frozenset({'title', 'description'})  # a change of these changes what is related


class RelatedPanel:
    def __init__(self, user: User, ticket_id: int) -> None:
        css.add_once(SEARCH_CSS)
        self.user, self.ticket_id = user, ticket_id
        with ui.expansion('Similar tickets and articles', icon='travel_explore', value=True) \
                .classes('w-full border border-slate-200 rounded-lg') \
                .props('dense header-class="text-sm font-medium"') \
                .mark('related-panel'):
            # one static block (the markup its labels, columns and hit links rendered to): it was 7 elements with no
            # hits and 2 more per hit (up to ten), built for every agent's ticket page and held while it is open
            self.body = ui.html('', sanitize=False).classes('nicegui-column w-full gap-0').mark('related-body')

    async def load(self) -> None:
        similar, articles = await search_queries.related_to_ticket(self.user, self.ticket_id)
        if self.body.is_deleted:
            return
        self.body.set_content(body_html(similar, articles))


HEADING = 'text-xs font-semibold uppercase tracking-wide text-slate-500 px-2'
NONE_FOUND = '<div class="text-xs text-slate-400 px-2 pb-1">None found.</div>'


def body_html(similar: list[Hit], articles: list[Hit]) -> str:
    """The panel's content: each group under its heading, each hit a link to it (``hit_link_html``)."""
    def group(mark: str, hits: list[Hit]) -> str:
        rows = ''.join(hit_link_html(hit, staff=True, dense=True) for hit in hits) or NONE_FOUND
        return f'<div class="nicegui-column w-full gap-0" data-mark="{mark}">{rows}</div>'
    return (f'<div class="{HEADING}">Similar tickets</div>{group("similar-tickets", similar)}'
            f'<div class="{HEADING} pt-2">Related articles</div>{group("related-articles", articles)}')
