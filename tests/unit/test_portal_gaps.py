"""Gaps found by an audit: deactivated customers in the directory, invisible characters in file names, the
server-side file-count limit, and the size limit on NiceGUI's upload route before its body is read."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from pulse_live import db, storage, upload_limit
from pulse_live.config import get_settings, reset_settings
from pulse_live.errors import ValidationError
from pulse_live.models import Attachment, EventKind, TicketEvent
from pulse_live.queries import customers as customer_queries
from pulse_live.services import chatter, tickets
from pulse_live.storage import UploadedFile
from tests.factories import deactivate_customer

# --- a deactivated customer can be found again ------------------------------------------------------------


async def test_deactivated_customer_is_listed_when_asked_for(people):
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    await deactivate_customer(anna, tom)

    # the directory hides them by default, and so does caller identification (no tickets for them)
    assert tom.id not in [r.id for r in await customer_queries.customers(anna)]
    assert tom.id not in [h.id for h in await customer_queries.search_people(anna, 'tom@globex.demo')]

    # "Show inactive": listed, marked inactive, and found by the directory's search too
    rows = {r.id: r for r in await customer_queries.customers(anna, include_inactive=True)}
    assert rows[tom.id].is_active is False
    assert all(r.is_active for r in rows.values() if r.id != tom.id)
    found = await customer_queries.customers(anna, search='tom@globex', include_inactive=True)
    assert [(r.id, r.is_active) for r in found] == [(tom.id, False)]
    hits = await customer_queries.search_people(anna, 'tom@globex.demo', include_inactive=True)
    assert [(h.id, h.is_active) for h in hits] == [(tom.id, False)]


# --- file names ---------------------------------------------------------------------------------------------

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


# --- the file-count limit holds on the server ---------------------------------------------------------------

async def test_too_many_files_are_refused_by_the_services(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    limit = get_settings().max_upload_files
    files = [UploadedFile(f'f{i}.txt', 'text/plain', b'x') for i in range(limit + 1)]
    ticket = await tickets.create_ticket(actor=anna, title='Files', customer_id=carl.id)
    with pytest.raises(ValidationError, match='Too many files'):
        await chatter.post_message(actor=carl, ticket_id=ticket.id, body='all my logs', files=files)
    with pytest.raises(ValidationError, match='Too many files'):
        await tickets.create_ticket(actor=carl, title='Even more files', files=files)
    async with db.session() as s:
        messages = (await s.execute(select(func.count(TicketEvent.id)).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == EventKind.MESSAGE))).scalar_one()
        stored = (await s.execute(select(func.count(Attachment.id)))).scalar_one()
    assert (messages, stored) == (0, 0)
    # exactly the limit is fine
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='the allowed number', files=files[:limit])


# --- the upload size limit, before NiceGUI reads the body --------------------------------------------------

UPLOAD = '/_nicegui/client/0b5c6b36-2f3e-4d4b-9c57-0d6f9a1e2b3c/upload/42'


class _App:
    """Stands in for NiceGUI: reads the whole body (as its upload route does), then answers 200."""

    def __init__(self) -> None:
        self.called = False
        self.read = 0

    async def __call__(self, scope, receive, send) -> None:
        self.called = True
        more = True
        while more:
            message = await receive()
            self.read += len(message.get('body', b''))
            more = message.get('more_body', False)
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'{"upload": "success"}'})


async def _call(middleware, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]):
    sent, pulled = [], []
    pending = list(chunks)

    async def receive():
        chunk = pending.pop(0) if pending else b''
        pulled.append(chunk)
        return {'type': 'http.request', 'body': chunk, 'more_body': bool(pending)}

    async def send(message):
        sent.append(message)

    scope = {'type': 'http', 'method': 'POST', 'path': path, 'headers': headers}
    await middleware(scope, receive, send)
    status = next(m['status'] for m in sent if m['type'] == 'http.response.start')
    body = b''.join(m.get('body', b'') for m in sent if m['type'] == 'http.response.body')
    return status, body, pulled


@pytest.fixture
def small_uploads(monkeypatch):
    monkeypatch.setenv('PULSE_MAX_UPLOAD_BYTES', '1000')
    monkeypatch.setenv('PULSE_MAX_UPLOAD_FILES', '2')
    reset_settings()
    return upload_limit.request_limit()


def test_the_limit_follows_the_settings(small_uploads):
    assert small_uploads >= 2 * 1000
    assert small_uploads < 2 * 1000 + 1024 * 1024  # some slack, not a lot


async def test_an_oversize_content_length_is_refused_before_the_body_is_read(small_uploads):
    app = _App()
    status, body, pulled = await _call(upload_limit.UploadLimitMiddleware(app), UPLOAD, [b'x' * 10],
                                       [(b'content-length', str(small_uploads + 1).encode())])
    assert status == 413
    assert 'too large' in json.loads(body)['detail']
    assert not app.called and pulled == []  # nothing of the body was read


async def test_a_chunked_body_is_cut_off_once_over_the_limit(small_uploads):
    app = _App()
    chunks = [b'x' * 4096] * (small_uploads // 4096 + 50)  # no Content-Length, much more than allowed
    status, body, pulled = await _call(upload_limit.UploadLimitMiddleware(app), UPLOAD, chunks,
                                       [(b'transfer-encoding', b'chunked')])
    assert status == 413 and 'too large' in json.loads(body)['detail']
    assert sum(map(len, pulled)) <= small_uploads + 4096  # stopped reading right after the limit
    assert len(pulled) < len(chunks)


async def test_uploads_within_the_limit_and_other_routes_pass(small_uploads):
    app = _App()
    status, _, _ = await _call(upload_limit.UploadLimitMiddleware(app), UPLOAD, [b'x' * 1500],
                               [(b'content-length', b'1500')])
    assert status == 200 and app.read == 1500
    other = _App()
    status, _, _ = await _call(upload_limit.UploadLimitMiddleware(other), '/portal/new', [b'x' * 10],
                               [(b'content-length', str(10 * small_uploads).encode())])
    assert status == 200 and other.called


async def test_a_malformed_content_length_is_refused(small_uploads):
    app = _App()
    status, _, _ = await _call(upload_limit.UploadLimitMiddleware(app), UPLOAD, [b'x'], [(b'content-length', b'lots')])
    assert status == 400 and not app.called
