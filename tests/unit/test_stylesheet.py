"""The prebuilt Tailwind stylesheet (pulse_live/static/pulse.css) has every class the pages and components use.

Without NiceGUI's in-browser compiler a Tailwind class that is not in pulse.css has no style at all: the page looks
wrong, and nothing else fails. Every class written in pages/ and components/ — in ``.classes('…')`` (its literal parts
when it is an f-string), and in ``class="…"`` of HTML built in Python — must be styled by pulse.css, by Quasar or
NiceGUI's own CSS, or by a stylesheet of ours in the code (``ui.add_css``). When this fails, run
``bash scripts/build-css.sh`` and commit pulse_live/static/pulse.css; a class built from parts at run time goes into
pulse_live/static/pulse.tailwind.css as ``@source inline(…)``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nicegui
import pytest

from pulse_live.app import run_kwargs
from pulse_live.config import reset_settings

ROOT = Path(__file__).resolve().parents[2]
STYLESHEET = ROOT / 'pulse_live' / 'static' / 'pulse.css'
NICEGUI_STATIC = Path(nicegui.__file__).parent / 'static'
# classes that only mark an element (for our scripts, for tests, for a :has() in our CSS) and carry no style
MARKERS = frozenset({
    'notranslate',  # Quasar's icons carry it (the chatter's icons are built as Quasar renders them): for translators
})
CLASS_ATTR = re.compile(r'''(?<![:\w-])class=["']([^"'{}]*)["']''')  # HTML built in Python
VUE_CLASS = re.compile(r''':class="([^"]*)"''')  # a Vue binding in a slot template: its quoted names

CSS_CLASS = re.compile(r'\.((?:[A-Za-z_-]|\\.)(?:[\w-]|\\.)*)')


def _selector_classes(css: str) -> set[str]:
    """Class names in the selectors of a stylesheet (Tailwind's escapes undone: .w-1\\/2 → w-1/2)."""
    css = re.sub(r'/\*.*?\*/', '', css, flags=re.S)
    names = set()
    for block in re.findall(r'([^{};]+)\{', css):  # selector lists and at-rule preludes
        for name in CSS_CLASS.findall(block):
            names.add(re.sub(r'\\(.)', r'\1', name))
    return names


def _sources() -> list[Path]:
    return sorted(p for d in ('pages', 'components') for p in (ROOT / d).rglob('*.py'))


def _literal_parts(node: ast.expr) -> list[tuple[str, bool, bool]]:
    """(text, joined on the left, joined on the right) of a string or an f-string's literal parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.value, False, False)]
    if isinstance(node, ast.JoinedStr):
        values = node.values
        return [(v.value, i > 0, i < len(values) - 1) for i, v in enumerate(values)
                if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def _tokens(text: str, glued_left: bool, glued_right: bool) -> list[str]:
    """Whole class names in a literal part: a name that touches a {placeholder} is only a part of one."""
    words = text.split(' ')
    whole = [(w, not (glued_left and i == 0), not (glued_right and i == len(words) - 1)) for i, w in enumerate(words)]
    return [w for w, left_ok, right_ok in whole if w and left_ok and right_ok]


def _used_classes(paths: list[Path] | None = None) -> dict[str, list[str]]:
    """Every class name written in pages/ and components/ (or in paths) → where (file:line)."""
    used: dict[str, list[str]] = {}
    for path in _sources() if paths is None else paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == 'classes'):
                args = list(node.args) + [k.value for k in node.keywords if k.arg in ('add', 'replace')]
                for arg in args:
                    for text, left, right in _literal_parts(arg):
                        for name in _tokens(text, left, right):
                            used.setdefault(name, []).append(f'{where}:{node.lineno}')
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and 'class=' in node.value:
                attrs = CLASS_ATTR.findall(node.value)
                attrs += [q for binding in VUE_CLASS.findall(node.value) for q in re.findall(r"'([^']*)'", binding)]
                for attr in attrs:
                    for name in attr.split():
                        used.setdefault(name, []).append(f'{where}:{node.lineno}')
    return used


def _our_css() -> set[str]:
    """Classes styled by the CSS written in our code (ui.add_css strings and <style> blocks)."""
    names: set[str] = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and '{' in node.value \
                    and '}' in node.value and ':' in node.value:
                names |= _selector_classes(node.value)
    return names


def _quasar_and_nicegui_css() -> set[str]:
    names: set[str] = set()
    for name in ('quasar.unimportant.prod.css', 'quasar.important.prod.css', 'nicegui.css'):
        names |= _selector_classes((NICEGUI_STATIC / name).read_text())
    return names


def test_the_scan_sees_the_classes_the_pages_use():
    used = _used_classes()
    # .classes('…') literals, the literal parts of an f-string, class="…" in HTML built in Python
    assert {'w-full', 'gap-2', 'text-xs', 'font-medium', 'rounded-lg'} <= set(used)
    assert 'bg-' not in used and 'h-1' in used  # f'h-1 w-10 rounded bg-{color}': bg-… is only a part of a name
    assert {'rounded-full', 'bg-emerald-100'} <= set(used)  # the chatter's call entries (chatter_html.py)


def test_the_stylesheet_reads_tailwind_selectors():
    css = STYLESHEET.read_text()
    names = _selector_classes(css)
    assert {'w-full', 'gap-2', 'items-center'} <= names
    # escaped selectors come back as written in the code
    assert '@layer utilities' in css
    assert not {n for n in names if '\\' in n}


def _unstyled(used: dict[str, list[str]]) -> dict[str, list[str]]:
    styled = _selector_classes(STYLESHEET.read_text()) | _quasar_and_nicegui_css() | _our_css() | MARKERS
    return {name: places for name, places in used.items() if name not in styled}


def test_a_class_the_stylesheet_lacks_is_found(tmp_path):
    page = tmp_path / 'page.py'
    page.write_text("from nicegui import ui\n"
                    "ui.label('x').classes('w-full w-[37rem] text-h6')\n"  # Tailwind (built, not built), Quasar
                    "ui.row().classes(replace=f'gap-2 hover:bg-lime-950/40 {extra}')\n"
                    "ui.html('<div class=\"truncate tracking-[0.3em]\"></div>')\n"
                    "ui.html('<q-td :class=\"ok ? \\'\\' : \\'text-fuchsia-950/10\\'\">')\n")
    assert set(_unstyled(_used_classes([page]))) == {'w-[37rem]', 'hover:bg-lime-950/40', 'tracking-[0.3em]',
                                                     'text-fuchsia-950/10'}


def test_every_class_the_pages_use_has_a_style():
    missing = _unstyled(_used_classes())
    assert not missing, ('classes without any style (not in pulse_live/static/pulse.css, Quasar, NiceGUI or our own '
                         'CSS); run `bash scripts/build-css.sh` and commit pulse.css:\n'
                         + '\n'.join(f'  {name}  ({", ".join(where[:3])})' for name, where in sorted(missing.items())))


def test_the_dashboard_tiles_colours_built_at_run_time_are_in_the_stylesheet():
    """pages/dashboard.py: f'bg-{color}' with a Tailwind colour (and NiceGUI's color= arguments, the same names)."""
    names = _selector_classes(STYLESHEET.read_text())
    assert {'bg-slate-900', 'bg-red-700', 'bg-green-600', 'bg-red-600', 'bg-amber-600', 'bg-purple-600',
            'bg-red-400'} <= names


@pytest.mark.parametrize(('env', 'browser_compiler'), [(None, False), ('1', True), ('0', False)])
def test_the_in_browser_compiler_runs_only_when_asked_for(monkeypatch, env, browser_compiler):
    if env is None:
        monkeypatch.delenv('PULSE_TAILWIND_BROWSER', raising=False)
    else:
        monkeypatch.setenv('PULSE_TAILWIND_BROWSER', env)
    reset_settings()
    try:
        assert run_kwargs()['tailwind'] is browser_compiler
    finally:
        reset_settings()
