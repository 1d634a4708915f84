"""Admins watch the mail outbox: pending, sent, failed (dead) mails, with the last error, "retry now" and
"retry all failed"."""
from __future__ import annotations

from nicegui import ui

from components.actions import attempt
from components.frame import frame
from components.session import require_user
from pages.params import ShortText, desk_page
from pulse_live.models import Role
from pulse_live.queries import notifications as note_queries
from pulse_live.services import notifications

COLUMNS = [
    {'name': 'id', 'label': '#', 'field': 'id', 'align': 'left'},
    {'name': 'status', 'label': 'Status', 'field': 'status', 'align': 'left'},
    {'name': 'to', 'label': 'To', 'field': 'to', 'align': 'left'},
    {'name': 'ticket', 'label': 'Ticket', 'field': 'ticket', 'align': 'left'},
    {'name': 'kind', 'label': 'Kind', 'field': 'kind', 'align': 'left'},
    {'name': 'changes', 'label': 'Changes', 'field': 'changes', 'align': 'right'},
    {'name': 'attempts', 'label': 'Attempts', 'field': 'attempts', 'align': 'right'},
    {'name': 'next', 'label': 'Next attempt', 'field': 'next', 'align': 'left'},
    {'name': 'error', 'label': 'Last error', 'field': 'error', 'align': 'left'},
    {'name': 'action', 'label': '', 'field': 'id'},
]
STATUS_COLORS = {'pending': 'blue', 'sent': 'green', 'dead': 'red'}


@desk_page('/admin/outbox')
async def outbox_page(status: ShortText = '') -> None:
    user = await require_user(Role.ADMIN)
    if user is None:
        return
    status = status if status in STATUS_COLORS else ''

    async def rows() -> list[dict]:
        return [{'id': r.id, 'status': r.status, 'color': STATUS_COLORS.get(r.status, 'grey'), 'to': r.to_addr,
                 'ticket': r.subject, 'kind': r.kind, 'changes': len(r.items or []), 'attempts': r.attempts,
                 'next': '' if r.status != 'pending' else f'{r.next_attempt_at:%Y-%m-%d %H:%M:%S}',
                 'error': (r.last_error or '')[:120]} for r in await note_queries.outbox(status=status or None)]

    async def refresh() -> None:
        table.rows = await rows()
        table.update()
        counts = await note_queries.outbox_counts()
        summary.set_text(' · '.join(f'{k}: {counts.get(k, 0)}' for k in STATUS_COLORS))

    async def retry(e) -> None:
        try:
            outbox_id = int(e.args)
        except (ValueError, TypeError):  # the row id comes from the browser
            ui.notify('Bad request', type='negative')
            return
        if await attempt(notifications.retry_now(actor=user, outbox_id=outbox_id), success='Queued for the next round'):
            await refresh()

    async def retry_all() -> None:
        done = await attempt(notifications.retry_all(actor=user))
        if done:
            count = done.value
            ui.notify(f'{count} failed mail{"s" if count != 1 else ""} queued for the next round' if count
                      else 'No failed mails to retry', type='positive' if count else 'info')
            await refresh()

    with frame('Mail outbox', user):
        with ui.row().classes('w-full items-center'):
            ui.label('Mail outbox').classes('text-2xl font-semibold')
            ui.space()
            ui.select({'': 'All', 'pending': 'Pending', 'sent': 'Sent', 'dead': 'Failed'}, value=status,
                      label='Status', on_change=lambda e: ui.navigate.to(f'/admin/outbox?status={e.value}')) \
                .props('dense outlined').classes('w-40')
            ui.button('Retry all failed', icon='replay', on_click=retry_all).props('outline no-caps') \
                .mark('outbox-retry-all')
            ui.button(icon='refresh', on_click=refresh).props('flat round')
        summary = ui.label('').classes('text-slate-500').mark('outbox-summary')
        table = ui.table(columns=COLUMNS, rows=await rows(), row_key='id').classes('w-full') \
            .props('flat bordered dense')
        table.add_slot('body-cell-status', '''
            <q-td :props="props"><q-badge :color="props.row.color">{{ props.value }}</q-badge></q-td>''')
        table.add_slot('body-cell-action', '''
            <q-td :props="props">
              <q-btn v-if="props.row.status !== 'sent'" dense flat no-caps color="primary" label="Retry now"
                     @click="() => $parent.$emit('retry', props.row.id)" />
            </q-td>''')
        table.on('retry', retry)
        await refresh()
