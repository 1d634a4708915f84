"""Avatars of who views the ticket now, and who is typing."""
from __future__ import annotations

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

    def show_ticket(self, ticket_id: int) -> None:
        """Show who is on the ticket now (one snapshot per presence change for all its pages)."""
        self.show(live.presence_snapshot(ticket_id))

    def show(self, data: dict) -> None:
        viewers = [(v['user_id'], v['name']) for v in data.get('viewers', [])]
        if viewers != self._shown:  # rebuilt only when the set of viewers changed
            self._shown = viewers
            self.avatars.set_content(''.join(avatar_html(name, 'green' if user_id != self.viewer_id else 'grey')
                                             for user_id, name in viewers))
        names = [t['name'] for t in data.get('typing', []) if t['user_id'] != self.viewer_id]
        text = ''
        if len(names) == 1:
            text = f'{names[0]} is typing…'
        elif names:
            text = f'{", ".join(names)} are typing…'
        if text != self.typing.text:
            self.typing.set_text(text)
