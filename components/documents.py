"""A ticket's newest attachments in one list (``queries.tickets.DOCUMENTS_SHOWN``; older ones are in the chatter).

The list is one static element (``documents_html``): it was six elements per document (row, icon, link, size, a row
with who and when), up to ~120 on a ticket with many files, built for every open page of it and rebuilt on each new
file. Nothing in it is interactive but the links, which are plain links.
"""
from __future__ import annotations

from collections.abc import Sequence
from html import escape

from nicegui import ui

from pulse_live.queries.tickets import DOCUMENTS_SHOWN, AttachmentView

from . import markup
from .chatter import human_size


class DocumentsList:
    def __init__(self) -> None:
        with ui.card().classes('w-full gap-2').props('flat bordered'):
            # its heading and list laid out in the card as their elements were (display: contents)
            self.rows = ui.html(documents_html(None), sanitize=False).style('display: contents').mark('documents')

    def show(self, attachments: Sequence[AttachmentView]) -> None:
        content = documents_html(attachments)
        if self.rows.content != content:
            self.rows.set_content(content)


def documents_html(attachments: Sequence[AttachmentView] | None) -> str:
    """The heading and the newest documents (``None``: not read yet), every text escaped."""
    parts = [markup.label('Documents', 'font-medium'), '<div class="nicegui-column w-full gap-1">']
    if attachments is not None and not attachments:
        parts.append(markup.label('No documents yet.', 'text-sm text-slate-400'))
    if attachments is not None and len(attachments) > DOCUMENTS_SHOWN:  # the query brings one more when older ones
        attachments = attachments[-DOCUMENTS_SHOWN:]
        parts.append(markup.label(f'The newest {DOCUMENTS_SHOWN}; older documents are on their entries in the '
                                  'chatter.', 'text-xs text-slate-400', mark='documents-older'))
    for a in attachments or ():
        parts.append('<div class="nicegui-row w-full items-center no-wrap gap-2 text-sm" data-mark="document">'
                     + markup.icon('lock' if a.is_internal else 'description', 'text-slate-500')
                     + f'<a class="nicegui-link grow truncate text-primary" href="/attachments/{int(a.id)}" '
                       f'target="_blank">{escape(a.filename)}</a>'
                     + markup.label(human_size(a.size), 'text-xs text-slate-400') + '</div>'
                     + '<div class="nicegui-row w-full text-xs text-slate-400 -mt-1 pl-6">'
                     + markup.label(f'{a.uploader} · {a.created_at:%Y-%m-%d %H:%M}') + '</div>')
    parts.append('</div>')
    return ''.join(parts)
