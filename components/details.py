"""Detail sections of a ticket, editable in place, with per-field conflict handling.

Each field is first shown as its *face*: the markup Quasar renders for that field (outlined, dense, its label, its
value, the select's arrow and clear icon, disabled when it may not be changed), one static block, no Vue component.
The editor itself (a ``Select``, ``ui.input`` or ``ui.textarea``) is built when the user goes into the field (a click
or the keyboard's focus on the face) and takes the face's place: focused, a select's menu open, the text the user
typed into the face meanwhile and the caret carried over (``FACES_JS``). The thirteen editors were the heaviest part
of an agent's ticket page: built, sent (every select's options) and held for every open page, most of them never
touched (``benchmarks/README.md``).

Each editor remembers the value and ticket version it showed. When the ticket changes elsewhere:
an untouched editor takes the fresh value; an editor the user is changing keeps their text, and its save
is refused as stale if somebody changed that same field meanwhile (never silently overwritten). A refused save
shows the fresh value in the editor and keeps the user's version beside it ("Use mine" applies it on top of the
fresh value, "Discard" drops it; long texts in a box to copy from): no typed text is lost.
"""
from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from . import css
from .coalesce import TypedSearch
from .select import Select

SaveFn = Callable[[str, Any, int], Awaitable[bool]]
SearchFn = Callable[[str, Any], Awaitable[dict]]  # (what was typed, the value now) → options, the value among them


@dataclass
class FieldSpec:
    field: str
    label: str
    kind: str  # text, textarea, select
    options: dict | None = None
    clearable: bool = True
    # a select over more than a page can hold (customers): ``options`` are a first few and the current value, and
    # what the user types is looked up on the server
    search: SearchFn | None = None


SECTIONS: list[tuple[str, str, list[FieldSpec]]] = [
    ('Classification', 'label', [
        FieldSpec('type_id', 'Type', 'select', clearable=False),
        FieldSpec('priority_id', 'Priority', 'select', clearable=False),
        FieldSpec('queue_id', 'Queue', 'select'),
        FieldSpec('assignee_id', 'Assignee', 'select'),
        FieldSpec('channel', 'Channel', 'select', clearable=False),
    ]),
    ('Customer', 'person', [
        FieldSpec('customer_id', 'Customer', 'select'),
    ]),
    ('Service', 'dns', [
        FieldSpec('service_id', 'Service', 'select'),
        FieldSpec('affected_components', 'Affected components', 'textarea'),
    ]),
    ('Technical details', 'build', [
        FieldSpec('technical_details', 'Technical details', 'textarea'),
        FieldSpec('attempted_solutions', 'Attempted solutions', 'textarea'),
        FieldSpec('workaround', 'Work-around', 'textarea'),
    ]),
    ('Description', 'subject', [
        FieldSpec('title', 'Title', 'text', clearable=False),
        FieldSpec('description', 'Description', 'textarea'),
    ]),
]


