"""The budget of pending upload bytes holds for bodies still arriving (pulse_live/app.py ``_upload``,
components/upload_budget.py): uploads sent as an attacker sends them — raw HTTP to a page's upload route, several
at once from several pages of one user, chunked, cut off mid-body — never hold more than the budget, and the budget
is whole again once the requests are over."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from nicegui import ui
from nicegui.testing import User

from components.upload_budget import pending_uploads
from pulse_live.config import reset_settings
from tests.ui.conftest import login, open_ticket, until

BOUNDARY = b'b0undary'
HEADERS = {'Content-Type': 'multipart/form-data; boundary=b0undary'}


def _parts(name: str, size: int) -> tuple[bytes, bytes, bytes]:
    head = (b'--' + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode()
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n')
    return head, b'x' * size, b'\r\n--' + BOUNDARY + b'--\r\n'


def _body(name: str, size: int) -> bytes:
    return b''.join(_parts(name, size))


async def _held_back(name: str, size: int, go: asyncio.Event, arrived: list[str]) -> AsyncIterator[bytes]:
    """A body that stops half way until ``go``: the request stays under way meanwhile."""
    head, data, tail = _parts(name, size)
    yield head + data[:size // 2]
    arrived.append(name)
    await go.wait()
    yield data[size // 2:] + tail


async def _customer_page(create_user: Callable[[], User], path: str = '/portal/new') -> tuple[User, str]:
    """A page of Carl's (a browser of its own, signed in as Carl) and its upload route."""
    page = create_user()
    await login(page, 'carl@acme.demo', expect='My requests')
    await page.open(path)
    return page, page.find(ui.upload).elements.pop().props['url']


@pytest.fixture(autouse=True)
def _no_pending_uploads() -> None:
    """Pages of earlier tests (the same user ids in each fresh database) may still be open: start from nothing."""
    pending_uploads._held.clear()  # pylint: disable=protected-access
    pending_uploads._requests.clear()  # pylint: disable=protected-access


def _budget(monkeypatch, pending: int, *, file_bytes: int = 400_000, files: int = 10) -> None:
    monkeypatch.setenv('PULSE_MAX_PENDING_UPLOAD_BYTES', str(pending))
    monkeypatch.setenv('PULSE_MAX_UPLOAD_BYTES', str(file_bytes))
    monkeypatch.setenv('PULSE_MAX_UPLOAD_FILES', str(files))
    reset_settings()


async def test_parallel_uploads_from_several_pages_never_hold_more_than_the_budget(
        create_user: Callable[[], User], people, monkeypatch) -> None:
    _budget(monkeypatch, 1_000_000)
    carl = people.users['carl@acme.demo'].id
    pages = [await _customer_page(create_user) for _ in range(6)]
    go, arrived = asyncio.Event(), list[str]()
    size = 300_000
    length = len(_body('f0.bin', size))

    async def upload(i: int) -> httpx.Response:
        page, url = pages[i]
        return await page.http_client.post(url, content=_held_back(f'f{i}.bin', size, go, arrived),
                                           headers={**HEADERS, 'Content-Length': str(length)})

    sent = [asyncio.create_task(upload(i)) for i in range(len(pages))]
    await until(lambda: len(arrived) + sum(t.done() for t in sent) == len(pages))
    # all six under way or answered: only what fits in the budget was let in, the rest refused before its body
    refused = [t.result() for t in sent if t.done()]
    assert [r.status_code for r in refused] == [413, 413, 413]
    assert 'of files waiting to be sent' in refused[0].text
    assert pending_uploads.uploading(carl) == 3
    assert pending_uploads.in_use(carl) <= 1_000_000
    go.set()
    answers = await asyncio.gather(*sent)
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 413, 413, 413]
    await until(lambda: pending_uploads.held(carl) == 3 * size)
    assert pending_uploads.reserved(carl) == 0 and pending_uploads.uploading(carl) == 0  # no reservation left over
    for (page, _), answer in zip(pages, answers, strict=True):
        if answer.status_code == 200:
            await page.should_see(marker='picked-file')
        else:  # the browser shows a refused upload only as a failed file: the page says why
            await page.should_see('of files waiting to be sent in your open pages')


