"""components/lean_elements: an element's props, classes and style keep their state in slots and share what every
element has the same of; a bindable property is registered when bound, not when set. Each test does the same things
with NiceGUI's own classes and with the lean ones and compares what a caller and the browser see."""
from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable

import pytest
from nicegui import binding, ui
from nicegui.observables import ObservableDict
from nicegui.testing import User

from components import lean_elements
from tests.ui.conftest import login


def _changes(label: ui.label, noted: list) -> None:
    label.props('data-x=1 dense')
    label.classes('text-red-600 font-medium')
    label.style('margin-top: 3px; color: red')
    label.props['data-list'] = [1]
    label.props['data-list'].append(2)  # a nested value
    label.classes(remove='font-medium')
    label.classes(toggle='italic')
    label.style(remove='color: red')
    label.props(remove='dense')
    label.props.on_change(lambda: noted.append('props handler'))  # a handler of the caller's own
    label.props('data-y=2')
    outer = ObservableDict({}, on_change=lambda: noted.append('observer told'))
    outer['classes'] = label.classes  # the classes now have an observer
    label.classes('text-sm')
    label.props['resource_path'] = '/x'  # NiceGUI's deprecated name, renamed on the element
    label.props.add_warning('data-old', 'data-old is gone')
    label.props['data-old'] = 1  # removed again, with a warning
    label.text = 'changed'
    label.visible = False


def _run(user: User, monkeypatch, changes: Callable[[ui.label, list], None]) -> tuple[list, list, dict]:
    """(elements sent to the browser, the caller's notes, the label as the browser gets it) for ``changes``."""
    with user.client.layout:
        label = ui.label('x')
    sent: list = []
    enqueue = user.client.outbox.enqueue_update
    monkeypatch.setattr(user.client.outbox, 'enqueue_update', lambda element: (sent.append(element.id),
                                                                               enqueue(element)))
    noted: list = []
    changes(label, noted)
    as_sent = label._to_dict()
    return [i - label.id for i in sent], noted, as_sent


async def test_the_same_changes_send_the_browser_the_same(user: User, people, monkeypatch,
                                                         nicegui_path) -> None:
    await login(user, 'anna@pulse.demo')
    lean = _run(user, monkeypatch, _changes)
    nicegui_path()
    before = _run(user, monkeypatch, _changes)
    assert lean == before
    sent, noted, as_sent = lean
    assert sent and set(sent) == {0}
    assert noted.count('props handler') == 6 and noted.count('observer told') == 3  # the same in both
    assert as_sent['props']['resource-path'] == '/x' and 'data-old' not in as_sent['props']
    assert as_sent['class'] == ['text-red-600', 'italic', 'text-sm', 'hidden']  # hidden: visible = False
    assert as_sent['style'] == {'margin-top': '3px'}


