"""Agents open a ticket for a caller (phone, e-mail, walk-in, chat): identify the customer, record the channel.

Left: who is calling. The agent types an e-mail, phone number, user id or name; matches appear as they type;
picking one shows everything known (card, organisation and tier, configuration items, recent tickets). An
unknown caller is created inline. Right: the ticket itself.
"""
from __future__ import annotations

from nicegui import ui

from components.actions import OneAtATime
from components.caller import CallerSearch, caller_card, customer_dialog
from components.file_picker import FilePicker
from components.frame import frame
from components.session import STAFF, require_user
from pages.params import OptionalRowId, desk_page
from pulse_live.models import Channel
from pulse_live.queries import catalog
from pulse_live.queries import customers as customer_queries
from pulse_live.services import tickets

CALL_CHANNELS = {Channel.PHONE.value: 'Phone', Channel.EMAIL.value: 'E-mail', Channel.WALK_IN.value: 'Walk-in',
                 Channel.CHAT.value: 'Chat'}
LEVELS = {'low': 'Low', 'medium': 'Medium', 'high': 'High'}


@desk_page('/tickets/new')
async def new_ticket_page(customer: OptionalRowId = 0) -> None:
    user = await require_user(*STAFF)
    if user is None:
        return
    types, priorities = await catalog.ticket_types(), await catalog.priorities()
    chosen: dict[str, int | None] = {'id': None}
    with frame('New ticket', user):
        ui.label('New ticket').classes('text-2xl font-semibold')
        with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-5 gap-4 items-start'):
            with ui.card().classes('lg:col-span-2 w-full gap-3').props('flat bordered').mark('caller-panel'):
                with ui.row().classes('w-full items-center'):
                    ui.label('Caller').classes('text-lg font-medium')
                    ui.space()
                    channel = ui.toggle(CALL_CHANNELS, value=Channel.PHONE.value) \
                        .props('no-caps dense unelevated toggle-color=primary').mark('new-channel')
                caller_box = ui.column().classes('w-full gap-2')

            async def show_search() -> None:
                chosen['id'] = None
                caller_box.clear()
                with caller_box:
                    CallerSearch(user, on_pick=pick, on_new=new_customer)
                    ui.label('No caller? Leave it empty for an internal ticket.').classes('text-xs text-slate-400')

            async def pick(user_id: int) -> None:
                profile = await customer_queries.customer_profile(user, user_id)
                if profile is None:
                    ui.notify('That person is no longer there.', type='warning')
                    return
                chosen['id'] = profile.id
                caller_box.clear()
                with caller_box:
                    caller_card(profile, on_change=show_search,
                                on_edit=lambda: customer_dialog(user, profile=profile, on_saved=pick))

            async def new_customer(text: str) -> None:
                await customer_dialog(user, prefill=text, on_saved=pick)

            with ui.card().classes('lg:col-span-3 w-full gap-3').props('flat bordered'):
                title = ui.input('Title').classes('w-full').props('outlined dense').mark('new-title')
                with ui.row().classes('w-full gap-3'):
                    type_ = ui.select(types, value=next(iter(types), None), label='Type').classes('w-40') \
                        .props('outlined dense')
                    priority = ui.select(priorities, value=None, label='Priority', clearable=True) \
                        .classes('w-56').props('outlined dense hint="Automatic when left empty"').mark('new-priority')
                    service = ui.select(await catalog.services(), label='Service', clearable=True).classes('grow') \
                        .props('outlined dense')
                with ui.row().classes('w-full gap-3'):
                    impact = ui.select(LEVELS, value='medium', label='Impact (how many affected)') \
                        .classes('w-56').props('outlined dense').mark('new-impact')
                    urgency = ui.select(LEVELS, value='medium', label='Urgency') \
                        .classes('w-40').props('outlined dense').mark('new-urgency')
                description = ui.textarea('Description').props('outlined autogrow').classes('w-full')
                affected = ui.input('Affected components').props('outlined dense').classes('w-full')
                attempted = ui.textarea('Attempted solutions / work-arounds').props('outlined autogrow') \
                    .classes('w-full')
                files = FilePicker('Attachments: drop files here or click to choose')
                sending = OneAtATime()  # a double click must not open two tickets

                async def create() -> None:
                    created = await sending.attempt(lambda: tickets.create_ticket(
                        actor=user, title=title.value, description=description.value, type_id=type_.value,
                        priority_id=priority.value, customer_id=chosen['id'], service_id=service.value,
                        channel=channel.value, affected_components=affected.value,
                        attempted_solutions=attempted.value, files=list(files.files), impact=impact.value,
                        urgency=urgency.value))
                    if not created:
                        return
                    ticket = created.value
                    ui.notify(f'{ticket.reference} created', type='positive')
                    ui.navigate.to(f'/tickets/{ticket.reference}')

                with ui.row().classes('w-full justify-end'):
                    ui.button('Cancel', on_click=lambda: ui.navigate.to('/tickets')).props('flat no-caps')
                    sending.button = ui.button('Create ticket', on_click=create).props('no-caps unelevated') \
                        .mark('new-create')
    if customer:
        await pick(customer)
    else:
        await show_search()