async def test_more_uploads_at_once_than_a_selection_of_files_get_429(create_user: Callable[[], User], people,
                                                                      monkeypatch) -> None:
    _budget(monkeypatch, 1_000_000, files=2)  # a page's selection: at most 2 files, so 2 requests at once
    carl = people.users['carl@acme.demo'].id
    pages = [await _customer_page(create_user) for _ in range(3)]
    go, arrived = asyncio.Event(), list[str]()
    length = len(_body('a.bin', 1000))
    sent = [asyncio.create_task(page.http_client.post(url, content=_held_back(f'f{i}.bin', 1000, go, arrived),
                                                      headers={**HEADERS, 'Content-Length': str(length)}))
            for i, (page, url) in enumerate(pages)]
    await until(lambda: len(arrived) + sum(t.done() for t in sent) == 3)
    third = next(t.result() for t in sent if t.done())
    assert third.status_code == 429 and 'Too many files arriving at once' in third.text
    await pages[2][0].should_see('Too many files arriving at once')
    go.set()
    assert sorted(r.status_code for r in await asyncio.gather(*sent)) == [200, 200, 429]
    page, url = pages[2]
    assert (await page.http_client.post(url, files={'file': ('later.txt', b'ok', 'text/plain')})).status_code == 200
    await page.should_see('later.txt')
    await until(lambda: pending_uploads.held(carl) == 1000 + 1000 + 2)
    assert pending_uploads.uploading(carl) == 0


async def test_a_chunked_upload_is_counted_and_cut_off_at_the_budget(create_user: Callable[[], User], people,
                                                                    monkeypatch) -> None:
    _budget(monkeypatch, 200_000)
    carl = people.users['carl@acme.demo'].id
    page, url = await _customer_page(create_user)
    sent = 0

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: the budget is what is left of it
        nonlocal sent
        yield _parts('big.bin', 0)[0]
        for _ in range(1000):
            sent += 4096
            yield b'x' * 4096

    response = await page.http_client.post(url, content=endless(), headers=HEADERS)
    assert response.status_code == 413 and 'of files waiting to be sent' in response.text
    assert sent < 200_000 + 64 * 1024 + 2 * 4096  # cut off at the budget (and the framing's slack), not read on
    assert pending_uploads.in_use(carl) == 0 and pending_uploads.uploading(carl) == 0
    await page.should_not_see(marker='picked-file', retries=5)

    async def small() -> AsyncIterator[bytes]:
        yield _body('small.bin', 50_000)
    assert (await page.http_client.post(url, content=small(), headers=HEADERS)).status_code == 200
    await page.should_see(marker='picked-file')
    await until(lambda: pending_uploads.held(carl) == 50_000)  # a chunked upload within the budget counts as usual
    assert pending_uploads.reserved(carl) == 0


