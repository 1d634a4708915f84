"""Websocket events are checked too: a browser can only address elements the server rendered for *its* page.

NiceGUI routes an event to an element of the sending client only, and drops events for unknown, disabled or
hidden elements. That is the guarantee we build on: pages never render controls a viewer may not use (a
customer's page has no internal-note switch, no field editors, no team list), and every handler calls a
service that checks the permission again. This module adds the record: a dropped event (an element that is not on this page,
a disabled or hidden one, a listener the element does not have, malformed arguments) is logged as a refused attempt
with the user, and dropped before NiceGUI would fail on it.
"""
from __future__ import annotations

import json
import logging

from nicegui import Client, ui

from pulse_live.models import User

log = logging.getLogger('pulse_live.security')
_installed = {'done': False}


def remember(user: User) -> None:
    """Note who is signed in on the current page (for the log line of a refused event)."""
    client = ui.context.client
    client.pulse_user = f'user {user.id} ({user.role}, organisation {user.organisation_id})'  # type: ignore[attr-defined]


def _problem(client: Client, msg: dict) -> str:
    """Why this event cannot be meant for this page ('' if it can)."""
    sender = client.elements.get(msg.get('id'))  # type: ignore[arg-type]
    if sender is None:
        return 'is not on'
    if sender.is_ignoring_events:
        return 'is disabled or hidden on'
    if msg.get('listener_id') not in sender._event_listeners:
        return 'has no such listener on'
    try:
        for arg in msg.get('args') or []:
            if arg is not None:
                json.loads(arg)
    except (TypeError, ValueError):
        return 'got malformed arguments on'
    return ''


def install() -> None:
    if _installed['done']:
        return
    original = Client.handle_event

    def handle_event(self: Client, msg: dict) -> None:
        problem = _problem(self, msg) if isinstance(msg, dict) else 'is unreadable on'
        if problem:
            log.warning('refused: %s sent a %r event for element %r, which %s page %s',
                        getattr(self, 'pulse_user', 'a browser without a session'),
                        msg.get('type') if isinstance(msg, dict) else '?',
                        msg.get('id') if isinstance(msg, dict) else '?', problem,
                        self.page.path if getattr(self, 'page', None) else '?')
            return  # NiceGUI would drop the first two silently and fail on the others
        original(self, msg)

    Client.handle_event = handle_event  # type: ignore[method-assign]
    _installed['done'] = True
