"""Safe markdown for chatter messages on screen: the one renderer of ``pulse_live/markdown.py`` in a ``ui.html``."""
from __future__ import annotations

from nicegui import ui

from pulse_live.markdown import to_html

__all__ = ['markdown', 'to_html']


def markdown(text: str, mentions: list[str] | None = None) -> ui.html:
    return ui.html(to_html(text, mentions), sanitize=False).classes('chatter-body')
