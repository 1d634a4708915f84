"""components/render.install_direct_element_updates: a change of an element's own props, classes or style goes
straight to the element's ``update`` (NiceGUI made an event of each: ~870 per ticket page) — with NiceGUI's answers:
the browser is sent the same, nested values and observers are still told, an error is reported, not raised. Each
test runs the same changes over NiceGUI's own path and over the direct one and compares."""
from __future__ import annotations

from collections.abc import Callable

from nicegui import core, events, ui
from nicegui.observables import ObservableDict
from nicegui.props import Props
from nicegui.testing import User

from tests.ui.conftest import login


def _run(user: User, monkeypatch, changes: Callable[[ui.label, list], None]) -> tuple[list, list, list]:
    """(elements sent to the browser, events NiceGUI made, what the changes recorded) for ``changes`` on a label."""
    with user.client.layout:
        label = ui.label('x')
    sent: list = []
    enqueue = user.client.outbox.enqueue_update
    monkeypatch.setattr(user.client.outbox, 'enqueue_update', lambda element: (sent.append(element.id),
                                                                               enqueue(element)))
    handled: list = []
    handle_event = events.handle_event
    monkeypatch.setattr(events, 'handle_event', lambda *a, **k: (handled.append(1), handle_event(*a, **k)))
    noted: list = []
    changes(label, noted)
    monkeypatch.setattr(events, 'handle_event', handle_event)
    return [i - label.id for i in sent], handled, noted + [dict(label.props), list(label.classes), dict(label.style)]


def _props_classes_style(label: ui.label, noted: list) -> None:
    label.props('data-x=1 dense')
    label.classes('text-red-600 font-medium')
    label.style('margin-top: 3px')
    label.props['data-list'] = [1]
    label.classes(remove='font-medium')
    label.props(remove='dense')
    noted.append('own done')
    label.props['data-list'].append(2)  # a nested value


def _observed(label: ui.label, noted: list) -> None:
    outer = ObservableDict({}, on_change=lambda: noted.append('outer told'))
    outer['props'] = label.props  # the props now have an observer
    label.props('data-y=2')
    label.classes('text-sm')


async def test_changes_reach_the_browser_as_before_without_an_event_each(user: User, people, monkeypatch,
                                                                        nicegui_path) -> None:
    await login(user, 'anna@pulse.demo')
    assert hasattr(Props._handle_change, '__pulse_original__')  # installed by the app
    direct, direct_events, direct_state = _run(user, monkeypatch, _props_classes_style)
    nicegui_path()
    before, before_events, before_state = _run(user, monkeypatch, _props_classes_style)
    assert direct == before and direct and set(direct) == {0}  # the label itself, as often as before
    assert direct_state == before_state
    assert len(direct_events) == 1 < len(before_events)  # only the nested change still goes through an event


async def test_an_observer_of_the_props_is_still_told(user: User, people, monkeypatch, nicegui_path) -> None:
    await login(user, 'anna@pulse.demo')
    direct = _run(user, monkeypatch, _observed)
    nicegui_path()
    before = _run(user, monkeypatch, _observed)
    assert direct[0] == before[0] and direct[2] == before[2]
    assert 'outer told' in direct[2]


async def test_an_error_in_an_update_is_reported_not_raised(user: User, people, monkeypatch) -> None:
    await login(user, 'anna@pulse.demo')
    with user.client.layout:
        label = ui.label('x')
    reported: list = []
    monkeypatch.setattr(core.app, 'handle_exception', reported.append)

    def broken() -> None:
        raise RuntimeError('update failed')
    monkeypatch.setattr(label, 'update', broken)
    label.props('data-z=3')  # does not raise
    label.classes('text-sm')
    assert [str(e) for e in reported] == ['update failed'] * 2
    assert label.props['data-z'] == '3' and 'text-sm' in label.classes
