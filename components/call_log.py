"""The "Log a call" dialog of the agents' ticket page: direction, duration, who was on the line, a note.

Everything is checked by ``services/calls.log_call`` (shown through ``actions.attempt``); a refused call keeps the
dialog open with what was typed. The entry reaches every open page of the ticket (this one included) live, like a
message: the page does not add it itself.
"""
from __future__ import annotations

from nicegui import ui

from pulse_live.models import User
from pulse_live.services import calls

from .actions import attempt

DIRECTIONS = {calls.CallDirection.INBOUND.value: 'Inbound (they called)',
              calls.CallDirection.OUTBOUND.value: 'Outbound (we called)'}


class CallDialog:
    def __init__(self, user: User, ticket_id: int, *, reference: str, customer: str) -> None:
        self.user, self.ticket_id = user, ticket_id
        with ui.dialog() as self.dialog, ui.card().classes('w-[32rem] max-w-full gap-2').mark('call-dialog'):
            ui.label(f'Log a call on {reference}').classes('text-lg font-medium')
            self.direction = ui.toggle(DIRECTIONS, value=calls.CallDirection.INBOUND.value) \
                .props('no-caps dense').mark('call-direction-choice')
            with ui.row().classes('w-full gap-3 no-wrap'):
                self.duration = ui.input('Duration', placeholder='12:30') \
                    .props('outlined dense hint="minutes:seconds, or minutes" autofocus').classes('w-48') \
                    .mark('call-duration-input')
                hint = f'empty: {customer}, the customer' if customer else 'a name or a number'
                self.caller = ui.input('Caller', placeholder=customer or 'Name or number') \
                    .props(f'outlined dense maxlength={calls.CALLER_LIMIT}').classes('grow').mark('call-caller-input')
                self.caller.props['hint'] = hint  # set as a value: a name may hold quotes
            self.note = ui.textarea('Note (markdown)').props('outlined autogrow').classes('w-full mt-3') \
                .mark('call-note-input')
            ui.label('Only staff see logged calls.').classes('text-xs text-slate-500')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=self.dialog.close).props('flat no-caps')
                self.save_button = ui.button('Log call', icon='call', on_click=self.save).props('no-caps') \
                    .mark('call-save')
        self.dialog.on_value_change(lambda e: None if e.value or self.dialog.is_deleted else self.dialog.delete())

    def open(self) -> None:
        self.dialog.open()

    async def save(self) -> None:
        self.save_button.disable()  # a double click logs one call
        try:
            logged = await attempt(calls.log_call(actor=self.user, ticket_id=self.ticket_id,
                                                  direction=self.direction.value, duration=self.duration.value or '',
                                                  caller=self.caller.value or '', note=self.note.value or ''),
                                   success='Call logged')
        finally:
            if not self.save_button.is_deleted:
                self.save_button.enable()
        if logged:
            self.dialog.close()
