"""Static parts of a page as the markup NiceGUI's elements render to, for a block that is one ``ui.html`` element.

Every NiceGUI element is built, sent and held for each open page (its props, classes and style are observable
collections: ~4–5 KB of the server's memory per element and page). A heading row of an icon and a label is three;
as markup it is one element, and looks the same (the same tags and classes Quasar and NiceGUI render). Every text is
escaped here: nothing a user typed becomes markup.
"""
from __future__ import annotations

from html import escape

from nicegui import ui

ICON_SIZES = {'xs': '18px', 'sm': '24px', 'md': '32px'}  # Quasar's named sizes


def icon(name: str, classes: str = '', *, size: str = 'xs') -> str:
    """``ui.icon(name, size=size).classes(classes)``."""
    cls = f'q-icon notranslate material-icons {classes}'.strip()
    return (f'<i class="{escape(cls)}" aria-hidden="true" role="presentation" '
            f'style="font-size: {ICON_SIZES.get(size, size)};">{escape(name)}</i>')


def label(text: str, classes: str = '', *, mark: str = '', **attrs: str) -> str:
    """``ui.label(text).classes(classes)`` (``mark``: a ``data-mark`` attribute tests and scripts can find; ``attrs``:
    more attributes, an empty value written bare)."""
    cls = f' class="{escape(classes)}"' if classes else ''
    if mark:
        attrs = {'data-mark': mark, **attrs}
    extra = ''.join(f' {name}="{escape(value)}"' if value else f' {name}' for name, value in attrs.items())
    return f'<div{cls}{extra}>{escape(text)}</div>'


def row(classes: str, *parts: str) -> ui.html:
    """``with ui.row().classes(classes): …`` whose children are static ``parts`` (already markup): one element."""
    return ui.html(''.join(parts), sanitize=False).classes(f'nicegui-row {classes}')


def column(classes: str, *parts: str) -> ui.html:
    """``with ui.column().classes(classes): …`` of static ``parts``: one element."""
    return ui.html(''.join(parts), sanitize=False).classes(f'nicegui-column {classes}')
