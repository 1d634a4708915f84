"""Refusals on a page's own socket, sent raw the way a script sends them, against a real server: an event for an
element the page does not have counts toward the socket's refused messages (30 a minute, then it is closed), and a
page's sockets belong to one document (NiceGUI deletes a page once per document id it saw)."""
from __future__ import annotations

import asyncio
import random
import uuid

from tests.e2e.test_attacks import _anonymous_login_page, _raw_socket


async def test_events_for_an_element_not_on_the_sockets_own_page_close_the_socket(e2e) -> None:
    """One /login socket sent 3,000 events for an element that is not on its own page: they were refused one by
    one but not counted, the socket stayed connected and wrote 606 log lines (and as many again 10 s later)."""
    login_client, cookie = await _anonymous_login_page(e2e.url)
    element = random.randrange(10**8, 10**9)  # no page has it; its log lines are this test's
    sio = await _raw_socket(e2e.url, cookie=cookie)
    try:
        assert await sio.call('handshake', {'client_id': login_client, 'tab_id': str(uuid.uuid4()),
                                            'document_id': str(uuid.uuid4())}, timeout=10)
        for _ in range(40):
            if not sio.connected:
                break
            await sio.emit('event', {'client_id': login_client, 'id': element, 'listener_id': 'x', 'args': []})
        async with asyncio.timeout(10):
            while sio.connected:  # the server closes it
                await asyncio.sleep(0.1)
        tail = e2e.server.log_tail(2_000)
        said = [line for line in tail.splitlines() if f'for element {element}, which is not on page /login' in line]
        assert 1 <= len(said) <= 30, len(said)
        assert 'refused messages in a minute; closed' in tail
        assert 'Traceback' not in tail
    finally:
        await sio.disconnect()


async def test_a_page_takes_sockets_of_one_document_and_is_deleted_once(e2e) -> None:
    """Five /login pages, each joined by 4 sockets of one tab with 4 document ids, then closed: NiceGUI scheduled a
    deletion per document id, the page's delete handlers ran 4 times and 15 KeyError tracebacks followed the
    reconnect timeout (15 s). Now another document's socket is refused; one of the same document still joins (as a
    browser's reconnect does) and the page is deleted once."""
    with e2e.server.log_path.open('rb') as log:
        start = log.seek(0, 2)
    joined: list[list[bool]] = []
    sockets = []
    for _ in range(3):
        login_client, cookie = await _anonymous_login_page(e2e.url)
        tab, document = str(uuid.uuid4()), str(uuid.uuid4())
        page = []
        for document_id in (document, str(uuid.uuid4()), str(uuid.uuid4()), document):
            sio = await _raw_socket(e2e.url, cookie=cookie)
            sockets.append(sio)
            page.append(await sio.call('handshake', {'client_id': login_client, 'tab_id': tab,
                                                     'document_id': document_id}, timeout=10))
        joined.append(page)
    for sio in sockets:
        await sio.disconnect()
    await asyncio.sleep(18)  # the reconnect timeout (15 s), then the deletions
    with e2e.server.log_path.open('rb') as log:
        log.seek(start)
        written = log.read().decode(errors='replace')
    assert 'Traceback' not in written and 'KeyError' not in written, written[-3000:]
    assert joined == [[True, False, False, True]] * 3
    assert written.count('as another document') == 6
