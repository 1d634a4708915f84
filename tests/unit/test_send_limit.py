"""A socket whose browser stopped reading is let go at a bounded backlog; the others keep theirs."""
from __future__ import annotations

import engineio
from engineio import packet
from engineio.async_socket import AsyncSocket

from components import live


async def test_a_stalled_socket_is_closed_at_its_backlog_and_the_others_go_on(monkeypatch) -> None:
    monkeypatch.setattr(AsyncSocket, 'send', AsyncSocket.send)  # undone after the test
    live.install_send_limit(limit=5)
    server = engineio.AsyncServer(async_mode='asgi')
    stalled, reading = AsyncSocket(server, 'stalled'), AsyncSocket(server, 'reading')
    for i in range(5):  # nobody writes the stalled socket's queue out
        await stalled.send(packet.Packet(packet.MESSAGE, data=f'update {i}'))
        await reading.send(packet.Packet(packet.MESSAGE, data=f'update {i}'))
        reading.queue.get_nowait()  # this browser reads
        reading.queue.task_done()
    assert not stalled.closed
    await stalled.send(packet.Packet(packet.MESSAGE, data='one too many'))
    assert stalled.closed and stalled.queue.qsize() == 5, 'closed at the limit, nothing more buffered'
    await reading.send(packet.Packet(packet.MESSAGE, data='update 5'))
    assert not reading.closed and reading.queue.get_nowait().data == 'update 5'
