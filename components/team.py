"""The team list (watchers): members, watch switches, add and remove."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape

from nicegui import ui

from pulse_live.queries.tickets import MemberView

from . import markup
from .actions import attempt
from .chatter_html import avatar_html
from .coalesce import TypedSearch
from .details import FieldSpec, face_html
from .select import Select

HOW = {'creator': 'creator', 'customer': 'customer', 'support_group': 'support group', 'manual': 'added'}
GROUP_SUFFIX = ' support group'


def member_label(m: MemberView) -> tuple[str, str]:
    """The name and the line under it: the provider's group entry is shown as the organisation's name with what it
    stands for (not "Pulse Support support group")."""
    if m.user_id is None:
        return m.name.removesuffix(GROUP_SUFFIX) or m.name, 'support group · whoever works the ticket'
    return m.name, HOW.get(m.added_how, m.added_how)


def member_html(name: str, how: str, *, group: bool) -> str:
    """A member's avatar (its tooltip as ``data-tip``), name and how they came, as the markup of the elements it was
    (avatar with tooltip, column, two labels): a team row is four elements instead of ten, on every ticket page."""
    return (avatar_html(name, 'blue-grey' if group else 'teal') +
            '<div class="nicegui-column gap-0 grow">'
            f'<div class="text-sm" data-member-name>{escape(name)}</div>'
            f'<div class="text-xs text-slate-400">{escape(how)}</div></div>')


PICKER = FieldSpec('team-picker', 'Add a member', 'select', clearable=False)


class TeamList:
    def __init__(self, *, viewer_id: int, can_manage: bool, candidates: Callable[[], Awaitable[dict[int, str]]],
                 add: Callable[[int], Awaitable[None]], remove: Callable[[int], Awaitable[None]],
                 watch: Callable[[int, bool], Awaitable[None]],
                 search: Callable[[str], Awaitable[dict[int, str]]] | None = None) -> None:
        """``candidates``: reads whom the picker offers before anything is typed; ``search``: who matches what is
        typed (a desk has more people than a page of options should hold). The picker is its face until the user
        goes into it (components/details.py): the candidates are read and the select built then, not on every
        page."""
        self.viewer_id, self.can_manage = viewer_id, can_manage
        self._candidates, self._search_people = candidates, search
        self._add, self._remove, self._watch = add, remove, watch
        self.picker: Select | None = None
        with ui.card().classes('w-full gap-2').props('flat bordered'):
            markup.row('w-full items-center no-wrap', markup.label('Team', 'font-medium grow'),
                       markup.label('Notified', 'text-xs text-slate-400'))
            self.rows = ui.column().classes('w-full gap-1').mark('team-list')
            if can_manage:
                with ui.row().classes('w-full items-center no-wrap gap-1'):
                    self.face: ui.html | None = ui.html(face_html(PICKER, '', editable=True, stacked=False),
                                                        sanitize=False).classes('grow').mark('team-picker-face')
                    self.face.on('focusin', self.open_picker, [])
                    ui.button(icon='person_add', on_click=self._add_clicked).props('flat dense round') \
                        .tooltip('Add to team').mark('team-add')

    async def open_picker(self) -> Select | None:
        """The picker, built in its face's place when the user goes into it: focused, its menu open."""
        if self.picker is not None:
            return self.picker
        face = self.face
        if face is None or face.is_deleted or face.parent_slot is None:
            return None
        self.face = None  # a second focus while the candidates are read builds nothing more
        try:
            read = await attempt(self._candidates())  # a refusal or an unanswering database is shown as such
        finally:
            self.face = face  # until the picker is in its place: a failed read leaves a face the next focus reads for
        if not read or face.is_deleted or face.parent_slot is None:
            return None
        candidates = read.value
        with face.parent_slot:
            picker = Select(candidates, label=PICKER.label, with_input=True) \
                .props(f'dense outlined data-field={PICKER.field}').classes('grow').mark('team-picker')
            if self._search_people is not None:
                picker.on('input-value', TypedSearch(self._search), throttle=0.25)
        picker.move(target_index=face.parent_slot.children.index(face))
        face.delete()
        self.picker, self.face = picker, None
        picker.client.run_javascript(f"window.pulseFaceTake?.('{PICKER.field}', '', true)")
        picker.run_method('showPopup')
        return picker

    def show(self, members: list[MemberView]) -> None:
        self.rows.clear()
        with self.rows:
            for m in members:
                name, how = member_label(m)
                with ui.row().classes('w-full items-center no-wrap gap-2').mark('team-member'):
                    ui.html(member_html(name, how, group=m.user_id is None), sanitize=False) \
                        .style('display: contents').mark('team-member-name')
                    # a name for screen readers and a tooltip for the eye: the switch has no visible text of its own
                    # (tooltips as data-tip, shown by the chatter's delegated listener: components/chatter_html.py)
                    switch = ui.switch(value=m.watching).props('dense').mark(f'watch-switch member-{m.id}')
                    switch.props['aria-label'] = f'Notify {name}'
                    switch.props['data-tip'] = f'{name} is notified of changes' if m.watching else \
                        f'{name} is not notified'
                    switch.set_enabled(self.can_manage or m.user_id == self.viewer_id)
                    switch.on_value_change(lambda e, m=m: self._watch(m.id, e.value))
                    if self.can_manage:
                        remove = ui.button(icon='close', on_click=lambda m=m: self._remove(m.id)) \
                            .props('flat dense round size=sm')
                        remove.props['data-tip'] = f'Remove {m.name}'
                        remove.props['aria-label'] = f'Remove {m.name}'


    async def _search(self, text: str) -> None:
        assert self._search_people is not None and self.picker is not None
        options = await self._search_people(text)
        if self.picker.is_deleted:
            return
        current = self.picker.value
        if current is not None and current not in options:  # picked, not added yet
            options[current] = dict(self.picker.options).get(current, str(current))
        self.picker.set_options(options, value=current)

    async def _add_clicked(self) -> None:
        if self.picker is None or self.picker.value is None:
            ui.notify('Pick a person to add.', type='warning')
            return
        await self._add(self.picker.value)
        self.picker.value = None
