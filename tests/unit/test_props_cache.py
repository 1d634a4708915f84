"""components/render.install_props_cache: NiceGUI's props strings parsed once, with the same answers as before."""
from __future__ import annotations

from nicegui.props import Props

from components import render


def test_the_kept_parse_answers_as_nicegui_does_and_parses_each_string_once(monkeypatch) -> None:
    render.install_props_cache()
    monkeypatch.setattr(Props, 'parse', Props.__dict__['parse'])  # put back as it was after this test
    original = Props.parse.__pulse_original__
    calls: list[str] = []

    def counting(text):
        calls.append(text)
        return original(text)
    monkeypatch.setattr(Props.parse, '__pulse_original__', counting, raising=False)
    monkeypatch.setattr(render, '_props_parsed', {})
    render.install_props_cache()  # again: idempotent, and now over the counting parser
    texts = ['dense outlined stack-label', 'dense header-class="text-sm font-medium"',
             'anchor="bottom right" self="top right"', "size=sm label='a b'", 'maxlength=2000 autogrow',
             ':options="[1, 2]"', '', None]
    for text in texts:
        assert Props.parse(text) == original(text)
    for text in texts:
        Props.parse(text)
    assert sorted(calls) == sorted(t for t in texts if t)  # each string parsed once


def test_a_changed_answer_does_not_change_the_kept_one(monkeypatch) -> None:
    monkeypatch.setattr(render, '_props_parsed', {})
    render.install_props_cache()
    first = Props.parse('dense data-x=[1,2] data-y={"a":1}')
    assert first == {'dense': True, 'data-x': [1, 2], 'data-y': {'a': 1}}
    first['dense'] = False  # a caller changes what it got
    first['data-x'].append(3)
    first['data-y']['b'] = 2
    assert Props.parse('dense data-x=[1,2] data-y={"a":1}') == {'dense': True, 'data-x': [1, 2], 'data-y': {'a': 1}}


def test_strings_built_per_row_do_not_grow_it_without_end(monkeypatch) -> None:
    monkeypatch.setattr(render, '_props_parsed', {})
    monkeypatch.setattr(render, 'PROPS_KEPT', 50)
    render.install_props_cache()
    for i in range(1000):
        assert Props.parse(f'data-entry={i} dense') == {'data-entry': str(i), 'dense': True}
    assert len(render._props_parsed) <= 50
