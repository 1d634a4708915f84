"""The upload size limit on NiceGUI's upload route (upload_limit.py), before its body is read."""
from __future__ import annotations

import json

import pytest

from pulse_live import upload_limit
from pulse_live.config import reset_settings

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
