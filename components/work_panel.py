"""The ticket page's work strip (agents only): why it has its priority, impact × urgency, Take / Assign / Unassign."""
from __future__ import annotations

from collections.abc import Callable
from html import escape

from nicegui import ui

from pulse_live.models import Level, Status, User
from pulse_live.queries import catalog
from pulse_live.queries.tickets import TicketView
from pulse_live.services import ownership, prioritisation

from . import dialogs, markup
from .actions import attempt
from .select import Select

LEVELS = {level.value: level.label for level in Level}


class WorkPanel:
    def __init__(self, user: User, current: Callable[[], TicketView],
                 not_takeable: frozenset[int] = frozenset()) -> None:
        """``not_takeable``: queues whose tickets this user may not take (read when the page opens): no Take there."""
        self.user, self._current, self.not_takeable = user, current, not_takeable
        self.row = ui.row() \
            .classes('w-full items-center gap-3 px-3 py-1 rounded bg-slate-50 border border-slate-200 text-sm') \
            .mark('work-panel')

    def show(self, view: TicketView) -> None:
        t = view.ticket
        self.row.clear()
        with self.row:
            # the icon and the reason with its tooltip (the page's data-tip script, components/chatter_html.py) as
            # one static element, laid out in the row as its two parts were (it was three elements)
            tip = 'Overridden by an agent: the rules leave it alone' if t.priority_overridden \
                else 'Set by the prioritisation rules'
            ui.html(markup.icon('bolt' if not t.priority_overridden else 'front_hand', 'text-slate-500')
                    + f'<div class="text-slate-700" data-tip="{escape(tip)}">'
                    + f'{escape(t.priority_reason or f"Priority {view.priority}")}</div>', sanitize=False) \
                .style('display: contents').mark('priority-reason')
            if t.priority_overridden and t.status != Status.CLOSED:
                ui.button('Use automatic', on_click=self._automatic).props('flat dense no-caps size=sm') \
                    .mark('priority-automatic')
            editable = t.status != Status.CLOSED
            Select(LEVELS, value=t.impact, label='Impact', on_change=lambda e: self._assess(impact=e.value)) \
                .props('dense options-dense borderless').classes('w-24').set_enabled(editable)
            Select(LEVELS, value=t.urgency, label='Urgency', on_change=lambda e: self._assess(urgency=e.value)) \
                .props('dense options-dense borderless').classes('w-24').set_enabled(editable)
            ui.space()
            if t.status in (Status.OPEN, Status.IN_PROGRESS) and t.assignee_id is None:
                if t.queue_id in self.not_takeable:
                    ui.icon('lock', size='xs').classes('text-slate-400').mark('ticket-take-locked') \
                        .tooltip('Only members of this queue can take it; a manager can assign it to you')
                else:
                    ui.button('Take', icon='pan_tool', on_click=self._take).props('unelevated dense no-caps') \
                        .mark('ticket-take')
            if t.status != Status.CLOSED:
                ui.button('Assign…', icon='person_add', on_click=self._assign_dialog) \
                    .props('outline dense no-caps').mark('ticket-assign')
            if t.assignee_id is not None and t.status != Status.CLOSED:
                ui.button('Unassign', on_click=self._unassign).props('flat dense no-caps').mark('ticket-unassign')

    async def _run(self, action, done: str = '') -> bool:
        return bool(await attempt(action(), success=done, level='warning'))

    async def _assess(self, **values) -> None:
        view = self._current()
        current = {'impact': view.ticket.impact, 'urgency': view.ticket.urgency}
        if all(current[k] == v for k, v in values.items()):
            return  # the select was set by a live update, not by the user
        await self._run(lambda: prioritisation.set_assessment(actor=self.user, ticket_id=view.ticket.id,
                                                              expected_version=view.ticket.version, **values))

    async def _automatic(self) -> None:
        view = self._current()
        await self._run(lambda: prioritisation.use_automatic(actor=self.user, ticket_id=view.ticket.id,
                                                             expected_version=view.ticket.version))

    async def _take(self) -> None:
        view = self._current()
        await self._run(lambda: ownership.take_ticket(actor=self.user, ticket_id=view.ticket.id),
                        f'{view.ticket.reference} is yours now.')

    async def _unassign(self) -> None:
        view = self._current()
        await self._run(lambda: ownership.unassign_ticket(actor=self.user, ticket_id=view.ticket.id),
                        f'{view.ticket.reference} is back in its queue.')

    async def _assign_dialog(self) -> None:
        view = self._current()
        if (dialog := dialogs.single('assign')) is None:
            return  # one is open already (a repeated click, or a script's flood)
        agents = await catalog.agents()
        with dialog, ui.card().classes('w-[26rem] max-w-full'):
            ui.label(f'Assign {view.ticket.reference}').classes('text-lg font-medium')
            agent = Select(agents, label='Agent', with_input=True, value=view.ticket.assignee_id) \
                .classes('w-full').mark('assign-agent')
            note = ui.textarea('Note (optional, shown in the history)').props('autogrow').classes('w-full') \
                .mark('assign-note')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def confirm() -> None:
                    if await self._run(lambda: ownership.assign_ticket(actor=self.user, ticket_id=view.ticket.id,
                                                                       assignee_id=agent.value, note=note.value),
                                       f'{view.ticket.reference} assigned.'):
                        dialog.close()
                ui.button('Assign', on_click=confirm).props('no-caps').mark('assign-confirm')
        dialog.open()
