"""Render boundaries: keep a live change's browser-side re-render to its own part of the page."""
from __future__ import annotations

from nicegui import ui


def render_boundary() -> ui.element:
    """A Vue component around one child element, so that changes inside it re-render only its subtree.

    NiceGUI's browser side renders plain elements (div, row, column, label, html) as part of the render function of
    the nearest enclosing Vue *component*; for everything in the page content that is Quasar's QPage. Without a
    boundary, one changed label makes the browser rebuild the virtual DOM of the whole page (every chatter entry,
    every editor, every avatar: NiceGUI passes new slot functions each time, so every child component re-renders
    too). That cost grows with the page and is paid by every open view for every live change. QNoSsr renders its
    single child as is (no extra DOM element) and only re-renders when something inside it changes.
    """
    return ui.element('q-no-ssr')
