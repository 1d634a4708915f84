"""uvicorn's h11 protocol with a deadline for a request's head.

uvicorn times out a connection that is idle *between* requests (``timeout_keep_alive``), and any byte received
cancels that timer; nothing bounds the time a request's head takes to arrive. A client sending one header byte every
few seconds (slowloris) kept 3,000 connections open for as long as it liked, and 20,000 of them used up the
process's file descriptors: every request failed until the attacker left. Here the head must be complete within
``HEAD_TIMEOUT_S`` of the connection (or of the previous response on a kept-alive connection), else the connection
is closed. A body, a response and a websocket take as long as they take (uploads have their own limits).
"""
from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10.0


class TimelyH11Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        # IDLE: no request head complete since the connection (or the last response) began; a request being served
        # (head in, body or response under way) is not this timer's business
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()  # the transport now belongs to the websocket protocol
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection: its head within the same time
