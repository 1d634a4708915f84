"""Dialogs built per click: one of a kind open at a time on a page, and gone once closed.

Each click on "Assign…" built a new dialog with its choice list (every agent), never removed: a script's 600 clicks
(within the event budget) took the server from 257 MB to 783 MB and held its loop 4.2 s; "Add item" on a customer
offered the whole organisation (10,002 people) per click. A dialog made with ``single`` leaves the page a moment
after it closes (Escape, the backdrop, Cancel or its own action: the code after ``dialog.close()`` still runs in it,
e.g. a notice or a navigation), and while one of its kind is being built or is open a further click builds nothing.
"""
from __future__ import annotations

import asyncio
import time

from nicegui import ui

REMOVED_AFTER_S = 1.0  # a closed dialog goes this long after closing (its handler's last lines run in it)
BUILD_S = 30.0  # a dialog never opened this long after it was made (its building failed) no longer counts


def removed_when_closed(dialog: ui.dialog) -> None:
    """A closed dialog leaves the page a moment later (a page open all day does not collect them)."""
    def changed(e) -> None:
        if e.value:
            dialog.pulse_shown = True  # type: ignore[attr-defined]
        elif not dialog.is_deleted:
            asyncio.get_running_loop().call_later(REMOVED_AFTER_S, _remove, dialog)
    dialog.on_value_change(changed)


def _remove(dialog: ui.dialog) -> None:
    if not dialog.is_deleted and not dialog.value:
        dialog.delete()


def single(kind: str) -> ui.dialog | None:
    """A new dialog of ``kind`` on the current page, removed when closed; None while one of that kind is being built
    or is open."""
    client = ui.context.client
    dialogs: dict[str, ui.dialog] = client.__dict__.setdefault('pulse_dialogs', {})
    current = dialogs.get(kind)
    if current is not None and not current.is_deleted:
        shown = getattr(current, 'pulse_shown', False)
        building = not shown and time.monotonic() - getattr(current, 'pulse_made', 0.0) < BUILD_S
        if current.value or building:
            return None
    dialog = dialogs[kind] = ui.dialog()
    dialog.pulse_made = time.monotonic()  # type: ignore[attr-defined]
    removed_when_closed(dialog)
    return dialog
