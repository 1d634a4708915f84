"""Render boundaries: keep a live change's browser-side re-render to its own part of the page."""
from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

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


# --- NiceGUI's per-element signature check, remembered per code object ---------------------------------------------
# Every element NiceGUI creates wires its props, classes and style (ObservableCollections) to a bound method and asks
# ``helpers.expects_arguments`` whether that handler takes arguments: ``inspect.signature`` each time. Measured with
# py-spy under benchmarks/desk_load.py that was 13–15 % of the server's CPU (a ticket page builds ~1,000 elements).
# The answer depends only on the function's code, whether it is bound, and which parameters have defaults, so it is
# kept per code object (a bounded set: the program's functions); anything else is asked as before.
_expects: dict[tuple, bool] = {}


def _arguments_key(func: Callable) -> tuple | None:
    bound = inspect.ismethod(func)
    target = func.__func__ if bound else func  # type: ignore[attr-defined]
    if type(target) is not types.FunctionType or hasattr(target, '__wrapped__') \
            or hasattr(target, '__signature__'):
        return None
    return (target.__code__, bound, len(target.__defaults__ or ()), tuple(target.__kwdefaults__ or ()))


def install_signature_cache() -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``."""
    from nicegui import helpers
    from nicegui.helpers import functions
    original = getattr(functions.expects_arguments, '__pulse_original__', functions.expects_arguments)

    def expects_arguments(func: Callable) -> bool:
        key = _arguments_key(func)
        if key is None:
            return original(func)
        known = _expects.get(key)
        if known is None:
            known = _expects[key] = original(func)
        return known
    expects_arguments.__pulse_original__ = original  # type: ignore[attr-defined]
    functions.expects_arguments = expects_arguments
    helpers.expects_arguments = expects_arguments


# --- NiceGUI's props strings, parsed once per string ----------------------------------------------------------------
# ``element.props('dense outlined header-class="text-sm"')`` parses its string with a regular expression and
# ``ast.literal_eval`` for each quoted value, every time: py-spy of benchmarks/desk_load.py put the parsing at 2.7 %
# of the server's event loop. The strings are mostly constants of the code, so each is parsed once and a copy of the
# answer handed out (a value the parse made a list or a dict is copied too: the caller may keep and change it). Kept
# for at most ``PROPS_KEPT`` strings: strings built per row or per entry (ids, times) would otherwise grow it without
# end; when full it starts again.
PROPS_KEPT = 4096
_props_parsed: dict[str, dict] = {}


def install_props_cache() -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``."""
    import copy

    from nicegui.props import Props
    original = getattr(Props.parse, '__pulse_original__', Props.parse)

    def parse(text: str | None) -> dict:
        if not text:
            return {}
        known = _props_parsed.get(text)
        if known is None:
            if len(_props_parsed) >= PROPS_KEPT:
                _props_parsed.clear()
            known = _props_parsed[text] = original(text)
        if any(isinstance(value, (list, dict, set)) for value in known.values()):
            return copy.deepcopy(known)
        return dict(known)
    parse.__pulse_original__ = original  # type: ignore[attr-defined]
    Props.parse = staticmethod(parse)  # type: ignore[method-assign]


# --- the page's elements escaped for its HTML in one pass per character class, not per character ------------------
# NiceGUI embeds a page's elements as JSON in the HTML it sends and escapes that text with ``str.translate`` over a
# table mapping ``& < > ` $`` to entities. With multi-character replacements ``translate`` looks up every character in
# a dict: 7.6 ms for a 73 KB page, where five ``str.replace`` give the same text in 0.33 ms. py-spy of
# benchmarks/desk_load.py put it at 8 % of the server's event loop (every ticket and list page). The JSON NiceGUI's
# ``build_response`` escapes is made a ``str`` whose ``translate`` does the same escaping with ``replace`` for exactly
# that table (the replacements are read from NiceGUI's table; ``&`` first, so no entity is escaped twice); any other
# use of the text is a plain ``str``.
class _PageJson(str):
    __slots__ = ()

    def translate(self, table):
        if table is _escape_table and _escapes:
            text = str(self)
            for char, entity in _escapes:
                if char in text:
                    text = text.replace(char, entity)
            return text
        return str.translate(self, table)


_escape_table: object = None
_escapes: list[tuple[str, str]] = []


def _replacements(table: dict) -> list[tuple[str, str]] | None:
    """The table as (character, replacement) pairs, '&' first; None when ``replace`` would not give what
    ``translate`` gives (a replacement that contains another escaped character besides a leading '&')."""
    pairs = []
    for key, value in table.items():
        char = chr(key) if isinstance(key, int) else key
        if not isinstance(value, str) or len(char) != 1:
            return None
        pairs.append((char, value))
    pairs.sort(key=lambda pair: pair[0] != '&')
    chars = {char for char, _ in pairs}
    for _char, value in pairs:
        if any(c in chars for c in (value[1:] if value.startswith('&') else value)):
            return None
    return pairs


def install_fast_page_escape() -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``. Does nothing if NiceGUI's page code no
    longer looks as expected (it then escapes as it always did)."""
    global _escape_table, _escapes
    from nicegui import client as client_module
    table = getattr(client_module, 'HTML_ESCAPE_TABLE', None)
    json_module = getattr(client_module, 'json', None)
    if not isinstance(table, dict) or json_module is None or getattr(json_module, '__pulse_page_json__', False):
        return
    pairs = _replacements(table)
    if pairs is None:
        return
    _escape_table, _escapes = table, pairs

    class PageJsonModule:
        """NiceGUI's json module for ``nicegui.client``: ``dumps`` answers a ``_PageJson``."""
        __pulse_page_json__ = True

        def __getattr__(self, name: str):
            return getattr(json_module, name)

        @staticmethod
        def dumps(*args, **kwargs):
            text = json_module.dumps(*args, **kwargs)
            return _PageJson(text) if type(text) is str else text

    client_module.json = PageJsonModule()  # type: ignore[assignment]


