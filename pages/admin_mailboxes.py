"""Admins connect mailboxes (/admin/mailboxes): IMAP accounts whose mails become tickets, a connection test, the mails
that could not be imported (retry, discard) and the organisations' mail domains (unknown senders from them become
customers there)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from nicegui import app, ui

from components.actions import attempt
from components.frame import frame
from components.session import current_user, require_user
from pages.params import RowId, desk_page
from pulse_live import storage
from pulse_live.models import Role
from pulse_live.queries import mail_intake as queries
from pulse_live.services import mail_intake, mailboxes

SECURITY = {'tls': 'TLS (port 993)', 'starttls': 'STARTTLS (port 143)', 'none': 'None (trusted network only)'}
AUTH = {'password': 'Password', 'xoauth2': 'OAuth2 (XOAUTH2: Microsoft 365, Gmail)'}

BOX_COLUMNS = [
    {'name': 'name', 'label': 'Mailbox', 'field': 'name', 'align': 'left'},
    {'name': 'account', 'label': 'Account', 'field': 'account', 'align': 'left'},
    {'name': 'queue', 'label': 'Feeds queue', 'field': 'queue', 'align': 'left'},
    {'name': 'state', 'label': 'State', 'field': 'state', 'align': 'left'},
    {'name': 'checked', 'label': 'Last checked', 'field': 'checked', 'align': 'left'},
    {'name': 'imported', 'label': 'Imported', 'field': 'imported', 'align': 'right'},
    {'name': 'action', 'label': '', 'field': 'id'},
]
FAILED_COLUMNS = [
    {'name': 'created', 'label': 'When', 'field': 'created', 'align': 'left'},
    {'name': 'mailbox', 'label': 'Mailbox', 'field': 'mailbox', 'align': 'left'},
    {'name': 'sender', 'label': 'From', 'field': 'sender', 'align': 'left'},
    {'name': 'subject', 'label': 'Subject', 'field': 'subject', 'align': 'left'},
    {'name': 'size', 'label': 'Size', 'field': 'size', 'align': 'right'},
    {'name': 'error', 'label': 'Why not imported', 'field': 'error', 'align': 'left'},
    {'name': 'action', 'label': '', 'field': 'id'},
]


def _size(n: int) -> str:
    return f'{n / (1024 * 1024):.1f} MB' if n >= 1024 * 1024 else f'{max(1, n // 1024)} KB'


def _row_id(e: Any) -> int | None:
    try:
        return int(e.args)
    except (TypeError, ValueError):  # the id comes from the browser
        ui.notify('Bad request', type='negative')
        return None


@app.get('/admin/mail-imports/{failed_id}/original')
async def download_failed_mail(failed_id: RowId) -> StreamingResponse:
    """The raw mail of a failed import, as it came (admins only; anyone else gets 404). Always a download, never
    shown in the browser. Streamed from the attachment store (local directory or object storage), like
    ``pages/downloads.py``."""
    kept = await queries.failed_mail_for_download(await current_user(), failed_id)
    if kept is None:
        raise HTTPException(status_code=404, detail='Not found')
    try:
        size, chunks = await storage.open_stream(kept.sha256)
    except storage.MissingFile:
        raise HTTPException(status_code=404, detail='The file is missing on the server') from None
    return StreamingResponse(chunks, media_type='application/octet-stream',
                             headers={'Content-Disposition': f"attachment; filename*=UTF-8''{quote(kept.filename)}",
                                      'Content-Length': str(size), 'X-Content-Type-Options': 'nosniff',
                                      'Content-Security-Policy': "default-src 'none'; sandbox",
                                      'Cache-Control': 'private, no-store'})


@desk_page('/admin/mailboxes')
async def mailboxes_page() -> None:
    user = await require_user(Role.ADMIN)
    if user is None:
        return
    queue_names = await queries.queue_choices()
    boxes: dict[int, queries.MailboxRow] = {}

    async def box_rows() -> list[dict]:
        boxes.clear()
        rows = []
        for b in await queries.mailboxes(user):
            boxes[b.id] = b
            state = 'Paused' if not b.active else ('Error' if b.last_error else 'Connected' if b.last_checked
                                                   else 'Waiting')
            rows.append({'id': b.id, 'name': b.name, 'account': f'{b.username} @ {b.host}:{b.port} ({b.security}'
                         f'{", OAuth2" if b.auth == "xoauth2" else ""}) · {b.folder}',
                         'queue': b.queue_name or 'routing rules', 'state': state, 'error': b.last_error[:200],
                         'color': {'Connected': 'green', 'Error': 'red', 'Paused': 'grey'}.get(state, 'blue'),
                         'checked': f'{b.last_checked:%Y-%m-%d %H:%M:%S}' if b.last_checked else '—',
                         'imported': b.imported})
        return rows

    async def failed_rows() -> list[dict]:
        return [{'id': f.id, 'created': f'{f.created_at:%Y-%m-%d %H:%M}', 'mailbox': f.mailbox_name,
                 'sender': f.sender or '—', 'subject': f.subject or '(no subject)', 'size': _size(f.size),
                 'error': f.error[:200]} for f in await queries.failed_imports(user)]

    async def refresh() -> None:
        box_table.rows = await box_rows()
        box_table.update()
        failed_table.rows = await failed_rows()
        failed_table.update()
        failed_empty.set_visibility(not failed_table.rows)

    def open_editor(row: queries.MailboxRow | None) -> None:
        with ui.dialog() as dialog, ui.card().classes('w-[34rem]'):
            ui.label('Edit mailbox' if row else 'Connect a mailbox').classes('text-lg font-semibold')
            name = ui.input('Name', value=row.name if row else '').classes('w-full').mark('box-name')
            with ui.row().classes('w-full no-wrap'):
                host = ui.input('IMAP server', value=row.host if row else '',
                                placeholder='imap.example.com').classes('grow').mark('box-host')
                port = ui.number('Port', value=row.port if row else 993, format='%d', min=1, max=65535) \
                    .classes('w-28').mark('box-port')
            security = ui.select(SECURITY, value=row.security if row else 'tls', label='Security',
                                 on_change=lambda e: port.set_value({'tls': 993, 'starttls': 143}.get(e.value,
                                                                                                      port.value))) \
                .classes('w-full').mark('box-security')
            auth_mode = ui.select(AUTH, value=row.auth if row else 'password', label='Sign in with') \
                .classes('w-full').mark('box-auth')
            username = ui.input('User', value=row.username if row else '').classes('w-full').mark('box-user')
            secret = ui.input('Password or access token', password=True, password_toggle_button=True,
                              placeholder='unchanged' if row else '').classes('w-full').mark('box-secret')
            ui.label('Stored encrypted; never shown again.').classes('text-xs text-slate-500')
            with ui.expansion('OAuth2: refresh the access token', icon='autorenew',
                              value=bool(row and row.oauth_token_url)).classes('w-full').mark('box-oauth') \
                    .bind_visibility_from(auth_mode, 'value', value='xoauth2'):
                token_url = ui.input('Token endpoint', value=row.oauth_token_url if row else '',
                                     placeholder='https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token') \
                    .classes('w-full').mark('box-token-url')
                client_id = ui.input('Client id', value=row.oauth_client_id if row else '').classes('w-full') \
                    .mark('box-client-id')
                client_secret = ui.input('Client secret (confidential apps only)', password=True,
                                         placeholder='unchanged' if row else '').classes('w-full') \
                    .mark('box-client-secret')
                refresh_token = ui.input('Refresh token', password=True,
                                         placeholder='unchanged' if row and row.oauth_refreshable else '') \
                    .classes('w-full').mark('box-refresh-token')
                ui.label('With these the access token is refreshed before it expires; without them paste a fresh '
                         'access token when it expires.').classes('text-xs text-slate-500')
            folder = ui.input('Folder', value=row.folder if row else 'INBOX').classes('w-full').mark('box-folder')
            queue = ui.select({0: 'By the routing rules', **queue_names}, value=(row.queue_id or 0) if row else 0,
                              label='New tickets go to').classes('w-full').mark('box-queue')
            active = ui.switch('Watch this mailbox', value=row.active if row else True).mark('box-active')

            async def save() -> None:
                saved = await attempt(mailboxes.save_mailbox(
                    actor=user, mailbox_id=row.id if row else None, name=name.value or '', host=host.value or '',
                    port=int(port.value or 0), security=security.value, auth_mode=auth_mode.value,
                    username=username.value or '', secret=secret.value or None, folder=folder.value or '',
                    queue_id=queue.value or None, active=bool(active.value),
                    oauth_token_url=token_url.value or '', oauth_client_id=client_id.value or '',
                    oauth_client_secret=client_secret.value or None, refresh_token=refresh_token.value or None),
                    success='Mailbox saved: it is watched within seconds')
                if saved:
                    dialog.close()
                    await refresh()
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Save', on_click=save).props('no-caps unelevated color=primary').mark('box-save')
        dialog.open()

    async def edit(e) -> None:
        box_id = _row_id(e)
        if box_id is not None and box_id in boxes:
            open_editor(boxes[box_id])

    async def test(e) -> None:
        box_id = _row_id(e)
        if box_id is None:
            return
        ui.notify('Connecting…')
        answer = await attempt(mailboxes.test_connection(actor=user, mailbox_id=box_id))
        if answer:
            ui.notify(str(answer.value), type='positive')

    async def delete(e) -> None:
        box_id = _row_id(e)
        if box_id is None or box_id not in boxes:
            return
        with ui.dialog() as confirm, ui.card():
            ui.label(f'Remove the mailbox {boxes[box_id].name}? Its mails stay on the server; tickets stay.')

            async def yes() -> None:
                confirm.close()
                if await attempt(mailboxes.delete_mailbox(actor=user, mailbox_id=box_id), success='Mailbox removed'):
                    await refresh()
            with ui.row().classes('w-full justify-end'):
                ui.button('Keep', on_click=confirm.close).props('flat no-caps')
                ui.button('Remove', on_click=yes).props('no-caps unelevated color=negative').mark('box-remove-yes')
        confirm.open()

    async def retry(e) -> None:
        failed_id = _row_id(e)
        if failed_id is None:
            return
        outcome = await attempt(mail_intake.retry_failed(actor=user, failed_id=failed_id))
        if outcome:
            result = outcome.value
            ui.notify({'ticket': 'Imported: a new ticket', 'reply': 'Imported: a reply on its ticket'}.get(
                result.outcome, f'Not imported again: {result.detail or result.outcome}'),
                type='positive' if result.outcome in ('ticket', 'reply') else 'warning')
            await refresh()

    async def discard(e) -> None:
        failed_id = _row_id(e)
        if failed_id is not None and await attempt(mail_intake.discard_failed(actor=user, failed_id=failed_id),
                                                   success='Discarded'):
            await refresh()

    with frame('Mailboxes', user):
        with ui.row().classes('w-full items-center'):
            ui.label('Mailboxes').classes('text-2xl font-semibold')
            ui.space()
            ui.button('Connect a mailbox', icon='add', on_click=lambda: open_editor(None)) \
                .props('no-caps unelevated color=primary').mark('new-mailbox')
            ui.button(icon='refresh', on_click=refresh).props('flat round')
        ui.label('Mails in these folders become tickets (or replies on their tickets) within seconds. Auto-replies, '
                 'bounces and mail floods are recorded, never answered.').classes('text-slate-500')
        box_table = ui.table(columns=BOX_COLUMNS, rows=await box_rows(), row_key='id').classes('w-full') \
            .props('flat bordered dense').mark('mailbox-table')
        box_table.add_slot('body-cell-state', '''
            <q-td :props="props"><q-badge :color="props.row.color">{{ props.value }}</q-badge>
              <div v-if="props.row.error" class="text-xs text-red-8" style="white-space: normal; max-width: 18rem">
                {{ props.row.error }}</div></q-td>''')
        box_table.add_slot('body-cell-action', '''
            <q-td :props="props" class="text-right">
              <q-btn dense flat no-caps color="primary" label="Test"
                     @click="() => $parent.$emit('test', props.row.id)" />
              <q-btn dense flat no-caps color="primary" label="Edit"
                     @click="() => $parent.$emit('edit', props.row.id)" />
              <q-btn dense flat no-caps color="negative" label="Remove"
                     @click="() => $parent.$emit('remove', props.row.id)" />
            </q-td>''')
        box_table.on('test', test)
        box_table.on('edit', edit)
        box_table.on('remove', delete)

        ui.label('Mails not imported').classes('text-xl font-semibold mt-6')
        ui.label('Kept with the reason. Retry after fixing the cause (e.g. a higher size limit), or discard.') \
            .classes('text-slate-500')
        failed_table = ui.table(columns=FAILED_COLUMNS, rows=await failed_rows(), row_key='id').classes('w-full') \
            .props('flat bordered dense').mark('failed-table')
        failed_table.add_slot('body-cell-error', '''
            <q-td :props="props"><div style="white-space: normal; max-width: 26rem">{{ props.value }}</div></q-td>''')
        failed_table.add_slot('body-cell-action', '''
            <q-td :props="props" class="text-right">
              <q-btn dense flat no-caps color="grey-8" label="Original" icon="download" type="a"
                     :href="'/admin/mail-imports/' + props.row.id + '/original'" />
              <q-btn dense flat no-caps color="primary" label="Retry"
                     @click="() => $parent.$emit('retry', props.row.id)" />
              <q-btn dense flat no-caps color="grey-8" label="Discard"
                     @click="() => $parent.$emit('discard', props.row.id)" />
            </q-td>''')
        failed_table.on('retry', retry)
        failed_table.on('discard', discard)
        failed_empty = ui.label('Nothing waiting: every mail was imported.').classes('text-slate-500') \
            .mark('failed-empty')
        failed_empty.set_visibility(not failed_table.rows)

        ui.label('Organisations’ mail domains').classes('text-xl font-semibold mt-6')
        ui.label('A mail from an unknown address of one of these domains makes its sender a customer of that '
                 'organisation; other unknown senders get a ticket that needs triage.').classes('text-slate-500')
        for org_id, org_name, domains in await queries.organisation_domains(user):
            with ui.row().classes('items-center w-full no-wrap'):
                ui.label(org_name).classes('w-48')
                field = ui.input(value=', '.join(domains), placeholder='example.com, example.org') \
                    .classes('grow').props('dense outlined').mark(f'domains-{org_id}')

                async def save_domains(org_id: int = org_id, field: ui.input = field) -> None:
                    await attempt(mailboxes.set_mail_domains(
                        actor=user, organisation_id=org_id,
                        domains=(field.value or '').replace(';', ',').split(',')),
                        success='Domains saved')
                ui.button('Save', on_click=save_domains).props('flat no-caps').mark(f'domains-save-{org_id}')