class FieldEditor:
    def __init__(self, spec: FieldSpec, value: Any, version: int, *, editable: bool, save: SaveFn) -> None:
        self.spec, self.base_value, self.base_version, self._save = spec, value, version, save
        self.editable = editable
        self._saving = asyncio.Lock()  # one save at a time (``_submit``)
        self.element: Select | ui.textarea | ui.input | None = None  # built when the user goes into the field
        self.face: ui.html | None = ui.html(self._face_html(), sanitize=False).classes('w-full') \
            .mark(f'face-{spec.field}')
        self.face.on('focusin', self._face_focused, [])
        self._applying = False
        # the user's refused text, kept beside the fresh value: its box is built by the first refused save (thirteen
        # hidden boxes on every ticket page were 13 of its ~270 elements, each built, sent and held per viewer)
        self.kept: ui.column | None = None
        self.kept_value: Any = None
        self.kept_label = ''

    # --- the face, and the editor built in its place ---
    def _shown(self, value: Any) -> str:
        if self.spec.kind == 'select':
            return '' if value is None else str((self.spec.options or {}).get(value, value))
        return value or ''

    def _face_html(self) -> str:
        return face_html(self.spec, self._shown(self.base_value), editable=self.editable)

    def _show_face(self) -> None:
        if self.face is not None:
            self.face.set_content(self._face_html())

    async def _face_focused(self) -> None:
        if self.element is None and self.editable:
            self.open(focus=True)

    def open(self, *, focus: bool = False) -> Select | ui.textarea | ui.input:
        """The field's editor, built in the face's place the first time (``focus``: the user went into the face:
        the editor takes the focus, the text typed into the face meanwhile and the caret; a select opens its menu)."""
        if self.element is not None:
            return self.element
        spec, value, face = self.spec, self.base_value, self.face
        assert face is not None and face.parent_slot is not None
        with face.parent_slot:
            element: Select | ui.textarea | ui.input
            if spec.kind == 'select':
                element = Select(spec.options or {}, value=value, label=spec.label, with_input=True,
                                 clearable=spec.clearable, on_change=self._changed_select)
                if spec.search is not None:
                    element.on('input-value', TypedSearch(self._search), throttle=0.25)
            elif spec.kind == 'textarea':
                element = ui.textarea(spec.label, value=value or '').props('autogrow')
                element.on('blur', self._commit_text)
            else:
                element = ui.input(spec.label, value=value or '')
                element.on('blur', self._commit_text)
                element.on('keydown.enter', self._commit_text)
            element.props(f'dense outlined stack-label data-field={spec.field}').classes('w-full') \
                .mark(f'field-{spec.field}')
            element.set_enabled(self.editable)
        element.move(target_index=face.parent_slot.children.index(face))
        self.element, self.face = element, None
        face.delete()
        if focus:
            element.client.run_javascript(f'window.pulseFaceTake?.({json.dumps(spec.field)}, '
                                          f'{json.dumps(self._shown(value))}, {json.dumps(spec.kind == "select")})')
            if spec.kind == 'select':
                element.run_method('showPopup')
        return element

    def set_enabled(self, editable: bool) -> None:
        if editable == self.editable:
            return
        self.editable = editable
        if self.element is not None:
            self.element.set_enabled(editable)
        else:
            self._show_face()

    @property
    def dirty(self) -> bool:
        if self.element is None:
            return False  # nobody went into the field
        current = self.element.value
        if self.spec.kind != 'select':
            return (current or '').strip() != (self.base_value or '').strip()
        return current != self.base_value

    def apply(self, value: Any, version: int, *, force: bool = False, label: str | None = None) -> None:
        """Show the ticket's fresh state (see the module docstring for the rules); ``label``: what a select shows
        for a value it may not offer yet (a searched select offers only a few)."""
        if value == self.base_value and not force:
            self.base_version = version  # nobody touched this field: the user's edit is still based on it
            return
        if self.dirty and not force:
            return  # the user is changing it: keep their text; saving will be refused as stale
        self.base_value, self.base_version = value, version
        if self.spec.kind == 'select' and value is not None and value not in (self.spec.options or {}):
            self.spec.options = {**(self.spec.options or {}), value: label or str(value)}
            if isinstance(self.element, Select):
                self.element.set_options(self.spec.options, value=self.element.value)
        if self.element is None:
            self._show_face()
            return
        self._applying = True
        try:
            self.element.value = value if self.spec.kind == 'select' else (value or '')
        finally:
            self._applying = False

    async def _search(self, text: str) -> None:
        """The user typed in a searched select: the options become what matches (and the value shown now)."""
        assert self.spec.search is not None and isinstance(self.element, Select)
        options = await self.spec.search(text, self.element.value)
        if self.element.is_deleted:
            return
        if self.element.value is not None and self.element.value not in options:  # changed meanwhile
            options[self.element.value] = (self.spec.options or {}).get(self.element.value, str(self.element.value))
        self.spec.options = options
        self.element.set_options(options, value=self.element.value)

    async def _changed_select(self) -> None:
        if self._applying or not self.dirty:
            return
        await self._submit()

    async def _commit_text(self) -> None:
        if self.dirty:
            await self._submit()

    async def _submit(self) -> None:
        """Save the editor's value. A change made while the last one is on its way (a busy server) is saved after
        it, against the value it saved: at the same time, it was refused as "changed by someone else meanwhile"."""
        async with self._saving:
            if self.element is None or self.element.is_deleted or not self.dirty:
                return  # (the change before saved this value already)
            await self._submit_now(self.element)

    async def _submit_now(self, element: Select | ui.textarea | ui.input) -> None:
        value, before = element.value, self.base_value
        ok = await self._save(self.spec.field, value, self.base_version)
        if element.is_deleted:
            return
        if ok:
            self.base_value = value.strip() if isinstance(value, str) else value
            self._hide_kept()
            return
        # refused: the page showed the current value again; the user's text is not thrown away
        mine = value.strip() if isinstance(value, str) else value
        if mine in (None, '') or mine == element.value or mine == self.base_value:
            return
        self._show_kept(mine, changed_meanwhile=self.base_value != before)

    # --- a refused change is kept: "your version" beside the fresh value ---
    def _label_of(self, value: Any) -> str:
        if self.spec.kind == 'select':
            return str((self.spec.options or {}).get(value, value))
        return str(value)

    def _kept_box(self) -> ui.column:
        """The box for the user's refused version, right below the editor (built the first time it is needed)."""
        if self.kept is None:
            assert self.element is not None
            slot = self.element.parent_slot
            assert slot is not None
            with slot:
                self.kept = ui.column().classes('w-full gap-1 border border-orange-300 bg-orange-50 rounded p-2 '
                                                'text-sm').mark(f'kept-{self.spec.field}')
            self.kept.move(target_index=slot.children.index(self.element) + 1)
        return self.kept

    def _show_kept(self, mine: Any, *, changed_meanwhile: bool) -> None:
        self.kept_value = mine
        self.kept_label = self._label_of(mine)  # (a searched select may no longer offer it when it is used)
        kept = self._kept_box()
        kept.clear()
        with kept:
            ui.label(f'{self.spec.label} was changed by someone else meanwhile: the current value is shown above. '
                     'Your version was not saved:' if changed_meanwhile else
                     f'{self.spec.label}: your version was not saved:').classes('text-orange-900')
            if self.spec.kind == 'textarea':  # long texts: a box to read and copy from
                ui.textarea(value=mine).props('readonly outlined dense autogrow bg-color=white') \
                    .classes('w-full').mark(f'kept-text-{self.spec.field}')
            else:
                ui.label(self._label_of(mine)).classes('font-medium break-words').mark(f'kept-text-{self.spec.field}')
            with ui.row().classes('gap-1'):
                ui.button('Use mine', icon='check', on_click=self._use_mine).props('dense no-caps unelevated') \
                    .mark(f'use-mine-{self.spec.field}')
                ui.button('Discard', icon='close', on_click=self._hide_kept).props('dense no-caps flat') \
                    .mark(f'discard-{self.spec.field}')
                if self.spec.kind != 'select':
                    ui.button('Copy', icon='content_copy', on_click=self._copy_kept).props('dense no-caps flat') \
                        .mark(f'copy-{self.spec.field}')
        kept.set_visibility(True)

    def _hide_kept(self) -> None:
        self.kept_value = None
        if self.kept is not None and self.kept.visible:
            self.kept.set_visibility(False)
            self.kept.clear()

    async def _use_mine(self) -> None:
        """Apply the kept version on top of the current one (the page sends the value shown now as seen)."""
        mine = self.kept_value
        if mine is None or self.element is None:
            return
        if isinstance(self.element, Select) and mine not in (self.spec.options or {}):
            # a searched select offers what was typed last: the kept choice goes back among its options first (else
            # the select would clear it and save nothing)
            self.spec.options = {**(self.spec.options or {}), mine: self.kept_label or str(mine)}
            self.element.set_options(self.spec.options, value=self.element.value)
        self.element.value = mine  # a select saves on its change handler; a text saves here
        if self.spec.kind != 'select':
            await self._submit()

    def _copy_kept(self) -> None:
        ui.clipboard.write(str(self.kept_value or ''))
        ui.notify('Copied your version to the clipboard.', type='info')


