"""Detail sections of a ticket, editable in place, with per-field conflict handling.

Each editor remembers the value and ticket version it showed. When the ticket changes elsewhere:
an untouched editor takes the fresh value; an editor the user is changing keeps their text, and its save
is refused as stale if somebody changed that same field meanwhile (never silently overwritten). A refused save
shows the fresh value in the editor and keeps the user's version beside it ("Use mine" applies it on top of the
fresh value, "Discard" drops it; long texts in a box to copy from): no typed text is lost.
"""
from __future__ import annotations

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
        self.element: Select | ui.textarea | ui.input
        if spec.kind == 'select':
            self.element = Select(spec.options or {}, value=value, label=spec.label, with_input=True,
                                  clearable=spec.clearable, on_change=self._changed_select)
            if spec.search is not None:
                self.element.on('input-value', TypedSearch(self._search), throttle=0.25)
        elif spec.kind == 'textarea':
            self.element = ui.textarea(spec.label, value=value or '').props('autogrow')
            self.element.on('blur', self._commit_text)
        else:
            self.element = ui.input(spec.label, value=value or '')
            self.element.on('blur', self._commit_text)
            self.element.on('keydown.enter', self._commit_text)
        self.element.props('dense outlined stack-label').classes('w-full').mark(f'field-{spec.field}')
        self.element.set_enabled(editable)
        self._applying = False
        # the user's refused text, kept beside the fresh value: its box is built by the first refused save (thirteen
        # hidden boxes on every ticket page were 13 of its ~270 elements, each built, sent and held per viewer)
        self.kept: ui.column | None = None
        self.kept_value: Any = None
        self.kept_label = ''

    @property
    def dirty(self) -> bool:
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
        if isinstance(self.element, Select) and value is not None and value not in (self.spec.options or {}):
            self.spec.options = {**(self.spec.options or {}), value: label or str(value)}
            self.element.set_options(self.spec.options, value=self.element.value)
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
        value, before = self.element.value, self.base_value
        ok = await self._save(self.spec.field, value, self.base_version)
        if self.element.is_deleted:
            return
        if ok:
            self.base_value = value.strip() if isinstance(value, str) else value
            self._hide_kept()
            return
        # refused: the page showed the current value again; the user's text is not thrown away
        mine = value.strip() if isinstance(value, str) else value
        if mine in (None, '') or mine == self.element.value or mine == self.base_value:
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
        if mine is None:
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
# expansion's content already is a column (one element fewer per section, built and held for every open page)
DETAILS_CSS = '.pl-details .nicegui-expansion-content { gap: 0.5rem; }'


class DetailsPanel:
    """All sections; ``apply`` pushes a fresh ticket into every editor."""

    def __init__(self, ticket, options: dict[str, dict], editable: Callable[[str], bool], save: SaveFn, *,
                 visible: Callable[[str], bool] = lambda _: True, searches: dict[str, SearchFn] | None = None) \
            -> None:
        self.editors: dict[str, FieldEditor] = {}
        css.add_once(DETAILS_CSS)
        with ui.card().classes('w-full gap-0 p-2 pl-details').props('flat bordered'):
            self._build(ticket, options, editable, save, visible, searches or {})

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
        if editor is not None and isinstance(editor.element, Select):
            editor.element.set_options(options, value=editor.element.value)
