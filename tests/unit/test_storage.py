"""Attachment files (storage.py): safe names without invisible characters, limits, content-addressed storage."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pulse_live import db, storage
from pulse_live.models import Attachment
from pulse_live.services import chatter, tickets
from pulse_live.storage import UploadedFile


@pytest.mark.parametrize('raw, safe', [
    ('invoice\u202egpj.exe', 'invoicegpj.exe'),   # RIGHT-TO-LEFT OVERRIDE: would read "invoiceexe.jpg"
    ('report\u2066.pdf\u2069.exe', 'report.pdf.exe'),  # isolates
    ('a\u200bb\u200d\ufeff.txt', 'ab.txt'),        # zero-width characters, BOM
    ('line\u2028break\u2029.txt', 'linebreak.txt'),  # line / paragraph separators
    ('tab\there\x85.log', 'tabhere.log'),          # C0 / C1 controls
    ('\u202e.exe', 'exe'),
    ('\u202e', 'file'),
    ('résumé 2026.pdf', 'résumé 2026.pdf'),        # ordinary letters and spaces stay
])
def test_safe_filename_strips_invisible_characters(raw, safe):
    assert storage.safe_filename(raw) == safe


async def test_attachment_names_are_stored_without_a_right_to_left_override(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Invoice')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='see file',
                               files=[UploadedFile('invoice\u202egpj.exe', 'image/jpeg', b'MZ...')])
    async with db.session() as s:
        names = (await s.execute(select(Attachment.filename).where(Attachment.ticket_id == ticket.id))).scalars().all()
    assert names == ['invoicegpj.exe']
