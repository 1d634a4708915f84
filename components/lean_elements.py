"""Less memory per NiceGUI element: what every element keeps but almost none uses, kept only where it is used.

A connected page is its element tree, held by the server as long as the page is open: ~3.9 KB per element with
NiceGUI as it comes (tracemalloc, a plain ``ui.label``), 134 elements for an agent's ticket page. Most of it is not the
element's content but bookkeeping that every element carries in case it is ever used:

- **the props, classes and style collections** (three per element) each have an instance dictionary (~340 B: they
  subclass ``dict``/``list``, so Python gives them no compact attribute storage), a list holding a tuple holding a
  bound method of their own ``_update`` (~190 B), an empty list of observers (56 B), and the props two dictionaries of
  rename and warning notes (the same two deprecation renames on every element). ``LeanProps``, ``LeanClasses`` and
  ``LeanStyle`` keep the same attributes in ``__slots__``; the handler list is made only when asked for (it is then the
  same list NiceGUI would have made); an empty observer list is a shared empty tuple (NiceGUI only ever replaces it,
  never appends to it); the props' notes are shared read-only mappings, one per distinct set of notes, copied on
  write.
- **the registry of bindable properties** (``nicegui.binding.bindable_properties``): every element's ``visible``,
  ``text``, ``value``... goes into a global weak dictionary when first set (~320 B each: a key tuple, a keyed weak
  reference, the slot), whether or not anything is ever bound to it. It is read in one place: when a binding is made,
  to choose between being told of changes (a registered property) and polling (anything else). A property is now
  registered when a binding from it is made, so the same choice is made; and a set property is propagated only when a
  binding from it exists (``_propagate`` finds nothing to do otherwise: same answer, less work).

- smaller things every element had its own of: an empty markers list (now one shared empty tuple), its default
  slot's instance dictionary (``LeanSlot``), a float per collection for the time of its last change (shared by the
  collections changed within the same millisecond), its class names (``'text-sm font-medium'.split()`` made new
  strings for each element: interned).
- **long content** (``ui.html``/``ui.markdown``: the header's markup, the SLA card, a panel of similar tickets) is the
  same on many pages: held once (``shared_text``).

They are installed once per process by ``pulse_live.app.build_app`` and are idempotent. Everything else is NiceGUI's
own code: the classes are subclasses of NiceGUI's, put where ``nicegui.element`` creates an element's collections.
``tests/ui/test_lean_elements.py`` runs the same changes with and without them and compares what the browser gets.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from nicegui import binding, core
from nicegui import element as element_module
from nicegui.classes import Classes
from nicegui.observables import ObservableCollection
from nicegui.props import Props
from nicegui.slot import Slot
from nicegui.style import Style

_NO_OBSERVERS: tuple = ()

# --- shared read-only notes (a Props' renames and warnings) ---------------------------------------------------------
_notes: dict[tuple, Mapping[str, str]] = {}
NOTES_KEPT = 256  # distinct sets of notes come from the code (NiceGUI adds two renames to every element)


def _shared(notes: Mapping[str, str]) -> Mapping[str, str]:
    key = tuple(notes.items())
    known = _notes.get(key)
    if known is None:
        if len(_notes) >= NOTES_KEPT:
            return MappingProxyType(dict(notes))
        known = _notes[key] = MappingProxyType(dict(notes))
    return known


_NO_NOTES = _shared({})
_added: dict[tuple[int, str, str], Mapping[str, str]] = {}  # (id of shared notes, key, value) -> the notes with it


def _with(notes: Mapping[str, str], key: str, value: str) -> Mapping[str, str]:
    """``notes`` with ``key: value``: shared when ``notes`` is (every element adds the same two renames)."""
    if notes.get(key) == value:
        return notes
    step = (id(notes), key, value)
    known = _added.get(step)
    if known is None:
        known = _shared({**notes, key: value})
        if _notes.get(tuple(notes.items())) is notes and len(_added) < NOTES_KEPT:  # ids of kept notes stay valid
            _added[step] = known
    return known


# --- the time of a collection's last change, to the millisecond -----------------------------------------------------
# Every collection stores ``time.time()`` at creation and each change (``last_modified``: NiceGUI reads it for its
# storage dictionaries, never for an element's). A float each, 24 B: three per element. Collections changed within the
# same millisecond share one float.
_clock_now = [0.0]


def _clock() -> float:
    now = time.time()
    last = _clock_now[0]
    if 0 <= now - last < 0.001:
        return last
    _clock_now[0] = now
    return now


class _Lean:
    """The change handling of a lean collection; the slots are declared by each concrete class."""
    __slots__ = ()

    def __init__(self, *args: Any, element: Any, **kwargs: Any) -> None:
        super().__init__(*args, element=element, **kwargs)  # type: ignore[call-arg]
        self._observer_refs = _NO_OBSERVERS
        self.last_modified = _clock()  # type: ignore[misc]
    _handlers: list | None
    _parent_ref: Any
    _observer_refs: Any
    last_modified: float

    @property
    def _change_handlers(self) -> list[tuple[Callable, bool]]:
        handlers = self._handlers
        if handlers is None:  # only the collection's own update: made now, as NiceGUI made it
            handlers = self._handlers = [(self._update, False)]  # type: ignore[attr-defined,misc]
        return handlers

    @_change_handlers.setter
    def _change_handlers(self, handlers: list[tuple[Callable, bool]]) -> None:
        if len(handlers) == 1 and handlers[0][1] is False and self._is_own_update(handlers[0][0]):
            self._handlers = None  # type: ignore[misc]
        else:
            self._handlers = handlers  # type: ignore[misc]

    def _is_own_update(self, handler: Callable) -> bool:
        return getattr(handler, '__self__', None) is self \
            and getattr(handler, '__func__', None) is getattr(type(self)._update, '__func__', type(self)._update)

    def _handle_change(self) -> None:
        if self._handlers is None and self._parent_ref is None and not self._observer_refs:
            self.last_modified = _clock()  # type: ignore[misc]
            try:
                self._update()  # type: ignore[attr-defined]
            except Exception as e:  # as events.handle_event does
                core.app.handle_exception(e)
            return
        ObservableCollection._handle_change(self)  # type: ignore[arg-type]


_SLOTS = ('_parent_ref', 'last_modified', '_handlers', '_observer_refs', '_element', '_suspend_count')


class LeanProps(_Lean, Props):
    __slots__ = (*_SLOTS, '_warnings', '_renames')

    def __init__(self, *args: Any, element: Any, **kwargs: Any) -> None:
        super().__init__(*args, element=element, **kwargs)
        self._warnings = _NO_NOTES  # type: ignore[assignment]
        self._renames = _NO_NOTES  # type: ignore[assignment]

    def add_warning(self, prop: str, message: str) -> None:
        self._warnings = _with(self._warnings, prop, message)  # type: ignore[assignment]
        self._check_warning(prop, message)

    def add_rename(self, prop: str, replacement: str) -> None:
        self._renames = _with(self._renames, prop, replacement)  # type: ignore[assignment]
        self._check_rename(prop, replacement)


class LeanClasses(_Lean, Classes):
    __slots__ = _SLOTS

    @staticmethod
    def update_list(classes: list[str], add: str | None = None, remove: str | None = None,
                    toggle: str | None = None, replace: str | None = None) -> list[str]:
        """NiceGUI's list, its class names interned: ``'text-sm font-medium'.split()`` made new strings for each
        element (~12 KB per ticket page); the names come from the code, a bounded set."""
        return [sys.intern(name) for name in Classes.update_list(classes, add, remove, toggle, replace)]


class LeanStyle(_Lean, Style):
    __slots__ = _SLOTS


class LeanSlot(Slot):
    """NiceGUI's slot (every element has its default one) with its attributes in slots, not an instance dict."""
    __slots__ = ('name', '_parent', 'template', 'children')


