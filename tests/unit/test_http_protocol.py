"""A request's head has a deadline (pulse_live/http_protocol.py): a slowloris client is cut off, ordinary requests,
kept-alive connections and slow bodies are not. Raw sockets against a real uvicorn on loopback."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn

from pulse_live import http_protocol
from pulse_live.http_protocol import TimelyH11Protocol


async def _app(scope, receive, send) -> None:
    if scope['type'] == 'websocket':  # an echo
        while (message := await receive())['type'] != 'websocket.disconnect':
            if message['type'] == 'websocket.connect':
                await send({'type': 'websocket.accept'})
            elif message['type'] == 'websocket.receive':
                await send({'type': 'websocket.send', 'text': message.get('text') or ''})
        return
    if scope['type'] != 'http':
        return
    if scope['path'] == '/early':  # answers without reading the body (as /healthz does)
        await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-length', b'2')]})
        await send({'type': 'http.response.body', 'body': b'ok'})
        return
    body = b''
    while True:
        message = await receive()
        body += message.get('body', b'')
        if not message.get('more_body'):
            break
    length = b'%d' % (len(body) + 2)
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-length', length)]})
    await send({'type': 'http.response.body', 'body': b'ok' + body})


@contextlib.asynccontextmanager
async def _serve(monkeypatch, keep_alive: float) -> AsyncIterator[int]:
    monkeypatch.setattr(http_protocol, 'HEAD_TIMEOUT_S', 0.6)
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(_app, host='127.0.0.1', port=port, http=TimelyH11Protocol, lifespan='off',
                            log_level='warning', timeout_keep_alive=keep_alive)
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    while not instance.started:
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        instance.should_exit = True
        await task


@pytest.fixture
async def server(monkeypatch):
    async with _serve(monkeypatch, keep_alive=30) as port:
        yield port


@pytest.fixture
async def keep_alive_server(monkeypatch):
    """Idle kept-alive connections last 2.5 s, a head's deadline is 0.6 s (as 65 s and 10 s in the app)."""
    async with _serve(monkeypatch, keep_alive=2.5) as port:
        yield port


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b''
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _response(sock: socket.socket) -> bytes:
    data = b''
    while b'\r\n\r\n' not in data or len(data.partition(b'\r\n\r\n')[2]) < _length(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _length(data: bytes) -> int:
    for line in data.partition(b'\r\n\r\n')[0].split(b'\r\n'):
        if line.lower().startswith(b'content-length:'):
            return int(line.split(b':')[1])
    return 0


async def test_a_head_that_trickles_in_is_cut_off(server) -> None:
    def slowloris() -> tuple[bool, float]:
        with socket.create_connection(('127.0.0.1', server)) as sock:
            started = time.monotonic()
            sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')
            for _ in range(10):  # a header byte now and then, never the blank line that ends the head
                time.sleep(0.15)
                try:
                    sock.sendall(b'X')
                except OSError:
                    return True, time.monotonic() - started
            return _closed_within(sock, 2.0), time.monotonic() - started
    closed, after = await asyncio.to_thread(slowloris)
    assert closed and after < 2.5, (closed, after)


async def test_a_connection_that_sends_nothing_is_closed(server) -> None:
    def silent() -> bool:
        with socket.create_connection(('127.0.0.1', server)) as sock:
            return _closed_within(sock, 2.0)
    assert await asyncio.to_thread(silent)


async def test_ordinary_requests_kept_alive_connections_and_slow_bodies_are_served(server) -> None:
    def client() -> list[bytes]:
        answers = []
        with socket.create_connection(('127.0.0.1', server)) as sock:
            sock.settimeout(5)
            sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            answers.append(_response(sock))
            time.sleep(0.4)  # the next request on the same connection, within the deadline of its own
            sock.sendall(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n')
            for byte in (b'a', b'b', b'c', b'd'):  # a body may take longer than the head's deadline
                time.sleep(0.3)
                sock.sendall(byte)
            answers.append(_response(sock))
        return answers
    first, second = await asyncio.to_thread(client)
    assert first.startswith(b'HTTP/1.1 200') and first.endswith(b'ok')
    assert second.startswith(b'HTTP/1.1 200') and second.endswith(b'okabcd')


async def test_a_body_that_trickles_in_is_cut_off(server, monkeypatch) -> None:
    """A body of one byte every now and then held a connection for as long as the sender liked (20,000 of them used
    every descriptor of the process)."""
    monkeypatch.setattr(http_protocol, 'BODY_WINDOW_S', 0.6)

    def trickle() -> tuple[bool, float]:
        with socket.create_connection(('127.0.0.1', server)) as sock:
            started = time.monotonic()
            sock.sendall(b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n')
            for _ in range(20):
                time.sleep(0.15)
                try:
                    sock.sendall(b'x')
                except OSError:
                    return True, time.monotonic() - started
            return _closed_within(sock, 2.0), time.monotonic() - started
    closed, after = await asyncio.to_thread(trickle)
    assert closed and after < 2.5, (closed, after)


async def test_the_rest_of_a_body_nobody_reads_must_come_within_the_heads_deadline(server) -> None:
    """``GET /healthz`` with a huge Content-Length was answered at once; the body's bytes, one now and then, then held
    the connection (every byte cancelled uvicorn's keep-alive timer)."""
    def early() -> tuple[bytes, bool, float]:
        with socket.create_connection(('127.0.0.1', server)) as sock:
            sock.sendall(b'GET /early HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n')
            sock.settimeout(5)
            answer = sock.recv(4096)
            started = time.monotonic()
            for _ in range(20):
                time.sleep(0.15)
                try:
                    sock.sendall(b'x')
                except OSError:
                    return answer, True, time.monotonic() - started
            return answer, _closed_within(sock, 2.0), time.monotonic() - started
    answer, closed, after = await asyncio.to_thread(early)
    assert answer.startswith(b'HTTP/1.1 200')
    assert closed and after < 2.5, (closed, after)


async def test_a_websocket_outlives_the_bodys_and_the_heads_deadlines(server, monkeypatch) -> None:
    """h11 still expects the opening request's "body" once the connection is a websocket: the body's timer closed
    every websocket 30 s after it opened (every page reconnected twice a minute)."""
    from websockets.asyncio.client import connect
    monkeypatch.setattr(http_protocol, 'BODY_WINDOW_S', 0.4)
    async with connect(f'ws://127.0.0.1:{server}/ws', additional_headers={'X-Pad': 'p' * 1500}) as ws:
        await asyncio.sleep(1.5)  # more than two body windows and two head deadlines (0.6 s)
        await ws.send('still here')
        assert await asyncio.wait_for(ws.recv(), 5) == 'still here'


async def test_a_pipelined_request_whose_body_trickles_is_cut_off_too(server, monkeypatch) -> None:
    """A request queued behind another on the connection is read from h11's buffer when the first is answered,
    not in data_received: its body was never timed (2,000 such connections stayed open for 300 s)."""
    monkeypatch.setattr(http_protocol, 'BODY_WINDOW_S', 0.6)

    def pipelined() -> tuple[bool, float]:
        with socket.create_connection(('127.0.0.1', server)) as sock:
            started = time.monotonic()
            sock.sendall(b'GET /early HTTP/1.1\r\nHost: x\r\n\r\n'
                         b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx')
            sock.settimeout(3.0)
            try:
                while sock.recv(4096):  # the first answer, then the end of the connection
                    pass
            except TimeoutError:
                return False, time.monotonic() - started
            except ConnectionResetError:
                pass
            return True, time.monotonic() - started
    closed, after = await asyncio.to_thread(pipelined)
    assert closed and after < 3.0, (closed, after)


async def test_an_idle_kept_alive_connection_lasts_the_keep_alive_time_not_the_heads_deadline(
        keep_alive_server) -> None:
    """The head's deadline started at the previous response: every idle kept-alive connection was closed after 10 s,
    not the app's 65 s, and a proxy that keeps idle connections for 60 s sent requests on closing ones (502)."""
    def client() -> tuple[bytes, bytes, bool, float]:
        with socket.create_connection(('127.0.0.1', keep_alive_server)) as sock:
            sock.settimeout(5)
            sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            first = _response(sock)
            time.sleep(1.5)  # idle: more than twice the head's deadline, less than the keep-alive time
            sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            second = _response(sock)
            started = time.monotonic()  # idle again: closed once the keep-alive time is up
            return first, second, _closed_within(sock, 4.0), time.monotonic() - started
    first, second, closed, after = await asyncio.to_thread(client)
    assert first.startswith(b'HTTP/1.1 200') and second.startswith(b'HTTP/1.1 200'), (first, second)
    assert closed and 2.0 < after < 3.5, (closed, after)


async def test_a_head_that_trickles_in_after_an_idle_time_is_cut_off(keep_alive_server) -> None:
    """On a kept-alive connection the head's deadline starts at the next request's first byte."""
    def slowloris() -> tuple[bytes, bool, float]:
        with socket.create_connection(('127.0.0.1', keep_alive_server)) as sock:
            sock.settimeout(5)
            sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            first = _response(sock)
            time.sleep(1.0)
            started = time.monotonic()
            sock.sendall(b'G')
            for byte in b'ET / HTTP/1.1\r\nHost: x\r\n':  # never the blank line that ends the head
                time.sleep(0.1)
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return first, True, time.monotonic() - started
            return first, _closed_within(sock, 2.0), time.monotonic() - started
    first, closed, after = await asyncio.to_thread(slowloris)
    assert first.startswith(b'HTTP/1.1 200')
    assert closed and after < 1.2, (closed, after)


async def test_after_the_rest_of_an_unread_body_a_connection_may_idle_until_the_keep_alive_time(
        keep_alive_server) -> None:
    """The rest of a body sent after the early answer (as a proxy sends it) leaves an ordinary kept-alive connection."""
    def client() -> tuple[bytes, bytes, bool, float]:
        with socket.create_connection(('127.0.0.1', keep_alive_server)) as sock:
            sock.settimeout(5)
            sock.sendall(b'POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n')
            first = _response(sock)
            sock.sendall(b'abcd')
            time.sleep(1.5)
            sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            second = _response(sock)
            started = time.monotonic()
            return first, second, _closed_within(sock, 4.0), time.monotonic() - started
    first, second, closed, after = await asyncio.to_thread(client)
    assert first.startswith(b'HTTP/1.1 200') and second.startswith(b'HTTP/1.1 200'), (first, second)
    assert closed and 2.0 < after < 3.5, (closed, after)
