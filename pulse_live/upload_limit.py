"""A size limit on upload requests that holds before the body is read.

NiceGUI's upload route (``/_nicegui/client/{client_id}/upload/{element_id}``, nicegui/elements/upload.py) parses the
whole multipart body (``request.form()``) before our handlers can check a file's size (components/file_picker.py,
components/chatter.py, and ``storage.check_limits`` in the services). A crafted request could make the server take
in far more than any message may carry. This pure ASGI middleware sits in front of that route:

- a declared ``Content-Length`` above the limit is answered at once with 413, the body never read;
- a body without a length (chunked) or longer than declared is counted as it arrives and cut off as soon as it
  passes the limit (413 if no answer was started yet).

The limit per request is what one request may legitimately carry: ``max_upload_files`` files of
``max_upload_bytes`` each, plus slack for the multipart framing.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .config import get_settings

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PATH = re.compile(r'^/_nicegui/client/[^/]+/upload/[^/]+/?$')
SLACK_BYTES = 64 * 1024  # multipart boundaries and part headers, generously
SLACK_PER_FILE = 4 * 1024


def request_limit() -> int:
    """The most one upload request may carry, in bytes."""
    settings = get_settings()
    files = max(1, settings.max_upload_files)
    return files * (settings.max_upload_bytes + SLACK_PER_FILE) + SLACK_BYTES


def is_upload_path(path: str) -> bool:
    return bool(UPLOAD_PATH.match(path))


class _TooLarge(Exception):
    pass


def _size(n: int) -> str:
    return f'{n / (1024 * 1024):.3g} MiB' if n >= 1024 * 1024 else f'{n / 1024:.3g} KiB'


def _too_large_message(limit: int) -> str:
    settings = get_settings()
    return (f'The upload is too large: at most {settings.max_upload_files} files of '
            f'{_size(settings.max_upload_bytes)} each ({_size(limit)} per request).')


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({'detail': detail}).encode()
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(b'content-type', b'application/json'), (b'content-length', str(len(body)).encode()),
                            (b'connection', b'close')]})
    await send({'type': 'http.response.body', 'body': body})


class UploadLimitMiddleware:
    """Refuse upload requests larger than ``limit`` (default: ``request_limit()`` from the settings, read per
    request so a changed setting applies) with 413, before and while the body is read."""

    def __init__(self, app: ASGIApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http' or not is_upload_path(scope.get('path', '')):
            await self.app(scope, receive, send)
            return
        limit = self.limit if self.limit is not None else request_limit()
        declared = None
        for name, value in scope.get('headers', ()):
            if name.lower() == b'content-length':
                try:
                    declared = int(value)
                except ValueError:
                    await _refuse(send, 400, 'The Content-Length header is not a number.')
                    return
        if declared is not None and declared > limit:
            log.warning('upload refused: Content-Length %s > %s bytes (%s)', declared, limit, scope.get('path'))
            await _refuse(send, 413, _too_large_message(limit))
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message['type'] == 'http.request':
                received += len(message.get('body', b''))
                if received > limit:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message['type'] == 'http.response.start':
                started = True
            await send(message)

        too_large = False
        try:
            await self.app(scope, counting_receive, tracking_send)
        except* _TooLarge:  # "except*": middlewares with task groups (BaseHTTPMiddleware) raise it in a group
            too_large = True
        if too_large:
            log.warning('upload refused: body over %s bytes (%s)', limit, scope.get('path'))
            if not started:
                await _refuse(send, 413, _too_large_message(limit))


def install(app: Any) -> None:
    """Add the middleware to the NiceGUI/FastAPI app (outermost: it answers before anything reads the body)."""
    app.add_middleware(UploadLimitMiddleware)
