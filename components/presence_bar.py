"""Avatars of who views the ticket now, and who is typing."""
from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui

from . import live
from .chatter_html import avatar_html
from .render import render_boundary


class PresenceBar:
    """Two elements, each in a render boundary, each updated only when what it shows changed: the avatars (one static
    HTML block, the markup of the avatars it replaced; their names are tooltips) and the typing line. A typing start
    or stop therefore costs a page nothing unless its typing line changes, and a viewer joining one element update."""

    def __init__(self, viewer_id: int) -> None:
        self.viewer_id = viewer_id
        self._shown: list[tuple[int, str]] | None = None
        # each in a render boundary: a viewer joining or somebody starting to type re-renders only this, not the
        # whole ticket page of every viewer
        with ui.row().classes('items-center gap-1'):
            ui.icon('visibility', size='xs').classes('text-slate-400')
            with render_boundary():
                self.avatars = ui.html('', sanitize=False).classes('nicegui-row row gap-1').mark('presence')
        with render_boundary():
            self.typing = ui.label('').classes('text-xs text-slate-500 italic h-4').mark('typing')
        # the browser finds it when a live entry arrives for many pages at once (live_entries.TAIL_JS); its own id,
        # as the DOM element's id is the render boundary's
        self.typing.props['data-typing'] = str(self.typing.id)
        self._typists: list[tuple[int, str]] = []  # who the typing line names now

    def show_ticket(self, ticket_id: int) -> None:
        """Show who is on the ticket now (one snapshot per presence change for all its pages)."""
        self.show(live.presence_snapshot(ticket_id))

    def show(self, data: dict) -> None:
        viewers = [(v['user_id'], v['name']) for v in data.get('viewers', [])]
        if viewers != self._shown:  # rebuilt only when the set of viewers changed
            self._shown = viewers
            self.avatars.set_content(''.join(avatar_html(name, 'green' if user_id != self.viewer_id else 'grey')
                                             for user_id, name in viewers))
        self._show_typing([(t['user_id'], t['name']) for t in data.get('typing', []) if t['user_id'] != self.viewer_id])

    @property
    def typists(self) -> list[tuple[int, str]]:
        """Who the typing line names: (user id, name)."""
        return self._typists

    def posted(self, author_ids: set[int]) -> None:
        """Entries by these people were just shown on this page: their typing marks go with them, in the same update
        (one change in the browser, not the entry and, a moment later, the typing line; presence's own word that they
        stopped comes later and finds nothing left to change)."""
        rest = [t for t in self._typists if t[0] not in author_ids]
        if rest != self._typists:
            self._show_typing(rest)

    def posted_in_browser(self, names: Sequence[str]) -> None:
        """The browser was sent these authors' entries in one message for many pages, and clears a typing line that
        names exactly one of them itself (``live_entries.TAIL_JS``, by the same rule): the line here is cleared to
        match, and nothing is sent."""
        if self.typing.text in {typing_text([name]) for name in names}:
            self._typists = []
            self.typing.set_text('')
            self.typing.client.outbox.updates.pop(self.typing.id, None)  # the browser did it already

    def _show_typing(self, typists: list[tuple[int, str]]) -> None:
        self._typists = typists
        text = typing_text([name for _, name in typists])
        if text != self.typing.text:
            self.typing.set_text(text)


def typing_text(names: Sequence[str]) -> str:
    """The typing line: mirrored in the browser by ``live_entries.TAIL_JS`` for one name."""
    if len(names) == 1:
        return f'{names[0]} is typing…'
    return f'{", ".join(names)} are typing…' if names else ''
