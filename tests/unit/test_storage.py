"""Attachment files (storage.py): safe names without invisible characters, limits, content-addressed storage."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from pulse_live import db, storage
from pulse_live.config import get_settings, reset_settings
from pulse_live.errors import ValidationError
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


@pytest.mark.parametrize('raw, safe', [
    ('../../etc/passwd', 'passwd'),                  # no path: only the last part is kept
    ('C:\\Users\\carl\\report.docx', 'report.docx'),  # Windows paths too
    ('.htaccess', 'htaccess'),                       # never a hidden file
    ('what?<is>|this*.txt', 'whatisthis.txt'),       # characters common file systems forbid
    ('', 'file'),
])
def test_safe_filename_keeps_only_a_plain_name(raw, safe):
    assert storage.safe_filename(raw) == safe


def test_a_long_name_is_cut_but_keeps_its_extension():
    name = storage.safe_filename('a' * 500 + '.pdf')
    assert len(name) == 200 and name.endswith('.pdf') and name.startswith('aaa')


@pytest.mark.parametrize('name, declared, expected, inline', [
    ('photo.png', 'image/png', 'image/png', True),
    ('page.html', 'image/png', 'text/html', False),      # the name decides, not what the browser claimed
    ('drawing.svg', 'image/png', 'image/svg+xml', False),  # SVG can carry script: always a download
    ('blob', 'text/plain; charset=utf-8', 'text/plain', True),
    ('blob', 'not a type', 'application/octet-stream', False),
    ('blob', None, 'application/octet-stream', False),
])
def test_content_type_comes_from_the_name_and_only_safe_types_show_inline(name, declared, expected, inline):
    content_type = storage.content_type_for(name, declared)
    assert content_type == expected
    assert storage.is_inline_safe(content_type) is inline


def test_limits_name_the_file_and_allow_exactly_the_maximum(monkeypatch):
    monkeypatch.setenv('PULSE_MAX_UPLOAD_BYTES', '1024')
    monkeypatch.setenv('PULSE_MAX_UPLOAD_FILES', '2')
    reset_settings()
    fits = UploadedFile('a.txt', 'text/plain', b'x' * 1024)
    storage.check_limits([fits, fits])  # the maximum size and count are allowed
    with pytest.raises(ValidationError, match='Too many files: at most 2'):
        storage.check_limits([fits, fits, fits])
    with pytest.raises(ValidationError, match=r'^big.log is too large \(1 KiB; at most 1 KiB\)'):
        storage.check_limits([UploadedFile('../big.log', 'text/plain', b'x' * 1025)])
    with pytest.raises(ValidationError, match=r'^empty.txt is empty'):
        storage.check_limits([UploadedFile('empty.txt', 'text/plain', b'')])


async def test_files_are_stored_once_under_their_content_hash():
    first = await storage.store(b'the same bytes')
    again = await storage.store(b'the same bytes')
    other = await storage.store(b'other bytes')
    assert first == again == hashlib.sha256(b'the same bytes').hexdigest()
    assert other != first
    assert storage.path_of(first).read_bytes() == b'the same bytes'
    assert storage.path_of(other).read_bytes() == b'other bytes'
    stored = [p for p in get_settings().attachments_dir.rglob('*') if p.is_file()]
    assert sorted(p.name for p in stored) == sorted([first, other])  # one file per content, no temporary left


@pytest.mark.parametrize('digest', ['../../etc/passwd', 'A' * 64, 'abc', ''])
def test_only_a_digest_names_a_stored_file(digest):
    with pytest.raises(ValueError):
        storage.path_of(digest)


async def test_the_same_file_stored_many_times_at_once_is_stored_once_and_whole():
    """Two sends with the same attachment at once (each store on a thread of its own) wrote one temporary file name;
    the second rename found it gone and the send failed with FileNotFoundError."""
    import asyncio
    data = b'the same scan' * 1000
    digests = await asyncio.gather(*(storage.store(data) for _ in range(16)))
    assert set(digests) == {hashlib.sha256(data).hexdigest()}
    assert storage.path_of(digests[0]).read_bytes() == data
    assert [p.name for p in storage.path_of(digests[0]).parent.iterdir()] == [digests[0]]  # no temporary left