async def test_an_element_keeps_no_per_element_extras(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    with user.client.layout:
        a, b = ui.label('a'), ui.label('b')
    for label in (a, b):
        for collection in (label.props, label.classes, label.style):
            assert isinstance(collection, (lean_elements.LeanProps, lean_elements.LeanClasses,
                                           lean_elements.LeanStyle))
            assert vars(collection) == {}  # the state is in slots, none in an instance dictionary
            assert abs(collection.last_modified - time.time()) < 5  # still the time of its last change
        assert isinstance(label.default_slot, lean_elements.LeanSlot) and vars(label.default_slot) == {}
        assert label.default_slot.parent is label and label.default_slot.children == []
    assert a.props._renames is b.props._renames  # NiceGUI's two deprecation renames, shared
    assert dict(a.props._renames) == {'resource_path': 'resource-path',
                                      'dynamic_resource_path': 'dynamic-resource-path'}
    with pytest.raises(TypeError):
        a.props._renames['x'] = 'y'  # shared, so read-only
    a.props.add_rename('data-a', 'data-b')  # a note of one element's own: copied on write
    assert 'data-a' in a.props._renames and 'data-a' not in b.props._renames


async def test_a_lean_collection_is_at_most_half_the_memory(user: User, people, monkeypatch,
                                                           nicegui_path) -> None:
    """What the slots are for: measured on the collections themselves (their own size and what only they hold)."""
    await login(user, 'anna@pulse.demo')

    def size(label: ui.label) -> int:
        total = 0
        for collection in (label.props, label.classes, label.style):
            total += sys.getsizeof(collection) - sys.getsizeof(type(collection).__mro__[-2]())  # without contents
            if hasattr(collection, '__dict__'):
                total += sys.getsizeof(vars(collection))
                total += sum(sys.getsizeof(v) for v in vars(collection).values() if isinstance(v, (list, dict)))
        return total
    with user.client.layout:
        lean = size(ui.label('x'))
    nicegui_path()
    with user.client.layout:
        before = size(ui.label('x'))
    assert lean * 2 <= before


async def test_a_property_is_registered_when_bound_and_bindings_stay_immediate(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    registered = len(binding.bindable_properties)
    with user.client.layout:
        labels = [ui.label(f'l{i}') for i in range(50)]
        switch = ui.switch('on', value=True)
        shown = ui.label('shown')
    assert len(binding.bindable_properties) == registered  # 52 elements made, none registered
    links = len(binding.active_links)
    shown.bind_visibility_from(switch, 'value')
    labels[0].bind_text_from(labels[1], 'text', backward=lambda text: f'copy of {text}')
    assert len(binding.active_links) == links  # told of changes, not polled
    assert (id(switch), ('value',)) in binding.bindable_properties
    switch.value = False
    assert shown.visible is False  # at once: no refresh loop in between
    labels[1].text = 'new'
    assert labels[0].text == 'copy of new'
    state = {'text': 'a dict'}
    labels[2].bind_text_from(state, 'text')  # not a bindable property: polled, as NiceGUI does
    assert len(binding.active_links) == links + 1
    assert labels[2].text == 'a dict'


async def test_a_copied_element_state_still_binds(user: User, people) -> None:
    """NiceGUI registers copies of registered objects (``binding._make_copyable``); a copy made before any binding
    is bound by the same choice."""
    await login(user, 'anna@pulse.demo')

    @binding.bindable_dataclass
    class Model:
        title: str = 'one'
    model = Model()
    twin = copy.copy(model)
    with user.client.layout:
        label = ui.label()
    links = len(binding.active_links)
    label.bind_text_from(twin, 'title')
    assert len(binding.active_links) == links
    twin.title = 'two'
    assert label.text == 'two' and model.title == 'one'


async def test_markers_class_names_and_long_content_are_held_once(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    long = ''.join(['<div class="p-2">', 'x' * 300, '</div>'])  # built at run time: equal, not the same object
    again = ''.join(['<div class="p-2">', 'x' * 300, '</div>'])
    assert long == again and long is not again
    with user.client.layout:
        plain, marked = ui.label('a'), ui.label('b').mark('wanted one')
        a, b = ui.label('a').classes(' '.join(['text-sm', 'font-medium'])), ui.label('b').classes('text-sm font-medium')
        first, second = ui.html(long, sanitize=False), ui.html(again, sanitize=False)
        short = ui.html(''.join(['<b>', 'short', '</b>']), sanitize=False)
    assert plain._markers == () and marked._markers == ['wanted', 'one']
    assert [e.text for e in user.client.layout.descendants() if 'wanted' in e._markers] == ['b']
    assert a.classes == b.classes == ['text-sm', 'font-medium'] and a.classes[1] is b.classes[1]
    assert first.content is second.content and first.props['innerHTML'] is second.props['innerHTML']
    assert second.props['innerHTML'] == again
    first.content = again.replace('x', 'y')  # a live change of one block: the other keeps its content
    assert 'y' * 300 in first.props['innerHTML'] and second.props['innerHTML'] == again
    assert short.content == '<b>short</b>' not in lean_elements._texts
