"""Logs: plain text (default) or one JSON object per line (``PULSE_LOG_FORMAT=json``), each carrying the request id
of the HTTP request it belongs to and the id of the browser page (NiceGUI client) it was written for."""
from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import IO

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar('pulse_request_id', default=None)
_client_id_of_context: list[Callable[[], str | None]] = []
_REQUEST_ID = re.compile(r'[A-Za-z0-9._-]{1,64}')
FIELDS = '%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(client_id)s %(process)d'


def new_request_id(offered: str | None = None) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token (a proxy's id threads through), else a fresh one."""
    if offered and _REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex[:16]


def _current_client_id() -> str | None:
    for getter in _client_id_of_context:
        try:
            found = getter()
        except Exception:  # noqa: BLE001  (a log line never fails for its context)
            found = None
        if found:
            return found
    return None


_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f\u2028\u2029]')


def one_line(text: str) -> str:
    """``text`` with control characters (newlines above all) as escapes: one log record stays one line, and text
    from outside (a browser's message, a typed address, a URL) cannot write a line that looks like one of ours."""
    return _CONTROL.sub(lambda m: m.group().encode('unicode_escape').decode('ascii'), text)


class OneLineFormatter(logging.Formatter):
    """The message on one line (``one_line``); a traceback follows on its own lines as usual."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return one_line(super().formatMessage(record))


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (as logging's last-resort handler does)."""

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


class ContextFilter(logging.Filter):
    """Stamps every record with ``request_id`` and ``client_id`` (None outside a request or a page)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.client_id = _current_client_id()
        return True


class TransportNoise(logging.Filter):
    """engine.io and socket.io log a traceback for every malformed packet (any stranger sends them: 17 packets in one
    polling request wrote ~1.5 KB of traceback, 1.2 MB in 5 s, with a handler of their own around ours). Their
    records become one line (the error, no traceback), at most PER_MINUTE a minute per logger."""
    PER_MINUTE = 20

    def __init__(self) -> None:
        super().__init__()
        self.window = (-1e9, 0)  # start, records

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        start, count = self.window
        if now - start >= 60:
            start, count = now, 0
        self.window = (start, count + 1)
        if count + 1 > self.PER_MINUTE:
            return False
        if record.exc_info:
            error = record.exc_info[1]
            record.msg, record.args = f'{record.getMessage()} ({type(error).__name__}: {str(error)[:200]})', None
            record.exc_info, record.exc_text = None, None
        return True


TRANSPORT_LOGGERS = ('engineio.server', 'socketio.server')


def quiet_transport_loggers() -> None:
    """Route engine.io's and socket.io's loggers through ours (one line each, bounded: ``TransportNoise``)."""
    for name in TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        if not any(isinstance(f, TransportNoise) for f in logger.filters):
            logger.addFilter(TransportNoise())


def configure(log_format: str, *, level: str = 'INFO', client_id: Callable[[], str | None] | None = None,
              stream: IO[str] | None = None) -> logging.Handler | None:
    """Install the JSON handler on the root logger and route uvicorn's loggers through it (``text``: warnings and
    worse, the bare message, one line each, to stderr — what Python wrote without a handler, but one line).
    ``client_id`` tells which page the running code serves (given by the wiring, which knows NiceGUI)."""
    if client_id is not None and client_id not in _client_id_of_context:
        _client_id_of_context.append(client_id)
    quiet_transport_loggers()
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, 'pulse_json', False) or getattr(h, 'pulse_text', False)]:
        root.removeHandler(old)
    if log_format != 'json':
        # what Python's last-resort handler wrote (warnings and worse, the bare message, to stderr), one line each
        text: logging.Handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
        text.setLevel(logging.WARNING)
        text.setFormatter(OneLineFormatter('%(message)s'))
        text.pulse_text = True  # type: ignore[attr-defined]
        root.addHandler(text)
        return None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(FIELDS, rename_fields={'asctime': 'time', 'levelname': 'level',
                                                              'name': 'logger'}))
    handler.addFilter(ContextFilter())
    handler.pulse_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ('uvicorn', 'uvicorn.error', 'uvicorn.access'):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    return handler
