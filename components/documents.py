"""A ticket's newest attachments in one list (``queries.tickets.DOCUMENTS_SHOWN``; older ones are in the chatter)."""
from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui

from pulse_live.queries.tickets import DOCUMENTS_SHOWN, AttachmentView

from .chatter import human_size


class DocumentsList:
    def __init__(self) -> None:
        with ui.card().classes('w-full gap-2').props('flat bordered'):
            ui.label('Documents').classes('font-medium')
            self.rows = ui.column().classes('w-full gap-1').mark('documents')

    def show(self, attachments: Sequence[AttachmentView]) -> None:
        self.rows.clear()
        with self.rows:
            if not attachments:
                ui.label('No documents yet.').classes('text-sm text-slate-400')
            if len(attachments) > DOCUMENTS_SHOWN:  # the query brings one more when there are older ones
                attachments = attachments[-DOCUMENTS_SHOWN:]
                ui.label(f'The newest {DOCUMENTS_SHOWN}; older documents are on their entries in the chatter.') \
                    .classes('text-xs text-slate-400').mark('documents-older')
            for a in attachments:
                with ui.row().classes('w-full items-center no-wrap gap-2 text-sm').mark('document'):
                    ui.icon('lock' if a.is_internal else 'description', size='xs').classes('text-slate-500')
                    ui.link(a.filename, f'/attachments/{a.id}', new_tab=True).classes('grow truncate text-primary')
                    ui.label(human_size(a.size)).classes('text-xs text-slate-400')
                with ui.row().classes('w-full text-xs text-slate-400 -mt-1 pl-6'):
                    ui.label(f'{a.uploader} · {a.created_at:%Y-%m-%d %H:%M}')
