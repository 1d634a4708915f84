"""What a page shows now, and what it registered for it: the whole page, or a ticket the tab moved to in place.

A page's live parts (following a ticket, its presence there, a live list) used to register on its NiceGUI client:
they lived as long as the tab. A desk tab now also moves from a list or a ticket to another ticket in place
(components/in_app.py): the content is rebuilt over the open socket and the client stays. What the previous content
registered must end then, not with the tab — its subscriptions would keep reading and rendering for a ticket nobody
there sees, and its presence would say the agent is still viewing it.

``current()`` is the scope of what the page shows now; a part registers through it (``on_connect``,
``on_disconnect``, ``on_end``, ``subscribe``) and everything ends with ``end()``: when the client is deleted (the tab
closed) or when the tab moves on (``replace()``). Ending runs the end handlers once and takes the scope's handlers
off the client, so a tab that moved through 500 tickets holds the handlers of one.
"""
from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import Any

from nicegui import Client, background_tasks, ui
from nicegui.event import Event


class Scope:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.ended = False
        self._registered: list[tuple[list, Callable]] = []  # (the client's handler list, the handler)
        self._end: list[Callable[[], Any]] = []

    def on_connect(self, handler: Callable[[], Any]) -> None:
        self._register(self.client.connect_handlers, handler)

    def on_disconnect(self, handler: Callable[[], Any]) -> None:
        self._register(self.client.disconnect_handlers, handler)

    def on_end(self, handler: Callable[[], Any]) -> None:
        """Run once: when the client is deleted or the page's content is replaced (at once if that happened)."""
        if self.ended:  # a part built after its page moved on (its reads awaited): it ends now
            result = handler()
            if inspect.isawaitable(result):
                background_tasks.create(result, name='page-scope-ended')
            return
        self._end.append(handler)

    def subscribe(self, event: Event, callback: Callable) -> None:
        """``event.subscribe`` for as long as this scope lives (not at all once it ended)."""
        if self.ended:
            return
        event.subscribe(callback, unsubscribe_on_delete=False)
        caller = inspect.currentframe()
        caller = caller.f_back if caller is not None else None
        if caller is not None and event.callbacks:  # named after the part that subscribed (NiceGUI names its tasks so)
            event.callbacks[-1].filepath, event.callbacks[-1].line = caller.f_code.co_filename, caller.f_lineno
        self.on_end(lambda: event.unsubscribe(callback))

    def _register(self, handlers: list, handler: Callable) -> None:
        if self.ended:
            return
        handlers.append(handler)
        self._registered.append((handlers, handler))

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        for handlers, handler in self._registered:
            with contextlib.suppress(ValueError):  # (a test's reset may have emptied the list)
                handlers.remove(handler)
        self._registered.clear()
        ends, self._end = self._end, []
        for handler in ends:
            self.client.safe_invoke(handler)


def current(client: Client | None = None) -> Scope:
    """The scope of what the page (the current one by default) shows now."""
    client = client or ui.context.client
    scope = client.__dict__.get('pulse_scope')
    if scope is None:
        scope = client.__dict__['pulse_scope'] = Scope(client)
        client.on_delete(lambda: client.__dict__['pulse_scope'].end())
    return scope


def replace(client: Client | None = None) -> Scope:
    """End what the page shows now and begin a new scope for what it will show."""
    client = client or ui.context.client
    current(client).end()
    scope = client.__dict__['pulse_scope'] = Scope(client)
    return scope
