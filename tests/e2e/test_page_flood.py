"""A flood of page loads that never connect their socket, sent as a script sends it (parallel raw GETs of /login, no
account): the server drops such pages after ``PULSE_PAGE_CONNECT_WITHIN_S`` and beyond ``PULSE_MAX_UNCONNECTED_PAGES``
(components/housekeeping.sweep_unconnected) and goes on serving. Before, NiceGUI kept every one for 60–70 s: 2,000
GETs in 8 s held +140 MB for that minute, and a minute of it ~1 GB."""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
import socketio

from .conftest import serve

SOCKET_PATH = '/_nicegui_ws/socket.io'


@pytest.fixture(scope='module')
def bounded(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp('pulse-page-flood'), PULSE_PAGE_CONNECT_WITHIN_S='3',
                     PULSE_MAX_UNCONNECTED_PAGES='200')


def _rss_mb(pid: int) -> float:
    status = Path(f'/proc/{pid}/status').read_text()
    return int(re.search(r'VmRSS:\s+(\d+)', status).group(1)) / 1024


async def _handshake(base: str, client_id: str, cookie: str) -> bool:
    sio = socketio.AsyncClient(reconnection=False,
                               websocket_extra_options={'headers': {'Cookie': f'session={cookie}'}})
    await sio.connect(base, socketio_path=SOCKET_PATH, transports=['websocket'], wait_timeout=10)
    try:
        return await sio.call('handshake', {'client_id': client_id, 'tab_id': str(uuid.uuid4()),
                                            'document_id': str(uuid.uuid4())}, timeout=10)
    finally:
        await sio.disconnect()


async def test_a_flood_of_page_loads_is_let_go_and_a_real_page_still_connects(bounded) -> None:
    pid = bounded.process.pid
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        for _ in range(3):  # warm: the first pages build what every later page shares
            assert (await http.get(bounded.url + '/login')).status_code == 200
        await asyncio.sleep(1)
        before = _rss_mb(pid)
        started = time.monotonic()
        answers = await asyncio.gather(*(http.get(bounded.url + '/login') for _ in range(1500)))
        flood_s = time.monotonic() - started
        cookie = http.cookies['session']  # set by the first page, sent with every later one (as a script's jar does)
    assert all(a.status_code == 200 for a in answers)
    first = answers[0]
    first_id = re.search(r"'client_id': '([0-9a-f-]+)'", first.text).group(1)
    await asyncio.sleep(5)  # past PULSE_PAGE_CONNECT_WITHIN_S and a sweep
    grown = _rss_mb(pid) - before
    # 1,500 login pages held are ~100 MB; at most 200 of them wait at once (and none after 3 s)
    assert grown < 40, f'{grown:.0f} MB more after the flood ({flood_s:.1f} s), its pages still held'
    # a page of the flood that never connected is gone: its browser would be told to reload
    assert await _handshake(bounded.url, first_id, cookie) is False
    # a page loaded now connects as a browser's does
    async with httpx.AsyncClient() as http:
        fresh = await http.get(bounded.url + '/login')
    fresh_id = re.search(r"'client_id': '([0-9a-f-]+)'", fresh.text).group(1)
    assert await _handshake(bounded.url, fresh_id, fresh.cookies['session']) is True
