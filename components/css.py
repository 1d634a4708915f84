"""CSS a component adds to its page, once per page.

``ui.add_css`` appends to the page's head every time it is called: in the browser a ``<style>`` more (every later
style recalculation matches its rules again), on the server the page's head text grows. A component built again on
the same page — a ticket opened in place (components/in_app.py) builds a new chatter and related panel each time —
adds its CSS once.
"""
from __future__ import annotations

import hashlib

from nicegui import ui


def add_once(css: str) -> None:
    """``ui.add_css(css)`` unless this page has it already."""
    client = ui.context.client
    added: set[str] = client.__dict__.setdefault('pulse_css', set())
    key = hashlib.sha1(css.encode(), usedforsecurity=False).hexdigest()
    if key in added:
        return
    added.add(key)
    ui.add_css(css)
