"""uvicorn's h11 protocol with a deadline for a request's head.

uvicorn times out a connection that is idle *between* requests (``timeout_keep_alive``), and any byte received
cancels that timer; nothing bounds the time a request's head takes to arrive. A client sending one header byte every
few seconds (slowloris) kept 3,000 connections open for as long as it liked, and 20,000 of them used up the
process's file descriptors: every request failed until the attacker left. Here the head must be complete within
``HEAD_TIMEOUT_S`` of the connection (or of the previous response on a kept-alive connection), else the connection
is closed. A body must keep coming: at least ``BODY_MIN_BYTES`` in every ``BODY_WINDOW_S`` while the app reads it
(a body trickling one byte every 20 s held 20,000 connections, every descriptor of the process), and once the
response was sent, what is left of a body must arrive within the head's deadline (``GET /healthz`` with a
Content-Length of 999999999999 was answered at once, then held by a byte now and then). A response and a websocket
take as long as they take (uploads have their own limits).
"""
from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0
BODY_WINDOW_S = 30.0
BODY_MIN_BYTES = 1024  # a body at 34 bytes a second or more is never cut off


class TimelyH11Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0
        self._upgraded = False  # the connection became a websocket: no timer of ours applies

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        # IDLE: no request head complete since the connection (or the last response) began; SEND_BODY once our
        # response is out: the rest of a body nobody reads. A request being served (head in, the app reading its
        # body or answering) is not this timer's business
        their, ours = self.conn.their_state, self.conn.our_state
        late = their is h11.IDLE or (their is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE))
        if late and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._watch_body():
            self._body_bytes += len(data)

    def _watch_body(self) -> bool:
        """Start the body's timer when a request's body is under way (and not yet timed); True while one is. A
        websocket's transport is not ours any more (h11 still expects the opening request's "body": the timer cut
        every websocket after 30 s)."""
        if self._upgraded or self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return False
        if self._body_timer is None:
            self._body_bytes = 0
            self._body_timer = self.loop.call_later(BODY_WINDOW_S, self._body_slow)
        return True

    def _body_slow(self) -> None:
        self._body_timer = None
        if self._upgraded or self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return  # the body is complete (a next request arms its own)
        if self._body_bytes < BODY_MIN_BYTES and not self.flow.read_paused:  # (paused: the app is not reading yet)
            self.transport.close()
            return
        self._body_bytes = 0
        self._body_timer = self.loop.call_later(BODY_WINDOW_S, self._body_slow)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._disarm()  # the transport now belongs to the websocket protocol
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection: its head within the same time
            self._watch_body()  # a pipelined request read from the buffer just now: its body is timed too
