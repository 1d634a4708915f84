"""The attachment store behind its interface (pulse_live/storage.py), on both backends: the local directory and
S3-compatible object storage — a real S3 API server on loopback (moto in server mode, tests/s3.py).

Every test here runs once per backend: store, read, stream, delete, a missing object, and the authorised download
route of the API (the same permission check on both)."""
from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi import FastAPI

from pulse_live import storage
from pulse_live.api import install
from pulse_live.config import reset_settings
from pulse_live.rate_limit import get_limiter
from pulse_live.services import api_tokens, chatter, tickets
from tests import s3


@pytest.fixture(scope='module')
def s3_endpoint(tmp_path_factory):
    with s3.moto_server(tmp_path_factory.mktemp('moto')) as endpoint:
        yield endpoint


@pytest.fixture(params=['local', 's3'])
def backend(request, monkeypatch) -> str:
    if request.param == 's3':
        request.node.bucket = s3.use_fresh_bucket(request.getfixturevalue('s3_endpoint'), monkeypatch)
    assert storage.backend().name == request.param
    return request.param


def _objects(endpoint: str, bucket: str) -> list[str]:
    answer = s3.client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item['Key'] for item in answer.get('Contents', []))


async def _drain(digest: str) -> tuple[int, bytes, int]:
    size, chunks = await storage.open_stream(digest)
    pieces = [chunk async for chunk in chunks]
    return size, b''.join(pieces), len(pieces)


async def test_store_read_stream_and_delete(backend, request):
    first = await storage.store(b'the same bytes')
    again = await storage.store(b'the same bytes')
    other = await storage.store(b'other bytes')
    assert first == again == hashlib.sha256(b'the same bytes').hexdigest() and other != first
    assert await storage.read(first) == b'the same bytes'
    assert await _drain(other) == (len(b'other bytes'), b'other bytes', 1)
    assert await storage.exists(first) and await storage.exists(other)
    if backend == 's3':  # one object per content, under the prefix; nothing on the local disk
        assert _objects(request.getfixturevalue('s3_endpoint'), request.node.bucket) == sorted(
            [f'files/{first}', f'files/{other}'])
        assert not storage.path_of(first).exists()
    await storage.delete(first)
    assert not await storage.exists(first)
    assert await storage.read(other) == b'other bytes'  # deleting one leaves the other
    await storage.delete(first)  # deleting what is gone is not an error


async def test_a_missing_object_is_reported_as_missing(backend):
    digest = hashlib.sha256(b'never stored').hexdigest()
    assert not await storage.exists(digest)
    with pytest.raises(storage.MissingFile):
        await storage.read(digest)
    with pytest.raises(storage.MissingFile):
        await storage.open_stream(digest)


@pytest.mark.parametrize('digest', ['../../etc/passwd', 'A' * 64, 'abc', ''])
async def test_only_a_digest_names_a_stored_object(backend, digest):
    with pytest.raises(ValueError):
        await storage.read(digest)
    with pytest.raises(ValueError):
        await storage.delete(digest)


async def test_a_large_file_goes_up_in_parts_and_comes_back_in_chunks(backend, monkeypatch):
    monkeypatch.setenv('PULSE_MAX_UPLOAD_BYTES', str(12 * 1024 * 1024))
    reset_settings()
    data = bytes(range(256)) * (10 * 1024 * 1024 // 256)  # 10 MiB: boto3 uploads it in parts (8 MiB threshold)
    digest = await storage.store(data)
    size, back, pieces = await _drain(digest)
    assert (size, hashlib.sha256(back).hexdigest()) == (len(data), digest)
    assert pieces == len(data) // storage.CHUNK  # streamed, not read whole


async def test_the_store_answers_its_check(backend):
    await storage.backend().check()


async def test_an_unreachable_object_store_fails_with_its_error(monkeypatch):
    for name, value in s3.settings_env('http://127.0.0.1:9', 'nowhere').items():  # port 9: nothing listens
        monkeypatch.setenv(name, value)
    reset_settings()
    with pytest.raises(Exception, match='Could not connect'):
        await storage.backend().check()
    with pytest.raises(Exception, match='Could not connect'):
        await storage.store(b'goes nowhere')


def test_s3_without_a_bucket_is_refused_with_a_clear_message(monkeypatch):
    monkeypatch.setenv('PULSE_STORAGE_BACKEND', 's3')
    monkeypatch.delenv('PULSE_S3_BUCKET', raising=False)
    reset_settings()
    with pytest.raises(ValueError, match='PULSE_S3_BUCKET must name a bucket'):
        storage.backend()


# --- downloads stay authorised: the API's route reads through the store after the same check --------------------

@pytest.fixture
async def api(backend, people, monkeypatch):
    monkeypatch.setenv('PULSE_API_RATE_PER_MINUTE', '100000')
    reset_settings()
    get_limiter().clear()
    app = FastAPI()
    install(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url='http://testserver/api/v1') as c:
        yield c


async def _token(people, email: str) -> dict[str, str]:
    new = await api_tokens.create_token(actor=people.users[email], name='t', scope='read', expires_in_days=1)
    return {'Authorization': f'Bearer {new.secret}'}


async def test_downloads_are_checked_then_streamed_from_the_store(api, people, backend):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer', customer_id=people.users['carl@acme.demo'].id)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='public', internal=False,
                               files=[storage.UploadedFile('log.txt', 'text/plain', b'public log')])
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='internal', internal=True,
                               files=[storage.UploadedFile('notes.txt', 'text/plain', b'internal only')])
    ben, carl, tom = [await _token(people, e) for e in ('ben@pulse.demo', 'carl@acme.demo', 'tom@globex.demo')]
    items = (await api.get(f'/tickets/{ticket.reference}/messages', headers=ben)).json()['items']
    urls = {a['filename']: a['url'].removeprefix('/api/v1') for m in items for a in m['attachments']}
    staff_public, staff_internal = await api.get(urls['log.txt'], headers=ben), \
        await api.get(urls['notes.txt'], headers=ben)
    assert (staff_public.status_code, staff_public.content) == (200, b'public log')
    assert (staff_internal.status_code, staff_internal.content) == (200, b'internal only')
    assert staff_internal.headers['content-length'] == str(len(b'internal only'))
    assert (await api.get(urls['log.txt'], headers=carl)).content == b'public log'  # the customer: his public file
    assert (await api.get(urls['notes.txt'], headers=carl)).status_code == 404  # never the internal one
    assert (await api.get(urls['log.txt'], headers=tom)).status_code == 404  # another organisation
    assert (await api.get(urls['log.txt'])).status_code == 401  # nobody
    # the file gone from the store: a clear 404, not a crash
    await storage.delete(hashlib.sha256(b'public log').hexdigest())
    gone = await api.get(urls['log.txt'], headers=ben)
    assert gone.status_code == 404 and 'missing on the server' in gone.json()['detail']
