"""One network address may hold PULSE_MAX_SOCKETS_PER_ADDRESS sockets (components/guard.admit_socket): raw
engine.io websockets against a real server with the bound at 3. Before, one address held 3,000 sockets without a
page (~43 KB and a file descriptor each) for as long as it answered pings."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect

from .conftest import serve

SOCKET_PATH = '/_nicegui_ws/socket.io'


@pytest.fixture(scope='module')
def capped(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp('pulse-socket-cap'), PULSE_MAX_SOCKETS_PER_ADDRESS='3')


async def _socket_io(url: str):
    """An engine.io websocket that joins socket.io's namespace like a browser: (socket, the connect answer)."""
    ws = await connect(url.replace('http://', 'ws://') + SOCKET_PATH + '/?EIO=4&transport=websocket')
    assert (await asyncio.wait_for(ws.recv(), 10)).startswith('0{')
    await ws.send('40')
    return ws, await asyncio.wait_for(ws.recv(), 10)


async def test_an_address_holds_its_bound_of_sockets_and_gets_one_back_when_one_closes(capped) -> None:
    opened = [await _socket_io(capped.url) for _ in range(3)]
    try:
        assert all(answer.startswith('40{') for _, answer in opened)  # connected to the namespace
        extra, refused = await _socket_io(capped.url)
        assert refused.startswith('44') and 'Too many connections' in json.loads(refused[2:])['message']
        await extra.close()
        await opened.pop()[0].close()
        await asyncio.sleep(0.5)
        again, answer = await _socket_io(capped.url)
        assert answer.startswith('40{')
        opened.append((again, answer))
        async with httpx.AsyncClient() as http:  # pages and requests are not sockets: the address is served
            assert (await http.get(capped.url + '/login')).status_code == 200
        assert 'sockets open, the most one address may' in capped.log_tail(100)
    finally:
        for ws, _ in opened:
            await ws.close()