# a section's editors are spaced as a ``ui.column().classes('gap-2')`` spaced them, without that column: the
# expansion's content already is a column (one element fewer per section, built and held for every open page); a
# face's text box grows with its text as Quasar's autogrow does (FACES_JS where the browser cannot)
DETAILS_CSS = ('.pl-details .nicegui-expansion-content { gap: 0.5rem; } '
               '.pl-face textarea { field-sizing: content; resize: none; overflow-y: hidden; }')

_SELECT = ('q-field row no-wrap items-start q-field--outlined q-select q-field--auto-height q-select--with-input '
           'q-select--without-chips q-select--single q-field--float q-field--labeled q-field--dense')
_INPUT = 'q-field row no-wrap items-start q-field--outlined q-input q-field--float q-field--labeled q-field--dense'
_TEXTAREA = ('q-field row no-wrap items-start q-field--outlined q-textarea q-textarea--autogrow q-field--float '
             'q-field--labeled q-field--dense')
_ICON = 'q-icon notranslate material-icons'


def face_html(spec: FieldSpec, shown: str, *, editable: bool, stacked: bool = True) -> str:
    """The markup Quasar renders for the field (NiceGUI's select, input and autogrow textarea, dense, outlined, label
    stacked), showing ``shown``: the same look, without the component. Every text is escaped. ``stacked=False``: a
    select whose label sits inside it while it is empty (no ``stack-label``: the team's "Add a member")."""
    label, text, name = html.escape(spec.label), html.escape(shown), f'pl-face-{spec.field}'
    off = ' disabled' if not editable else ''
    if spec.kind == 'select':
        classes, control = _SELECT, (
            f'<div class="q-field__native row items-center"><input class="q-field__input q-placeholder col" '
            f'type="search" readonly tabindex="0" role="combobox" aria-label="{label}" id="{name}" '
            f'value="{text}"{off}></div>')
        append = ''
        if spec.clearable and shown and editable:
            append += (f'<div class="q-field__append q-field__marginal row no-wrap items-center">'
                       f'<i class="{_ICON} q-field__focusable-action" aria-hidden="true">cancel</i></div>')
        append += (f'<div class="q-field__append q-field__marginal row no-wrap items-center">'
                   f'<i class="{_ICON} q-select__dropdown-icon" aria-hidden="true">arrow_drop_down</i></div>')
    elif spec.kind == 'textarea':
        classes, append = _TEXTAREA, ''
        control = (f'<textarea class="q-field__native q-placeholder" tabindex="0" rows="1" aria-label="{label}" '
                   f'id="{name}"{off}>{text}</textarea>')
    else:
        classes, append = _INPUT, ''
        control = (f'<input class="q-field__native q-placeholder" tabindex="0" aria-label="{label}" id="{name}" '
                   f'type="text" value="{text}"{off}>')
    disabled = ''
    if not stacked and not shown:
        classes = classes.replace(' q-field--float', '')
    if not editable:
        classes, disabled = classes + ' q-field--disabled', ' aria-disabled="true"'
    return (f'<label class="{classes} w-full pl-face" for="{name}" data-face="{html.escape(spec.field)}"{disabled}>'
            '<div class="q-field__inner relative-position col self-stretch">'
            '<div class="q-field__control relative-position row no-wrap" tabindex="-1">'
            '<div class="q-field__control-container col relative-position row no-wrap">'
            f'<div class="q-field__label no-pointer-events absolute ellipsis">{label}</div>{control}</div>'
            f'{append}</div></div></label>')


