"""Saved views in the work lists' navigation (beside Tickets, Queues, My tickets), each with its live count: a
ticket change re-counts once per burst (``LiveRefresh``), and pages woken by the same change share one count per
view (``queries/shared.shared_read``: the count does not depend on who looks). The view open now can be renamed
here by whoever may change it (its owner; a manager for a shared one)."""
from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from nicegui import ui

from pulse_live.events import TicketChanged
from pulse_live.models import User
from pulse_live.queries import saved_views as view_queries
from pulse_live.queries.shared import shared_read
from pulse_live.services import saved_views as view_services

from . import dialogs
from .actions import attempt
from .live_list import LiveRefresh


def _label(view: view_queries.ViewRow, count: int | None) -> str:
    return f'{view.name} · {count if count is not None else "?"}'


class SavedViewsNav:
    def __init__(self, user: User, active: int = 0) -> None:
        self.user, self.active = user, active
        self.views: list[view_queries.ViewRow] = []
        self.chips: dict[int, ui.button] = {}
        self.row = ui.row().classes('gap-1 items-center').mark('saved-views')

    async def build(self) -> None:
        self.views = await view_queries.visible_views(self.user)
        counts = await view_queries.view_counts(self.user, self.views)
        with self.row:
            for v in self.views:
                chip = ui.button(_label(v, counts.get(v.id)), icon='group' if v.queue_id else 'bookmark',
                                 on_click=lambda v=v: ui.navigate.to(v.address)) \
                    .props(f'no-caps dense rounded {"unelevated" if v.id == self.active else "outline"} '
                           'color=secondary').mark(f'saved-view saved-view-{v.id}')
                chip.tooltip(f'Shared with {v.queue} by {v.owner}' if v.queue_id else 'Only you see this view')
                self.chips[v.id] = chip
                if v.id == self.active and v.may_change:
                    ui.button(icon='edit', on_click=lambda v=v: self._rename_dialog(v)) \
                        .props('flat dense round size=sm').mark('saved-view-rename').tooltip('Rename this view')
        if self.views:
            LiveRefresh(self._recount, concerns=lambda _: True, alive=lambda: not self.row.is_deleted, delay=0.3,
                        name='saved-view-counts')

    def _rename_dialog(self, view: view_queries.ViewRow) -> None:
        if (dialog := dialogs.single('rename-view')) is None:
            return
        with dialog, ui.card().classes('w-[24rem] max-w-full gap-3').mark('saved-view-rename-dialog'):
            ui.label('Rename the view').classes('text-lg font-medium')
            name = ui.input('Name', value=view.name).props('outlined dense autofocus').classes('w-full') \
                .mark('saved-view-new-name')

            async def save() -> None:
                current = next((v for v in self.views if v.id == view.id), view)
                done = await attempt(view_services.save_view(actor=self.user, name=name.value or '',
                                                             filters=current.filters, queue_id=current.queue_id,
                                                             view_id=current.id), success='View renamed')
                if done:
                    renamed = dataclasses.replace(current, name=done.value.name)
                    self.views = [renamed if v.id == view.id else v for v in self.views]
                    chip = self.chips.get(view.id)
                    if chip is not None:
                        count = chip.text.rsplit(' · ', 1)[-1]
                        chip.set_text(f'{renamed.name} · {count}')
                    dialog.close()
            name.on('keydown.enter', save)
            with ui.row().classes('w-full justify-end gap-2'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Rename', icon='save', on_click=save).props('unelevated no-caps') \
                    .mark('saved-view-rename-save')
        dialog.on('hide', dialog.delete)
        dialog.open()

    def _counter(self, view: view_queries.ViewRow) -> Callable[[], Awaitable[dict[int, int | None]]]:
        return lambda: view_queries.view_counts(self.user, [view])

    async def _recount(self, event: TicketChanged) -> None:
        for v in self.views:
            counts = await shared_read(('saved-view-count', v.id, id(event)), self._counter(v))
            chip = self.chips.get(v.id)
            if chip is not None and not chip.is_deleted and chip.text != (text := _label(v, counts.get(v.id))):
                chip.set_text(text)