def _markers_get(element: Any) -> Any:
    return element._pulse_markers


def _markers_set(element: Any, markers: Any) -> None:
    element._pulse_markers = markers if markers else _NO_OBSERVERS  # NiceGUI only ever replaces the list


def install_lean_collections() -> None:
    """Idempotent. New elements get lean props, classes and style (``nicegui.element`` looks the names up when it
    builds an element) and a lean default slot, and an element without markers shares one empty tuple (NiceGUI gave
    each an empty list)."""
    element_module.Props = LeanProps  # type: ignore[misc]
    element_module.Classes = LeanClasses  # type: ignore[misc]
    element_module.Style = LeanStyle  # type: ignore[misc]
    element_module.Slot = LeanSlot  # type: ignore[misc]
    if not isinstance(vars(element_module.Element).get('_markers'), property):
        element_module.Element._markers = property(_markers_get, _markers_set)  # type: ignore[assignment]


# --- the same long text held once ------------------------------------------------------------------------------------
# A page's static blocks are long strings (the header's markup, the SLA card, a panel of similar tickets) and most are
# the same for every page that shows them: each page built its own copy. An element's content (``ui.html``,
# ``ui.markdown``) is looked up in a table of recent texts and the stored copy used; short texts are not worth it. The
# table is bounded by its total length and starts again when full.
SHARED_TEXT_MIN = 200
SHARED_TEXT_CHARS = 8_000_000
_texts: dict[str, str] = {}
_texts_chars = 0