# the page's side of the faces, run once per page: what is typed into a face (and where the caret is) is kept until
# the editor built in its place takes it (``pulseFaceTake``); a face's text box is sized to its text where CSS cannot
FACES_JS = r'''(() => {
  if (window.pulseFaceTake) return;
  const typed = {};  // per field: the face's text, its caret, and whether Enter was pressed in it
  const faceOf = (e) => e.target.closest && e.target.closest('.pl-face');
  const keep = (e) => {
    const face = faceOf(e), box = e.target;
    if (!face || !('value' in box)) return;
    const was = typed[face.dataset.face] ||= {};
    Object.assign(was, {value: box.value, start: box.selectionStart, end: box.selectionEnd});
  };
  for (const type of ['focusin', 'input', 'select', 'keyup', 'mouseup']) document.addEventListener(type, keep, true);
  document.addEventListener('keydown', (e) => {  // Enter in a one-line face: the editor saves once it is there
    const face = e.key === 'Enter' && faceOf(e);
    if (face && e.target.tagName === 'INPUT' && typed[face.dataset.face]) typed[face.dataset.face].enter = true;
  }, true);
  window.pulseFaceTake = (field, shown, select, tries = 0) => {
    // the editor's props land on its text box (Quasar gives a field's attributes to its native input)
    const root = document.querySelector(`[data-field="${field}"]`);
    const box = root && (root.matches('input, textarea') ? root : root.querySelector('input, textarea'));
    if (!box) {
      if (tries < 120) requestAnimationFrame(() => window.pulseFaceTake(field, shown, select, tries + 1));
      return;
    }
    const was = typed[field] || {};
    delete typed[field];
    // the face went with the focus in it (the page's body has it now), unless the user went on meanwhile (Tab, a
    // click on something else): then the editor's blur saves and the focus goes back where they went
    const back = document.activeElement, left = back && back !== document.body && back.isConnected;
    box.focus();
    if (!select && was.value !== undefined && was.value !== shown && box.value === shown) {
      box.value = was.value;
      box.dispatchEvent(new Event('input', {bubbles: true}));
      try { box.setSelectionRange(was.start ?? box.value.length, was.end ?? box.value.length); } catch (e) {}
    }
    setTimeout(() => {  // after the value's own message: NiceGUI sends it a task later than a key event
      if (!select && was.enter) box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
      if (left) {
        box.blur();
        back.focus();
      }
    }, 0);
  };
  if (!CSS.supports('field-sizing', 'content')) {
    const grow = () => document.querySelectorAll('.pl-face textarea').forEach((t) => {
      t.style.height = '1px'; t.style.height = t.scrollHeight + 'px';
    });
    window.pulseFacesGrow = grow;
  }
})();'''


