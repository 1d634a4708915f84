"""components/render's speed-ups of NiceGUI: props strings parsed once (``install_props_cache``), the page's elements
escaped with ``replace`` (``install_fast_page_escape``) — each with the same answers as NiceGUI's own code."""
from __future__ import annotations

import random

from nicegui import client as nicegui_client
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


def test_the_page_json_is_escaped_as_nicegui_escapes_it() -> None:
    render.install_fast_page_escape()
    table = nicegui_client.HTML_ESCAPE_TABLE
    assert render._escape_table is table  # installed: NiceGUI's page code looks as expected
    made = nicegui_client.json.dumps({'1': {'text': '</script><script>alert(`${document.cookie}`)</script> & &amp;'}})
    assert type(made) is not str  # what build_response escapes
    assert made.translate(table) == str.translate(str(made), table)
    assert '<' not in made.translate(table) and '`' not in made.translate(table) and '$' not in made.translate(table)
    chars = '&<>`$;#a b"\\/é\n'
    rng = random.Random(7)
    for _ in range(300):
        text = ''.join(rng.choice(chars) for _ in range(rng.randint(0, 40)))
        assert render._PageJson(text).translate(table) == text.translate(table), text
    assert render._PageJson('abc').translate({ord('a'): 'x'}) == 'xbc'  # any other table: as str does


def test_a_table_replace_cannot_reproduce_is_left_to_translate() -> None:
    assert render._replacements({ord('<'): '&lt;', ord('&'): '&amp;'}) == [('&', '&amp;'), ('<', '&lt;')]
    assert render._replacements({ord('<'): '>', ord('>'): '&gt;'}) is None  # '<' would become '&gt;'
