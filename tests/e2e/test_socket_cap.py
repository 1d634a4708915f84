"""One network address may hold PULSE_MAX_SOCKETS_PER_ADDRESS sockets (components/guard.admit_socket): raw
engine.io websockets against a real server with the bound at 3. Before, one address held 3,000 sockets without a
page (~43 KB and a file descriptor each) for as long as it answered pings."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

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


async def _engine_io(url: str):
    """An engine.io websocket that never joins socket.io (a connection a script holds for nothing)."""
    ws = await connect(url.replace('http://', 'ws://') + SOCKET_PATH + '/?EIO=4&transport=websocket')
    assert (await asyncio.wait_for(ws.recv(), 10)).startswith('0{')
    return ws


async def test_an_address_holds_its_bound_of_sockets_and_gets_one_back_when_one_closes(capped) -> None:
    """Counted at engine.io's connect: connections that never join socket.io count too (2,000 of them were not)."""
    bare = await _engine_io(capped.url)
    opened = [await _socket_io(capped.url) for _ in range(2)]
    try:
        assert all(answer.startswith('40{') for _, answer in opened)  # connected to the namespace
        with pytest.raises(InvalidStatus) as refused:
            await _socket_io(capped.url)
        assert refused.value.response.status_code in (401, 403)  # (uvicorn turns the refusal into 403)
        await bare.close()
        await asyncio.sleep(0.5)
        again, answer = await _socket_io(capped.url)
        assert answer.startswith('40{')
        opened.append((again, answer))
        async with httpx.AsyncClient() as http:  # pages and requests are not sockets: the address is served
            assert (await http.get(capped.url + '/login')).status_code == 200
            assert (await http.get(capped.url + SOCKET_PATH + '/?EIO=4&transport=polling')).status_code == 401
        assert 'sockets open, the most one address may' in capped.log_tail(100)
    finally:
        for ws, _ in opened:
            await ws.close()
