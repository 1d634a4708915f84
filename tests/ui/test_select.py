"""components/select.Select: the option list is built once per options object, and still shows every change."""
from __future__ import annotations

import json

from nicegui import json as nicegui_json
from nicegui import ui
from nicegui.observables import ObservableCollection
from nicegui.testing import User

from components.select import Select
from tests.ui.conftest import login

AGENTS = {i: f'Agent {i}' for i in range(1, 41)}


def sent_options(select: ui.select) -> list[str]:
    return [o['label'] for o in select.props['options']]


def sent_value(select: ui.select):
    """The value as the browser's QSelect gets it: the chosen option (index and label), or None."""
    return select.props['model-value']


async def test_building_a_select_builds_its_option_list_once(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    builds = {'ui.select': 0, 'Select': 0}
    made: dict[str, ui.select] = {}

    @ui.page('/test-select-build')
    def page() -> None:
        for name, cls in (('ui.select', ui.select), ('Select', Select)):
            s = cls(AGENTS, value=3, label='Assignee', with_input=True, clearable=True)
            original = s._update_options

            def counting(original=original, name=name) -> None:
                builds[name] += 1
                original()
            s._update_options = counting  # from here on: what the detail editors do after building their select
            s.props('dense outlined stack-label').classes('w-full').mark(f'select-{name}')
            s.set_enabled(False)
            s.set_enabled(True)
            made[name] = s
        ui.label('built')

    await user.open('/test-select-build')
    await user.should_see('built')
    assert builds['ui.select'] >= 4  # NiceGUI's select rebuilds all 40 options for each of these calls
    assert builds['Select'] == 0
    for s in made.values():  # and both send the same list and value
        assert sent_options(s) == list(AGENTS.values())
        assert sent_value(s) == {'value': 2, 'label': 'Agent 3'}
    def sent(s: ui.select) -> dict:  # as the browser gets them (JSON)
        return json.loads(nicegui_json.dumps({k: v for k, v in s.props.items() if k != 'for'}))  # (own html ids)
    assert sent(made['Select']) == sent(made['ui.select'])
    # …but not held as NiceGUI holds them: a list and a dict per option, each an observable collection with its
    # handler list and weak references, per select and open page
    assert isinstance(made['ui.select'].props['options'][0], ObservableCollection)
    assert not any(isinstance(o, ObservableCollection) for o in made['Select'].props['options'])
    assert not isinstance(made['Select'].props['options'], ObservableCollection)


async def test_new_options_and_values_still_reach_the_browser(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    made: list[Select] = []

    @ui.page('/test-select-change')
    def page() -> None:
        made.append(Select({1: 'One', 2: 'Two'}, value=1, label='Pick').classes('w-40'))
        ui.label('built')

    await user.open('/test-select-change')
    await user.should_see('built')
    s = made[0]
    s.set_options({1: 'One', 2: 'Two', 3: 'Three'}, value=3)  # a live change offers a new choice and takes it
    assert sent_options(s) == ['One', 'Two', 'Three']
    assert sent_value(s) == {'value': 2, 'label': 'Three'}
    s.value = 2  # a value chosen without new options
    assert sent_value(s) == {'value': 1, 'label': 'Two'}
    s.options = {2: 'Two (renamed)'}  # options replaced, then update(): as NiceGUI documents it
    s.update()
    assert sent_options(s) == ['Two (renamed)']
    assert sent_value(s) == {'value': 0, 'label': 'Two (renamed)'}
    s.set_options({5: 'Five'})  # the value is no longer offered: cleared, as ui.select does
    assert s.value is None and sent_options(s) == ['Five']


async def test_a_select_adding_typed_values_still_shows_them(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    made: list[Select] = []

    @ui.page('/test-select-new-values')
    def page() -> None:
        made.append(Select(['UTC'], value='UTC', new_value_mode='add-unique'))
        ui.label('built')

    await user.open('/test-select-new-values')
    await user.should_see('built')
    s = made[0]
    s._handle_new_value('Europe/Zurich')  # what the browser's new-value event does: the list grows in place
    s.update()
    assert sent_options(s) == ['UTC', 'Europe/Zurich']


async def test_it_stays_in_step_with_the_browser_as_ui_select_does(user: User, people) -> None:
    """What a review found the first version got wrong: a value not among the options is cleared; options changed in
    place and then ``update()`` (as NiceGUI documents it) reach the browser; a multiple select's value too."""
    await login(user, 'anna@pulse.demo')
    made: dict[str, list] = {'ui.select': [], 'Select': []}

    @ui.page('/test-select-step')
    def page() -> None:
        for name, cls in (('ui.select', ui.select), ('Select', Select)):
            made[name].append(cls({1: 'One', 2: 'Two'}, value=1).classes('w-40'))
            made[name].append(cls(['a', 'b', 'c'], value='b').classes('w-40'))
            made[name].append(cls(['x', 'y', 'z'], value=['x'], multiple=True).classes('w-40'))
        ui.label('built')

    await user.open('/test-select-step')
    await user.should_see('built')
    for name, (by_id, letters, several) in made.items():
        by_id.value = 99  # not among the options: cleared, as NiceGUI does it
        assert by_id.value is None and sent_value(by_id) is None, name
        letters.options.remove('a')  # changed in place, then update()
        letters.update()
        assert sent_options(letters) == ['b', 'c'] and sent_value(letters) == {'value': 0, 'label': 'b'}, name
        # the browser's pick of index 1 is 'c'
        assert letters._event_args_to_value(type('E', (), {'args': {'value': 1, 'label': 'c'}})()) == 'c', name
        several.value.append('z')  # a multiple select's value changed in place
        several.update()
        assert sent_value(several) == [{'value': 0, 'label': 'x'}, {'value': 2, 'label': 'z'}], name


async def test_selects_with_the_same_options_share_one_list_and_a_change_is_their_own(user: User, people) -> None:
    """The same agent, status and priority lists are on every ticket page: the browser's option list is held once."""
    await login(user, 'anna@pulse.demo')
    with user.client.layout:
        first = Select(dict(AGENTS), value=1)
        second = Select(dict(AGENTS), value=2)
    assert first.props['options'] is second.props['options']
    first.set_options({**AGENTS, 41: 'Agent 41'}, value=41)
    assert sent_options(first)[-1] == 'Agent 41' and sent_value(first) == {'value': 40, 'label': 'Agent 41'}
    assert sent_options(second) == list(AGENTS.values())  # the other select's list is as it was
    assert sent_value(second) == {'value': 1, 'label': 'Agent 2'}


async def test_a_select_keeps_under_thirty_attributes_in_its_dict(user: User, people) -> None:
    """From 30 attributes on, Python gives an object a full dictionary of its own (1.6 KB for a select, per page)."""
    await login(user, 'anna@pulse.demo')
    with user.client.layout:
        select = Select(dict(AGENTS), value=3, with_input=True, label='Assignee')
    assert len(vars(select)) < 30
    assert select._labels[2] == 'Agent 3' and select.value == 3
    assert sent_value(select) == {'value': 2, 'label': 'Agent 3'}