class DetailsPanel:
    """All sections; ``apply`` pushes a fresh ticket into every editor."""

    def __init__(self, ticket, options: dict[str, dict], editable: Callable[[str], bool], save: SaveFn, *,
                 visible: Callable[[str], bool] = lambda _: True, searches: dict[str, SearchFn] | None = None) \
            -> None:
        self.editors: dict[str, FieldEditor] = {}
        css.add_once(DETAILS_CSS)
        with ui.card().classes('w-full gap-0 p-2 pl-details').props('flat bordered') as self.card:
            self._build(ticket, options, editable, save, visible, searches or {})
        self.card.client.run_javascript(FACES_JS + 'window.pulseFacesGrow?.();')

    def _build(self, ticket, options: dict[str, dict], editable: Callable[[str], bool], save: SaveFn,
               visible: Callable[[str], bool], searches: dict[str, SearchFn]) -> None:
        for title, icon, all_specs in SECTIONS:
            specs = [spec for spec in all_specs if visible(spec.field)]
            if not specs:
                continue
            with ui.expansion(title, icon=icon, value=title != 'Technical details').classes('w-full') \
                    .props('dense header-class="font-medium"'):  # its editors one below the other (DETAILS_CSS)
                for spec in specs:
                    spec = FieldSpec(spec.field, spec.label, spec.kind, options.get(spec.field), spec.clearable,
                                     searches.get(spec.field))
                    self.editors[spec.field] = FieldEditor(spec, getattr(ticket, spec.field), ticket.version,
                                                           editable=editable(spec.field), save=save)

    def apply(self, ticket, *, force_field: str | None = None, labels: dict[str, str] | None = None) -> None:
        for field, editor in self.editors.items():
            editor.apply(getattr(ticket, field), ticket.version, force=field == force_field,
                         label=(labels or {}).get(field))

    def set_options(self, field: str, options: dict) -> None:
        editor = self.editors.get(field)
        if editor is None:
            return
        if isinstance(editor.element, Select):
            editor.element.set_options(options, value=editor.element.value)
        elif editor.element is None:
            editor.spec.options = options
            editor._show_face()  # noqa: SLF001