def shared_text(text: Any) -> Any:
    """``text``, or an equal string already held (any other value is returned as it is)."""
    global _texts_chars
    if type(text) is not str or len(text) < SHARED_TEXT_MIN:
        return text
    known = _texts.get(text)
    if known is not None:
        return known
    if _texts_chars + len(text) > SHARED_TEXT_CHARS:
        _texts.clear()
        _texts_chars = 0
    _texts[text] = text
    _texts_chars += len(text)
    return text


def install_shared_content() -> None:
    """Idempotent: content elements keep their content through ``shared_text`` (the attribute and the prop the
    browser gets are the same string, as before)."""
    from nicegui.elements.mixins.content_element import ContentElement
    current = ContentElement._handle_content_change
    if getattr(current, '__pulse_original__', None) is not None:
        return

    def _handle_content_change(self: ContentElement, content: str) -> None:
        current(self, shared_text(content))
    _handle_content_change.__pulse_original__ = current  # type: ignore[attr-defined]
    ContentElement._handle_content_change = _handle_content_change  # type: ignore[method-assign]


# --- bindable properties registered when bound ----------------------------------------------------------------------
def _bindable(obj: Any, name: tuple[str, ...]) -> bool:
    """Whether ``name`` is a bindable property of ``obj`` that has been set (what NiceGUI would have registered)."""
    if len(name) != 1:
        return False
    for klass in type(obj).__mro__:
        if name[0] in vars(klass):
            return isinstance(vars(klass)[name[0]], binding.BindableProperty) and hasattr(obj, '___' + name[0])
    return False


def install_lazy_bindable_registry() -> None:
    """Idempotent."""
    prop_class = binding.BindableProperty
    if getattr(prop_class.__set__, '__pulse_original__', None) is not None:
        return
    original_set = prop_class.__set__
    original_bind = binding._bind_one_way

    def __set__(self: binding.BindableProperty, owner: Any, value: Any) -> None:
        attribute = '___' + self.name
        has_attr = hasattr(owner, attribute)
        if not has_attr:
            binding._make_copyable(type(owner))
        value_changed = has_attr and getattr(owner, attribute) != value
        if has_attr and not value_changed:
            return
        if self.name == 'content':
            value = shared_text(value)
        setattr(owner, attribute, value)
        name = (self.name,)
        key = (id(owner), name)
        if key in binding.bindings:  # else there is nothing to propagate to
            binding.bindable_properties[key] = owner
            binding._propagate(owner, name)
        if value_changed and self._change_handler is not None:
            self._change_handler(owner, value)
    __set__.__pulse_original__ = original_set  # type: ignore[attr-defined]

    def _bind_one_way(source_obj: Any, source_name: tuple[str, ...], target_obj: Any, target_name: tuple[str, ...],
                      transform: Callable[[Any], Any] | None) -> None:
        if _bindable(source_obj, source_name):
            binding.bindable_properties[(id(source_obj), source_name)] = source_obj
        original_bind(source_obj, source_name, target_obj, target_name, transform)
    _bind_one_way.__pulse_original__ = original_bind  # type: ignore[attr-defined]

    prop_class.__set__ = __set__  # type: ignore[method-assign]
    binding._bind_one_way = _bind_one_way
