"""The customer portal: "My requests" (and the organisation's, for its admins) and the new-request form."""
from __future__ import annotations

from nicegui import ui

from components.actions import OneAtATime
from components.article_suggestions import ArticleSuggestions
from components.badges import STATUS_COLORS
from components.coalesce import Coalesced
from components.file_picker import FilePicker
from components.frame import frame
from components.live_list import LiveRefresh
from components.session import require_user
from pages.params import desk_page
from pulse_live import auth
from pulse_live.events import TicketChanged
from pulse_live.models import Role, User
from pulse_live.queries import catalog
from pulse_live.queries import portal as portal_queries
from pulse_live.services import tickets

COLUMNS = [
    {'name': 'reference', 'label': 'Reference', 'field': 'reference', 'align': 'left'},
    {'name': 'title', 'label': 'Subject', 'field': 'title', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'requester', 'label': 'Requested by', 'field': 'requester', 'align': 'left'},
    {'name': 'service', 'label': 'Service', 'field': 'service', 'align': 'left'},
    {'name': 'updated', 'label': 'Last update', 'field': 'updated', 'align': 'left'},
]
STATE_LABELS = {'open': 'Open', 'closed': 'Closed', 'all': 'All'}
URGENCY = {'low': 'It can wait', 'medium': 'Soon: it slows me down', 'high': 'Now: I cannot work'}
IMPACT = {'low': 'Just me', 'medium': 'My team or department', 'high': 'The whole organisation'}
# a change of these may give a request to someone else (the customer, and with it the organisation)
AUDIENCE_FIELDS = frozenset({'customer_id', 'organisation_id'})
TYPE_HINTS = {'Incident': 'Something is broken or does not work as it should',
              'Inquiry': 'A question, or something you would like us to do'}


def request_url(reference: str) -> str:
    return f'/portal/requests/{reference}'


def _rows(rows: list[portal_queries.RequestRow]) -> list[dict]:
    return [{'id': r.id, 'reference': r.reference, 'title': r.title, 'status': portal_queries.status_word(r.status),
             'status_color': STATUS_COLORS.get(r.status, 'grey'), 'requester': r.requester or '—',
             'service': r.service or '—', 'updated': f'{r.updated_at:%Y-%m-%d %H:%M}'} for r in rows]


def requests_table(rows: list[dict]) -> ui.table:
    table = ui.table(columns=COLUMNS, rows=rows, row_key='id').classes('w-full').props('flat bordered') \
        .mark('requests')
    table.add_slot('body-cell-reference', '''
        <q-td :props="props">
          <a :href="'/portal/requests/' + props.value" class="font-mono text-primary">{{ props.value }}</a>
        </q-td>''')
    table.add_slot('body-cell-title', '''
        <q-td :props="props" class="whitespace-normal">
          <a :href="'/portal/requests/' + props.row.reference" class="text-slate-800">{{ props.value }}</a>
        </q-td>''')
    table.add_slot('body-cell-status', '''
        <q-td :props="props"><q-badge :color="props.row.status_color">{{ props.value }}</q-badge></q-td>''')
    table.add_slot('no-data', '<div class="w-full text-center text-slate-500 py-4">No requests here.</div>')
    return table


class RequestList:
    """One live list: re-reads (debounced: a burst of changes costs one read) when a shown request changes or
    another one may have come to belong here (``may_concern``)."""

    def __init__(self, user: User, scope: str) -> None:
        self.user, self.scope = user, scope
        self.state, self.search = 'open', ''
        self.shown: set[int] = set()
        with ui.row().classes('w-full items-center gap-3'):
            ui.toggle(STATE_LABELS, value=self.state, on_change=lambda e: self._set(state=e.value)) \
                .props('no-caps dense unelevated toggle-color=primary').mark(f'{scope}-state')
            ui.space()
            ui.input('Find by reference or subject', on_change=lambda e: self._set(search=e.value or '')) \
                .props('dense outlined clearable debounce=300').classes('w-72').mark(f'{scope}-search')
        self.table = requests_table([])
        self.reads = Coalesced(self._read)  # a burst of filter changes over the socket: two reads, not one each
        LiveRefresh(lambda _: self.refresh(), concerns=self.may_concern, alive=lambda: not self.table.is_deleted,
                    delay=0.2, name='portal-list-refresh')

    async def refresh(self) -> None:
        await self.reads()

    async def _read(self) -> None:
        if self.table.is_deleted:
            return
        rows = await portal_queries.requests(self.user, scope=self.scope, state=self.state, search=self.search)
        if self.table.is_deleted:
            return
        self.shown = {r.id for r in rows}
        self.table.rows = _rows(rows)
        self.table.update()

    async def _set(self, **changes) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        await self.refresh()

    def may_concern(self, event: TicketChanged) -> bool:
        """Could this change alter what the list shows? Decided from the event alone (no read): a shown request
        changed; a new request; a team change or a new customer (a request of someone else may become this
        user's: made its customer, or put on its team, or it moved organisation); on the "Closed" filter, a
        status change; while searching, a new subject. Everything else (messages, other fields of requests not
        shown) cannot bring a request in, and costs nothing."""
        if event.ticket_id in self.shown or event.kind in ('created', 'team'):
            return True
        if event.kind != 'field_change':
            return False
        fields = set(event.fields)
        return bool(fields & AUDIENCE_FIELDS) or (self.state == 'closed' and 'status' in fields) \
            or (bool(self.search) and 'title' in fields)


