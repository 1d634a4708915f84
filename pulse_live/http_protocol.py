"""uvicorn's h11 protocol with a deadline for a request's head.

uvicorn times out a connection that is idle *between* requests (``timeout_keep_alive``), and any byte received
cancels that timer; nothing bounds the time a request's head takes to arrive. A client sending one header byte every
few seconds (slowloris) kept 3,000 connections open for as long as it liked, and 20,000 of them used up the
process's file descriptors: every request failed until the attacker left. Here the head must be complete within
``HEAD_TIMEOUT_S`` of the connection, or on a kept-alive connection of the next request's first byte, else the
connection is closed. A kept-alive connection with no byte of a next request yet is uvicorn's ``timeout_keep_alive``
business alone (the deadline once started at the previous response and closed every idle connection after 10 s: a
proxy that keeps idle connections for 60 s, trusting the app's 65 s, sent requests on closing connections → 502).
A body must keep coming: at least ``BODY_MIN_BYTES`` in every ``BODY_WINDOW_S`` while the app reads it (a body
trickling one byte every 20 s held 20,000 connections, every descriptor of the process), and once the
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
        # IDLE: no request head complete since the connection began (or, kept alive, the next request's first
        # byte came); SEND_BODY once our response is out: the rest of a body nobody reads. A request being served
        # (head in, the app reading its body or answering) is not this timer's business
        their, ours = self.conn.their_state, self.conn.our_state
        late = their is h11.IDLE or (their is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE))
        if late and not self.transport.is_closing():
            self.transport.close()

    def _between_requests(self) -> bool:
        """A kept-alive connection waiting for its next request, no byte of it received yet."""
        conn = self.conn
        return (self.cycle is not None and conn.their_state is h11.IDLE and conn.our_state is h11.IDLE
                and not conn.trailing_data[0])

    def _idle(self) -> None:
        """Between requests: uvicorn's keep-alive timer bounds the wait, not the head's deadline."""
        self._disarm()
        if self.timeout_keep_alive_task is None:  # (the rest of an unread body cancelled it: its bytes were data)
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        if self._between_requests():
            self._arm()  # the next request's first byte: its head within the deadline from now
        super().data_received(data)
        if self._between_requests() and not self.transport.is_closing():
            self._idle()  # the rest of a body nobody read came, and nothing of a next request
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
        if self.transport.is_closing():
            return
        if self._between_requests():
            self._idle()
        else:  # a pipelined request (or part of its head) read from the buffer, or the rest of a body nobody reads
            self._arm()
            self._watch_body()  # a pipelined request read from the buffer just now: its body is timed too
