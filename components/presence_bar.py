"""Avatars of who views the ticket now, and who is typing."""
from __future__ import annotations

from nicegui import ui

from .badges import avatar
from .render import render_boundary


class PresenceBar:
    def __init__(self, viewer_id: int) -> None:
        self.viewer_id = viewer_id
        self._shown: list[tuple[int, str]] | None = None
        # each in a render boundary: a viewer joining or somebody starting to type re-renders only this, not the
        # whole ticket page of every viewer
        with ui.row().classes('items-center gap-1'):
            ui.icon('visibility', size='xs').classes('text-slate-400')
            with render_boundary():
                self.avatars = ui.row().classes('gap-1').mark('presence')
        with render_boundary():
            self.typing = ui.label('').classes('text-xs text-slate-500 italic h-4').mark('typing')

    def show(self, data: dict) -> None:
        viewers = [(v['user_id'], v['name']) for v in data.get('viewers', [])]
        if viewers != self._shown:  # rebuild the avatars only when the set of viewers changed
            self._shown = viewers
            self.avatars.clear()
            with self.avatars:
                for user_id, name in viewers:
                    avatar(name, color='green' if user_id != self.viewer_id else 'grey').mark('viewer')
        names = [t['name'] for t in data.get('typing', []) if t['user_id'] != self.viewer_id]
        text = ''
        if len(names) == 1:
            text = f'{names[0]} is typing…'
        elif names:
            text = f'{", ".join(names)} are typing…'
        if text != self.typing.text:
            self.typing.set_text(text)