@desk_page('/portal')
async def portal_page() -> None:
    user = await require_user(Role.CUSTOMER)
    if user is None:
        return
    organisation = auth.can_see_organisation_requests(user)
    with frame('My requests', user):
        with ui.row().classes('w-full items-center'):
            with ui.column().classes('gap-0'):
                ui.label('My requests').classes('text-2xl font-semibold')
                ui.label('Follow what you asked us, answer our questions, confirm when it is solved.') \
                    .classes('text-slate-500')
            ui.space()
            ui.button('New request', icon='add', on_click=lambda: ui.navigate.to('/portal/new')) \
                .props('no-caps unelevated').mark('new-request')
        lists: list[RequestList] = []
        if organisation:
            with ui.tabs().classes('w-full').props('align=left no-caps') as tabs:
                mine_tab = ui.tab('mine', 'Mine').mark('tab-mine')
                ui.tab('organisation', f"All requests of {user.organisation.name}").mark('tab-organisation')
            with ui.tab_panels(tabs, value=mine_tab, animated=False).classes('w-full'):
                for scope in ('mine', 'organisation'):
                    with ui.tab_panel(scope).classes('p-0 gap-3'):
                        lists.append(RequestList(user, scope))
        else:
            lists.append(RequestList(user, 'mine'))
        for request_list in lists:
            await request_list.refresh()


@desk_page('/portal/new')
async def portal_new_page() -> None:
    user = await require_user(Role.CUSTOMER)
    if user is None:
        return
    types = await catalog.ticket_types()
    services = await catalog.services()
    with frame('New request', user):
        ui.label('New request').classes('text-2xl font-semibold')
        with ui.card().classes('w-full max-w-3xl gap-4 p-6').props('flat bordered') as form:
            ui.label('What do you need?').classes('font-medium')
            type_ = ui.radio({tid: f'{name}: {TYPE_HINTS[name]}' if name in TYPE_HINTS else name
                              for tid, name in types.items()},
                             value=next(iter(types), None)).props('dense').mark('request-type')
            service = ui.select({0: 'I do not know', **services}, value=0, label='Which service is it about?') \
                .props('outlined dense').classes('w-full').mark('request-service')
            title = ui.input('Subject', placeholder='In a few words, e.g. "VPN disconnects every few minutes"') \
                .props('outlined dense counter maxlength=300').classes('w-full').mark('request-subject')
            description = ui.textarea('Describe it', placeholder='What happened, what did you expect, since when, '
                                                                  'what did you try already?') \
                .props('outlined autogrow').classes('w-full').mark('request-description')
            with ui.element('div').classes('w-full grid grid-cols-1 md:grid-cols-2 gap-4'):
                with ui.column().classes('gap-1'):
                    ui.label('How urgent is it for you?').classes('font-medium')
                    urgency = ui.radio(URGENCY, value='medium').props('dense').mark('request-urgency')
                with ui.column().classes('gap-1'):
                    ui.label('Who is affected?').classes('font-medium')
                    impact = ui.radio(IMPACT, value='low').props('dense').mark('request-impact')
            ui.label('Attachments').classes('font-medium')
            files = FilePicker()
            sending = OneAtATime()  # a double click must not open two requests

            async def send() -> None:
                created = await sending.attempt(lambda: tickets.create_ticket(
                    actor=user, title=title.value or '', description=description.value or '',
                    type_id=type_.value, service_id=service.value or None, files=list(files.files),
                    impact=impact.value, urgency=urgency.value))
                if not created:
                    return
                ticket = created.value
                ui.notify(f'Request {ticket.reference} sent. We will get back to you.', type='positive')
                ui.navigate.to(request_url(ticket.reference))

            with ui.row().classes('w-full justify-end gap-2'):
                ui.button('Cancel', on_click=lambda: ui.navigate.to('/portal')).props('flat no-caps')
                sending.button = ui.button('Send request', icon='send', on_click=send) \
                    .props('no-caps unelevated').mark('send-request')
        # suggestions as the customer types: an article that answers it ends the request without a ticket
        def solved() -> None:
            form.clear()
            with form:
                ui.label('Glad it helped. No request was sent.').classes('text-lg font-medium').mark('deflected')
                ui.label('If the problem comes back, you can always open a request.').classes('text-slate-500')
                ui.button('Back to my requests', on_click=lambda: ui.navigate.to('/portal')) \
                    .props('no-caps unelevated').classes('self-start')
            suggestions.card.set_visibility(False)
        suggestions = ArticleSuggestions(user, on_solved=solved)

        async def typed() -> None:
            await suggestions.update(f'{title.value or ""} {description.value or ""}')
        title.on_value_change(typed)
        description.on_value_change(typed)


