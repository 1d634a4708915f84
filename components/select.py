"""A select that rebuilds the option list it sends only when its options changed.

NiceGUI's ``ui.select`` (its ``ChoiceElement``) rebuilds the whole option list (one dict per option) and the value's
index on *every* ``update()``, and every props, classes or marker change calls ``update()``: building one select of
the ticket page's detail editors called it 12 times, each over every option. Measured in process, 100 selects of 40
options built like the detail editors: 4.7 ms per select with ``ui.select``, 1.2 ms with this one; a ticket page builds
eleven (the assignee's options are every agent of the desk).

An update keeps the option list when the options are the same object holding the same values and labels as when the
list was built (a tuple compare: no dict per option); anything else rebuilds as NiceGUI does — options replaced
(``set_options``, assignment), changed in place and then ``update()`` (as NiceGUI documents it), values added by
``new_value_mode``. Everything else ``update()`` does is done as before: the value sent to the browser is the value's
index now, and a value that is not among the options is cleared. Multiple selects always rebuild.

In the browser it is NiceGUI's select component with one change (``pulse_select.js``): when new options arrive while
the user types (a searched select's answer, which keeps the current value among them so it stays shown), the menu
leaves out the current value if it does not match the typed text — NiceGUI's component shows every option it gets.
"""
from __future__ import annotations

from typing import Any

from nicegui import ui
from nicegui.elements.choice_element import ChoiceElement

OPTIONS_KEPT = 512
_option_lists: dict[tuple, tuple] = {}


def _option_list(labels: list) -> tuple:
    """The option list the browser gets for ``labels``: one tuple for every select with the same labels (the same
    status, priority, queue and agent lists on every ticket page), kept for at most ``OPTIONS_KEPT`` label lists. Its
    dicts are never changed in place: a change of options builds a new list."""
    try:
        key = tuple(labels)
        known = _option_lists.get(key)
    except TypeError:  # a label that cannot be a key: a list of its own
        return tuple({'value': index, 'label': option} for index, option in enumerate(labels))
    if known is None:
        if len(_option_lists) >= OPTIONS_KEPT:
            _option_lists.clear()
        known = _option_lists[key] = tuple({'value': index, 'label': option} for index, option in enumerate(labels))
    return known


class Select(ui.select, component='pulse_select.js'):
    # Python keeps an object's attributes compactly only up to 29 of them: a ui.select has 32, and its attribute
    # dictionary was 1.6 KB per select and page (~0.35 KB under the limit). These ones are kept in slots instead.
    __slots__ = ('_built', '_values', '_labels', '_is_showing_popup', 'key_generator', '_client_value')
    _built: tuple[Any, tuple] | None  # (the options object, what it held) the list was last built from

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._built = None
        super().__init__(*args, **kwargs)

    def _holding(self) -> tuple:
        options = self.options
        return (tuple(options), tuple(options.values())) if isinstance(options, dict) else tuple(options)

    def _update_options(self) -> None:
        """``ChoiceElement._update_options`` with the list sent as a tuple of plain dicts: NiceGUI's props wrap a list
        and every dict in it in observable collections of their own (each with its handler list and weak
        references: ~0.6 KB per option, held per select and open page); nothing changes an option in place, so
        selects with the same labels share one list (``_option_list``)."""
        before_value = self.value
        self._props['options'] = _option_list(self._labels)
        self._props[self.VALUE_PROP] = self._value_to_model_value(before_value)
        if not isinstance(before_value, list):  # (a multiple select keeps its values, as NiceGUI's does)
            self.value = before_value if before_value in self._values else None

    def update(self) -> None:
        built = self._built
        if built is not None and built[0] is self.options and not self.multiple and built[1] == self._holding():
            with self._props.suspend_updates():  # ChoiceElement._update_options without rebuilding the list
                value = self.value
                self._props[self.VALUE_PROP] = self._value_to_model_value(value)
                self.value = value if value in self._values else None
            super(ChoiceElement, self).update()
            return
        super().update()
        self._built = (self.options, self._holding())