async def test_a_client_that_goes_away_mid_body_gives_the_budget_back(create_user: Callable[[], User], people,
                                                                       monkeypatch) -> None:
    _budget(monkeypatch, 300_000)
    carl = people.users['carl@acme.demo'].id
    page, url = await _customer_page(create_user)
    head, data, tail = _parts('gone.bin', 250_000)
    length = len(head) + len(data) + len(tail)

    # the ASGI server's view of a dropped connection: part of the body, then http.disconnect
    cookie = '; '.join(f'{k}={v}' for k, v in page.http_client.cookies.items()).encode()
    scope = {'type': 'http', 'asgi': {'version': '3.0'}, 'http_version': '1.1', 'method': 'POST', 'scheme': 'http',
             'path': url, 'raw_path': url.encode(), 'query_string': b'', 'root_path': '',
             'server': ('test', 80), 'client': ('127.0.0.1', 40000),
             'headers': [(b'host', b'test'), (b'cookie', cookie), (b'content-length', str(length).encode()),
                         (b'content-type', HEADERS['Content-Type'].encode())]}
    half, gone = asyncio.Event(), asyncio.Event()
    messages = [{'type': 'http.request', 'body': head + data[:100_000], 'more_body': True}]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        half.set()
        await gone.wait()
        return {'type': 'http.disconnect'}

    async def send(_message) -> None:
        pass

    asgi = page.http_client._transport.app  # pylint: disable=protected-access
    call = asyncio.create_task(asgi(scope, receive, send))
    await half.wait()
    assert pending_uploads.reserved(carl) == length  # the whole declared body is reserved while it arrives
    gone.set()
    with contextlib.suppress(Exception):  # the route fails on the disconnect (nobody is there for its answer)
        await call
    assert pending_uploads.in_use(carl) == 0 and pending_uploads.uploading(carl) == 0

    # the whole budget is there again: a file of 250 kB goes through
    assert (await page.http_client.post(url, content=head + data + tail, headers=HEADERS)).status_code == 200
    await until(lambda: pending_uploads.held(carl) == 250_000)


async def test_an_upload_through_the_page_moves_its_reservation_to_the_file(create_user: Callable[[], User], people,
                                                                            monkeypatch) -> None:
    """No double counting: once the file is the page's, the request's reservation is gone, and the rest of the
    budget is free for the next file."""
    _budget(monkeypatch, 300_000)
    carl = people.users['carl@acme.demo'].id
    page, url = await _customer_page(create_user)
    first = await page.http_client.post(url, files={'file': ('report.txt', b'r' * 100_000, 'text/plain')})
    assert first.status_code == 200
    await page.should_see('report.txt')
    assert pending_uploads.held(carl) == 100_000 and pending_uploads.reserved(carl) == 0
    second = await page.http_client.post(url, files={'file': ('scan.pdf', b's' * 200_000, 'application/pdf')})
    assert second.status_code == 200  # exactly the rest of the budget
    await page.should_see('scan.pdf')
    await until(lambda: pending_uploads.held(carl) == 300_000)
    page.find(marker='picked-file').elements.pop().set_value(False)  # removing a file gives its bytes back
    await until(lambda: pending_uploads.held(carl) < 300_000)


async def test_a_new_article_takes_no_upload_and_holds_no_budget(user: User, people) -> None:
    anna = people.users['anna@pulse.demo'].id
    await login(user, 'anna@pulse.demo')
    await user.open('/kb/new')
    await user.should_see(marker='kb-attach')
    upload = user.find(ui.upload).elements.pop()
    assert not upload.enabled
    response = await user.http_client.post(upload.props['url'], content=_body('f.bin', 500_000), headers=HEADERS)
    assert response.status_code == 403
    with user.client:
        await upload.handle_uploads([ui.upload.SmallFileUpload('f.bin', 'application/octet-stream', b'x' * 1000)])
    await asyncio.sleep(0.2)
    assert pending_uploads.in_use(anna) == 0 and pending_uploads.uploading(anna) == 0


SNEAKY = ('invoice\u202egpj.exe', 'nul\x00name.txt')


async def test_pending_file_chips_show_the_safe_name(create_user: Callable[[], User], people) -> None:
    from tests.factories import make_ticket
    ticket = await make_ticket(people)
    agent = create_user()
    await open_ticket(agent, 'anna@pulse.demo', ticket.reference)
    customer_page, _ = await _customer_page(create_user)
    for page, marker in ((agent, 'pending-file'), (customer_page, 'picked-file')):
        uploader = page.find(ui.upload).elements.pop()
        with page.client:
            await uploader.handle_uploads([ui.upload.SmallFileUpload(n, 'text/plain', b'x') for n in SNEAKY])
        await page.should_see('nulname.txt (1 B)')
        await page.should_see('invoicegpj.exe (1 B)')
        chips = sorted(chip.text for chip in page.find(marker=marker).elements)
        assert chips == ['invoicegpj.exe (1 B)', 'nulname.txt (1 B)'], marker