# --- an element's own props, classes and style: a change goes straight to the element's update --------------------
# Every ``props``/``classes``/``style`` change and every prop NiceGUI sets while building an element goes through
# ``ObservableCollection._handle_change``: a fresh list of handlers (own, observers', parents'), an event-arguments
# object and ``events.handle_event`` (slot context, signature check, awaitable check) — to call the collection's own
# ``_update``, which asks the element to ``update()``. A ticket page makes ~870 such changes while it is built
# (cProfile, tests/ui). When the collection has exactly its own handler, no observer and no parent (an element's
# props, classes and style always, unless NiceGUI or the code nested them somewhere), the change calls ``_update``
# directly, with NiceGUI's handling of an exception; anything else takes NiceGUI's path.
def install_direct_element_updates() -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``."""
    import time

    from nicegui import core
    from nicegui.classes import Classes
    from nicegui.props import Props
    from nicegui.style import Style

    for cls in (Props, Classes, Style):
        current: Callable = cls._handle_change
        original: Callable = getattr(current, '__pulse_original__', current)
        own: Callable = cls._update

        def _handle_change(self: Any, _original: Callable = original, _own: Callable = own) -> None:
            handlers = self._change_handlers
            if len(handlers) == 1 and self._parent_ref is None and not self._observer_refs:
                handler = handlers[0][0]
                if getattr(handler, '__func__', None) is _own and handler.__self__ is self:
                    self.last_modified = time.time()
                    try:
                        _own(self)
                    except Exception as e:  # as events.handle_event does
                        core.app.handle_exception(e)
                    return
            _original(self)
        _handle_change.__pulse_original__ = original  # type: ignore[attr-defined]
        cls._handle_change = _handle_change  # type: ignore[method-assign]


# --- an event listener's id: a counter, not a random UUID -----------------------------------------------------------
# NiceGUI gives every event listener (each ``on(...)``: an input has several) ``str(uuid.uuid4())`` as its id: a
# random number from the kernel and its formatting, ~2.4 µs each, ~4 % of the event loop in desk_load.py's profile.
# The id only names a listener among its element's own (the browser sends it back with an event, and NiceGUI looks it
# up in that element's listeners), so it has to be unique, not unguessable: a process-wide counter is.
def install_counted_listener_ids() -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``."""
    import itertools

    from nicegui import event_listener

    if getattr(event_listener.uuid, '__pulse_counted__', False):
        return

    class _Counted:
        __pulse_counted__ = True
        _next = itertools.count(1).__next__

        @classmethod
        def uuid4(cls) -> str:
            return f'l{cls._next()}'
    event_listener.uuid = _Counted  # type: ignore[assignment]  # only ``uuid.uuid4()`` is used there


# --- socket messages: "does it hold bytes?" without recursion --------------------------------------------------------
# python-socketio asks of every message it sends whether its data holds bytes (they go as attachments): a recursive
# walk building a list per level, ~2 ms for a message with 200 elements — 3× what encoding it as JSON costs, and ~4 %
# of the event loop in desk_load.py's profile. The same answer from one loop over a stack.
def contains_binary(data: Any) -> bool:
    """As ``socketio.packet.Packet.data_is_binary``: bytes or bytearray anywhere in nested lists and dict values."""
    stack = [data]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool or kind is float:
            continue
        if kind is dict:
            extend(item.values())
        elif kind is list:
            extend(item)
        elif isinstance(item, (bytes, bytearray)):
            return True
        elif isinstance(item, list):
            extend(item)
        elif isinstance(item, dict):
            extend(item.values())
    return False


def install_fast_binary_check() -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``."""
    from nicegui import core

    packet_class = core.sio.packet_class
    if getattr(packet_class, '__pulse_fast__', False):
        return

    class Packet(packet_class):  # type: ignore[misc, valid-type]
        __pulse_fast__ = True

        @classmethod
        def data_is_binary(cls, data: Any) -> bool:
            return contains_binary(data)
    core.sio.packet_class = Packet


# --- the outbox's wake-up in the same turn of the loop ----------------------------------------------------------------
# Each page's outbox (nicegui/outbox.py) sleeps in ``asyncio.wait_for(event.wait(), timeout=1.0)`` until an element
# changes. On Python 3.11 ``wait_for`` runs the wait as a task of its own: an update set the event, that task woke in
# the loop's next turn, and the outbox's own task one turn after it. On a busy loop a turn is every ready callback's
# time (under benchmarks/desk_load.py p50 5–16 ms, p95 50–225 ms): every click's answer and every live update waited
# two of them before it was sent. ``asyncio.timeout`` (3.11) waits in the outbox's own task: the update is sent in the
# turn after the change, as on Python 3.12, whose ``wait_for`` is written that way. Only the outbox's module sees this
# ``wait_for``; it answers as asyncio's (the awaited result, TimeoutError after ``timeout``, cancellation passed on).
class _OutboxAsyncio:
    """The ``asyncio`` that nicegui/outbox.py sees: asyncio itself but for ``wait_for``."""

    def __getattr__(self, name: str) -> Any:
        import asyncio
        return getattr(asyncio, name)

    @staticmethod
    async def wait_for(awaitable: Any, timeout: float | None = None) -> Any:
        import asyncio
        async with asyncio.timeout(timeout):
            return await awaitable


def install_outbox_wakeup() -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``."""
    from nicegui import outbox
    if not isinstance(outbox.asyncio, _OutboxAsyncio):
        setattr(outbox, 'asyncio', _OutboxAsyncio())  # noqa: B010 (a module's name, not an attribute it declares)
