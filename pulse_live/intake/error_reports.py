"""Automatic error reports: an ingest endpoint speaking the Sentry SDK's protocol (envelope and store).

An application using ``sentry-sdk`` (Python, JavaScript, …) sets the DSN an admin made on /admin/error-sources,
``http(s)://<key>@<host>/<source id>``; the SDK then posts to

- ``/api/<source id>/envelope/``: an envelope, newline-separated JSON: a header line, then items, each an item
  header line (``type``, optional ``length`` in bytes) and its payload (``length`` bytes, or up to the next newline)
- ``/api/<source id>/store/``: one event as JSON (older SDKs)

with its key in ``X-Sentry-Auth: Sentry sentry_key=<key>, …`` (or ``?sentry_key=``, or the envelope header's
``dsn``). Bodies may be compressed (``Content-Encoding: gzip``, ``deflate``; ``br`` when the brotli module is
installed); the body is read up to ``PULSE_ERROR_MAX_BODY_BYTES`` and decompressed up to
``PULSE_ERROR_MAX_DECOMPRESSED_BYTES`` (a zip bomb stops there: 413).

Only ``event`` items are errors; sessions, transactions, client reports, attachments and the rest are accepted
and ignored. Each event gets a fingerprint — the SDK's ``fingerprint`` if it sent one (``{{ default }}`` in it
stands for the default), else the exception types with their in-app frames (module and function, not line
numbers: an edit above the failing line does not split a group) — and goes to ``services.error_reports.grouper``.

Answers are JSON: 200 ``{"id": …}``; 400 a malformed report; 401 no or unknown key; 403 a revoked key; 413 too
large; 415 an unknown Content-Encoding; 429 over the source's rate limit (``Retry-After``, counted, not stored);
503 the database did not answer. The endpoint is pure ASGI in front of the app's middleware (no session, no page
machinery per event: see ``install``).
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import math
import re
import weakref
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI

from ..config import get_settings
from ..models import utcnow
from ..services import error_reports
from ..services.error_reports import ErrorEvent, SourceInfo

try:  # installed with NiceGUI on CPython; several times faster than json for event payloads
    from orjson import JSONDecodeError as _OrjsonError
    from orjson import dumps as _dumps
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    _loads, _OrjsonError = json.loads, ValueError  # type: ignore[assignment,misc]

    def _dumps(value: Any) -> bytes:  # type: ignore[misc]
        return json.dumps(value).encode()

log = logging.getLogger(__name__)
PATH = re.compile(r'^/api/(?P<source>[^/]{1,40})/(?P<kind>envelope|store)/?$')
KEY = re.compile(r'sentry_key\s*=\s*([0-9A-Za-z_-]{1,64})')
DSN_KEY = re.compile(r'^[a-z]+://([0-9A-Za-z_-]{1,64})(?::[^@]*)?@')
MAX_ITEMS = 100
MAX_EXCEPTIONS = 5
MAX_FRAMES = 40
MAX_TAGS = 50
MAX_FINGERPRINT_PARTS = 30
TEXT = 200
LONG_TEXT = 2000
CORS = [(b'access-control-allow-origin', b'*'),
        (b'access-control-allow-headers',
         b'x-sentry-auth, content-type, content-encoding, authorization, sentry-trace, baggage'),
        (b'access-control-allow-methods', b'POST, OPTIONS')]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Refused(Exception):
    """An answer other than 200: status, message (and extra headers)."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or []


# --- the body ------------------------------------------------------------------------------------------------------

def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body as sent, decompressed per ``Content-Encoding`` and never beyond ``limit`` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ('', 'identity'):
        return body
    if encoding in ('gzip', 'x-gzip', 'deflate'):
        wbits = 16 + zlib.MAX_WBITS if encoding != 'deflate' else (zlib.MAX_WBITS if body[:1] == b'x' else
                                                                     -zlib.MAX_WBITS)
        inflater = zlib.decompressobj(wbits)
        try:
            data = inflater.decompress(body, limit + 1)
        except zlib.error as e:
            raise Refused(400, f'The body is not valid {encoding} data ({e}).') from None
        if len(data) > limit or inflater.unconsumed_tail:
            raise Refused(413, f'The report is larger than {limit} bytes when decompressed.')
        if not inflater.eof:
            raise Refused(400, f'The {encoding} body is cut short.')
        return data
    if encoding == 'br':
        try:
            import brotli
        except ImportError:
            raise Refused(415, 'Content-Encoding br is not supported here; send gzip or deflate.') from None
        try:
            decoder = brotli.Decompressor()
            data = decoder.process(body, output_buffer_limit=limit + 1)
        except Exception as e:  # brotli.error
            raise Refused(400, f'The body is not valid br data ({e}).') from None
        if len(data) > limit:
            raise Refused(413, f'The report is larger than {limit} bytes when decompressed.')
        return data
    raise Refused(415, f'Content-Encoding {encoding[:40]!r} is not supported; send gzip, deflate or no encoding.')


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = _loads(raw)
    except (ValueError, UnicodeDecodeError, _OrjsonError) as e:
        raise Refused(400, f'{what} is not valid JSON ({str(e)[:100]}).') from None
    except RecursionError:
        raise Refused(400, f'{what} is nested too deeply.') from None
    if not isinstance(value, dict):
        raise Refused(400, f'{what} is not a JSON object.')
    return value


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(envelope header, the ``event`` items' payloads). Other item types are skipped (their length honoured)."""
    if not body.strip():
        raise Refused(400, 'The envelope is empty: send a header line and items.')
    end = body.find(b'\n')
    header = _json_object(body if end < 0 else body[:end], 'The envelope header')
    pos = len(body) if end < 0 else end + 1
    events: list[dict[str, Any]] = []
    items = 0
    while pos < len(body):
        end = body.find(b'\n', pos)
        line = body[pos:] if end < 0 else body[pos:end]
        pos = len(body) if end < 0 else end + 1
        if not line.strip():
            continue  # a trailing newline (or blank lines between items)
        items += 1
        if items > MAX_ITEMS:
            raise Refused(400, f'The envelope has more than {MAX_ITEMS} items.')
        item = _json_object(line, f'Item header {items}')
        length = item.get('length')
        if length is not None:
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise Refused(400, f'Item {items}: length must be a non-negative whole number.')
            if pos + length > len(body):
                raise Refused(400, f'Item {items}: length {length} runs past the end of the envelope.')
            payload = body[pos:pos + length]
            pos += length
            if pos < len(body) and body[pos:pos + 1] == b'\n':
                pos += 1
        else:
            end = body.find(b'\n', pos)
            payload = body[pos:] if end < 0 else body[pos:end]
            pos = len(body) if end < 0 else end + 1
        kind = item.get('type')
        if not isinstance(kind, str):
            raise Refused(400, f'Item {items}: the item header has no type.')
        if kind == 'event':
            events.append(_json_object(payload, f'Item {items} (event)'))
    return header, events


# --- one event ------------------------------------------------------------------------------------------------------

def _text(value: Any, limit: int = TEXT) -> str:
    """A report's field as text of at most ``limit`` characters. A list or dict where text belongs is shown by its
    start (``_bounded_json``): encoding a whole 4 MB list to keep 200 characters, for each of the 150 places a report
    can name it, held the event loop 3 s per 4 KB report."""
    if value is None:
        return ''
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, dict | list):
        return _bounded_json(value, limit)
    return str(value)[:limit]


def _bounded_json(value: Any, limit: int) -> str:
    """The JSON of ``value`` cut at ``limit`` characters, made of at most ``limit`` items (never the whole of it)."""
    out: list[str] = []
    size = 0
    stack: list[Any] = [value]
    while stack and size < limit:
        item = stack.pop()
        if isinstance(item, str) and item in ('[', ']', '{', '}', ', ', ': '):
            piece = item  # markup pushed below
        elif isinstance(item, tuple):  # a key of a dict
            piece = json.dumps(str(item[0]))[:limit]
        elif isinstance(item, list):
            stack.append(']')
            for n, child in enumerate(reversed(item[:limit])):
                stack.append(child)
                if n < min(len(item), limit) - 1:
                    stack.append(', ')
            piece = '['
        elif isinstance(item, dict):
            stack.append('}')
            pairs = list(item.items())[:limit]
            for n, (key, child) in enumerate(reversed(pairs)):
                stack += [child, ': ', (key,)]
                if n < len(pairs) - 1:
                    stack.append(', ')
            piece = '{'
        else:
            piece = json.dumps(item, default=str)[:limit] if isinstance(item, str | int | float | bool) or \
                item is None else json.dumps(str(item)[:limit])
        out.append(piece)
        size += len(piece)
    return ''.join(out)[:limit]


def _exceptions(event: dict[str, Any]) -> list[dict[str, Any]]:
    exc = event.get('exception')
    values = exc.get('values') if isinstance(exc, dict) else exc if isinstance(exc, list) else None
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _frames(exc: dict[str, Any]) -> list[dict[str, Any]]:
    trace = exc.get('stacktrace')
    frames = trace.get('frames') if isinstance(trace, dict) else None
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []


def _app_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f.get('in_app') is True] or frames


def _message(event: dict[str, Any]) -> str:
    logentry = event.get('logentry')
    if isinstance(logentry, dict):
        text = logentry.get('message') or logentry.get('formatted')
        if isinstance(text, str) and text:
            return text
    message = event.get('message')
    if isinstance(message, dict):
        message = message.get('message') or message.get('formatted')
    return message if isinstance(message, str) else ''


def _formatted_message(event: dict[str, Any]) -> str:
    logentry = event.get('logentry')
    if isinstance(logentry, dict) and isinstance(logentry.get('formatted'), str) and logentry['formatted']:
        return logentry['formatted']
    return _message(event)


def default_grouping(event: dict[str, Any]) -> list[str]:
    """Exception types with their in-app frames (module or file, function); else the message template."""
    parts: list[str] = []
    for exc in _exceptions(event)[-MAX_EXCEPTIONS:]:
        parts.append(_text(exc.get('type') or 'Error'))
        for frame in _app_frames(_frames(exc))[-MAX_FRAMES:]:
            parts.append(f'{_text(frame.get("module") or frame.get("filename") or frame.get("abs_path") or "?")}'
                         f':{_text(frame.get("function") or "?")}')
    if parts:
        return parts
    message = _message(event)
    if message:
        return ['message', message[:LONG_TEXT]]
    return ['event', _text(event.get('culprit') or event.get('transaction') or event.get('logger') or 'unknown')]


def grouping(event: dict[str, Any]) -> list[str]:
    """The components the fingerprint is the hash of: the SDK's ``fingerprint`` (``{{ default }}`` expanded)
    if it sent a list of texts, else ``default_grouping``."""
    custom = event.get('fingerprint')
    if isinstance(custom, list) and custom and all(isinstance(p, str | int | float) for p in custom):
        parts: list[str] = []
        default: list[str] | None = None
        for part in custom[:MAX_FINGERPRINT_PARTS]:
            text = str(part)[:TEXT + 20]
            if text.replace(' ', '') == '{{default}}':
                if default is None:  # worked out once, however often the fingerprint names it
                    default = default_grouping(event)
                parts.extend(default)
            else:
                parts.append(text[:TEXT])
        return ['custom', *parts]
    return default_grouping(event)


def _title(event: dict[str, Any]) -> str:
    excs = _exceptions(event)
    if excs:
        exc = excs[-1]
        kind, value = _text(exc.get('type') or 'Error'), _text(exc.get('value'), LONG_TEXT)
        title = f'{kind}: {value}' if value else kind
    else:
        title = _formatted_message(event) or _text(event.get('transaction')) or 'Error report'
    title = ' '.join(title.split())  # one line
    return title[:300]


def _culprit(event: dict[str, Any]) -> str:
    excs = _exceptions(event)
    if excs:
        frames = _app_frames(_frames(excs[-1]))
        if frames:
            f = frames[-1]
            return f'{_text(f.get("module") or f.get("filename") or "?")} in {_text(f.get("function") or "?")}'[:300]
    return _text(event.get('culprit') or event.get('transaction'), 300)


def _tags(value: Any) -> dict[str, str]:
    pairs = value.items() if isinstance(value, dict) else (
        [p for p in value if isinstance(p, list | tuple) and len(p) == 2] if isinstance(value, list) else [])
    return {_text(k, 100): _text(v) for k, v in list(pairs)[:MAX_TAGS]}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def context_of(event: dict[str, Any]) -> dict[str, Any]:
    """The latest event's context, bounded in size: release, environment, user, tags, exceptions with frames."""
    user = _dict(event.get('user'))
    exceptions = []
    for exc in _exceptions(event)[-MAX_EXCEPTIONS:]:
        mechanism = _dict(exc.get('mechanism'))
        exceptions.append({
            'type': _text(exc.get('type') or 'Error'), 'value': _text(exc.get('value'), LONG_TEXT),
            'module': _text(exc.get('module')), 'handled': mechanism.get('handled') if isinstance(
                mechanism.get('handled'), bool) else None,
            'frames': [{'filename': _text(f.get('filename') or f.get('abs_path')), 'module': _text(f.get('module')),
                        'function': _text(f.get('function')),
                        'lineno': f.get('lineno') if isinstance(f.get('lineno'), int) else None,
                        'in_app': f.get('in_app') is True, 'context_line': _text(f.get('context_line'), 300)}
                       for f in _frames(exc)[-MAX_FRAMES:]],
        })
    contexts = _dict(event.get('contexts'))
    runtime = {k: _text(f'{_text(v.get("name"), 60)} {_text(v.get("version"), 40)}'.strip(), 100)
               for k, v in contexts.items() if k in ('runtime', 'os', 'browser', 'device') and isinstance(v, dict)}
    sdk = _dict(event.get('sdk'))
    return {
        'event_id': _text(event.get('event_id'), 64), 'timestamp': _text(event.get('timestamp'), 64),
        'level': _text(event.get('level'), 20), 'platform': _text(event.get('platform'), 40),
        'release': _text(event.get('release')), 'environment': _text(event.get('environment')),
        'server_name': _text(event.get('server_name')), 'transaction': _text(event.get('transaction')),
        'logger': _text(event.get('logger')), 'message': _text(_formatted_message(event), LONG_TEXT),
        'user': {k: _text(user.get(k)) for k in ('id', 'username', 'email', 'ip_address') if user.get(k)},
        'tags': _tags(event.get('tags')), 'contexts': runtime,
        'sdk': _text(f'{_text(sdk.get("name"), 60)} {_text(sdk.get("version"), 40)}'.strip(), 100),
        'exceptions': exceptions,
    }


def fingerprint_of(parts: list[str]) -> str:
    return hashlib.sha256('\x1f'.join(parts).encode('utf-8', 'replace')).hexdigest()


def error_event(event: dict[str, Any], received_at: datetime | None = None,
                parts: list[str] | None = None) -> ErrorEvent:
    parts = grouping(event) if parts is None else parts
    readable = '\n'.join(parts)[:LONG_TEXT]
    return ErrorEvent(fingerprint=fingerprint_of(parts), title=_title(event), culprit=_culprit(event),
                      grouping=readable, context=context_of(event), received_at=received_at or utcnow())


# --- the request ----------------------------------------------------------------------------------------------------

def _key_from(headers: dict[bytes, bytes], query: bytes) -> str | None:
    for name in (b'x-sentry-auth', b'authorization'):
        value = headers.get(name)
        if value:
            m = KEY.search(value.decode('latin-1'))
            if m:
                return m.group(1)
    if query:
        values = parse_qs(query.decode('latin-1')).get('sentry_key')
        if values and re.fullmatch(r'[0-9A-Za-z_-]{1,64}', values[0]):
            return values[0]
    return None


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message['type'] == 'http.disconnect':
            raise Refused(400, 'The client went away before the body was read.')
        chunk = message.get('body', b'')
        size += len(chunk)
        if size > limit:
            raise Refused(413, f'The report is larger than {limit} bytes.')
        chunks.append(chunk)
        if not message.get('more_body', False):
            return b''.join(chunks)


async def _source(key: str | None, source_part: str) -> SourceInfo:
    if key is None:
        raise Refused(401, 'No key: send X-Sentry-Auth: Sentry sentry_key=<key> (the DSN sets it).')
    source = await error_reports.source_keys.get(key)
    if source is None or str(source.id) != source_part:
        raise Refused(401, 'Unknown key for this source: check the DSN.')
    if not source.is_active:
        raise Refused(403, f'The key of the source "{source.name}" was revoked: reports are refused.')
    return source


async def _source_or_count(key: str | None, source_part: str, refused_key: str) -> SourceInfo:
    """``_source``; a refused key also counts against the sender's address (``refused_key``)."""
    try:
        return await _source(key, source_part)
    except Refused as refusal:
        if refusal.status == 401:  # a guessed or mistyped key; a revoked one (403) is known, its senders legitimate
            from ..rate_limit import get_limiter
            await get_limiter().take(refused_key, get_settings().api_auth_failures_per_minute)
        raise


async def ingest(kind: str, source_part: str, headers: dict[bytes, bytes], query: bytes,
                 receive: Receive, client: str = '?') -> dict[str, Any]:
    """Read, check and record one report; the answer's JSON (or ``Refused``).

    What costs little is checked before the body is read: a key in the headers (a cached look-up) and its source's
    rate; without one (the key only in the envelope's DSN), whether this address sent too many wrong keys
    (``api_auth_failures_per_minute``, counted per 401) — a report that would be refused is not decompressed and
    parsed first (4 MB of JSON: ~25 ms of CPU each). A right key is never held back by others' wrong ones from the
    same address (several apps on one host, a NAT, a proxy whose forwarded address is not trusted)."""
    from ..rate_limit import get_limiter
    settings = get_settings()
    if not source_part.isdigit():
        raise Refused(400, f'{source_part[:40]!r} is not a source id (the number at the end of the DSN).')
    refused_key = f'errors-refused:{client}'
    key = _key_from(headers, query)

    async def address_may_try() -> None:
        wait = await get_limiter().wait(refused_key, settings.api_auth_failures_per_minute)
        if wait > 0:
            raise Refused(429, 'Too many reports with a wrong key from this address; try again later.',
                          [(b'retry-after', str(max(1, math.ceil(wait))).encode())])
    declared = headers.get(b'content-length', b'')
    if declared.isdigit() and int(declared) > settings.error_max_body_bytes:
        raise Refused(413, f'The report is larger than {settings.error_max_body_bytes} bytes.')
    if key is None:
        await address_may_try()
        source = None
    else:
        try:
            source = await _source(key, source_part)
        except Refused as refusal:
            if refusal.status == 401:
                await address_may_try()  # over the limit: 429 (it tells a guesser to slow down)
                await get_limiter().take(refused_key, settings.api_auth_failures_per_minute)
            raise
    if source is not None:
        wait = await get_limiter().wait(f'errors:{source.id}', source.rate_limit_per_minute)
        if wait > 0:  # nothing could be stored: counted as one, not read
            error_reports.grouper.count_rate_limited(source, 1)
            retry = max(1, math.ceil(wait))
            raise Refused(429, f'Too many events from "{source.name}": at most {source.rate_limit_per_minute} a '
                               f'minute. This one was counted, not stored.',
                          [(b'retry-after', str(retry).encode()),
                           (b'x-sentry-rate-limits', f'{retry}:error:organization'.encode())])
    body = await _read_body(receive, settings.error_max_body_bytes)
    loop = asyncio.get_running_loop()
    parsing = _parsing.get(loop)
    if parsing is None:
        parsing = _parsing[loop] = asyncio.Lock()
    async with parsing:  # one parsed report alive at a time (see PARSE_ONE_AT_A_TIME)
        return await _take(kind, source_part, body, headers, settings, source, refused_key)


# One report is decompressed, parsed and recorded at a time per process: 4 MB of JSON is ~80 MB of Python objects,
# and ten reports of 5.7 KB sent at once (each inflating to 3.9 MB) held ~1 GB while they waited on the database in
# turn. Each event is made into its small ``ErrorEvent`` at once, so nothing keeps a parsed report afterwards.
PARSE_ONE_AT_A_TIME = True
_parsing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _take(kind: str, source_part: str, body: bytes, headers: dict[bytes, bytes], settings: Any,
                source: SourceInfo | None, refused_key: str) -> dict[str, Any]:
    data = decompress(body, headers.get(b'content-encoding', b'').decode('latin-1'),
                      settings.error_max_decompressed_bytes)
    if kind == 'store':
        if not data.strip():
            raise Refused(400, 'The body is empty: send the event as a JSON object.')
        events = [_json_object(data, 'The event')]
        envelope_header: dict[str, Any] = {}
    else:
        envelope_header, events = parse_envelope(data)
    if source is None:  # the key may come in the envelope header's DSN (browser SDKs with a tunnel)
        dsn = envelope_header.get('dsn')
        m = DSN_KEY.match(dsn) if isinstance(dsn, str) else None
        source = await _source_or_count(m.group(1) if m else None, source_part, refused_key)
    answer: dict[str, Any] = {}
    event_id = envelope_header.get('event_id')
    if isinstance(event_id, str):
        answer['id'] = event_id[:64]
    if not events:
        return answer
    taken, retry = await error_reports.rate_limiter.take(source, len(events))
    allowed = events[:taken]
    if len(allowed) < len(events):
        error_reports.grouper.count_rate_limited(source, len(events) - len(allowed))
        if not allowed:
            raise Refused(429, f'Too many events from "{source.name}": at most {source.rate_limit_per_minute} a '
                               f'minute. This one was counted, not stored.',
                          [(b'retry-after', str(retry).encode()),
                           (b'x-sentry-rate-limits', f'{retry}:error:organization'.encode())])
    now = utcnow()
    limited = 0
    for event in allowed:
        # the fingerprint now; the title and context only if this is the first of its group, else when the
        # grouper writes the latest context (once per group and flush, not once per event)
        parts = grouping(event)
        made = error_event(event, now, parts)  # small; the parsed report is not kept by the grouper
        try:
            await error_reports.grouper.record_lazily(source, made.fingerprint, now, functools.partial(_same, made))
        except error_reports.NewGroupsLimited:
            limited += 1
            continue
        if 'id' not in answer and isinstance(event.get('event_id'), str):
            answer['id'] = event['event_id'][:64]
    if limited:
        error_reports.grouper.count_rate_limited(source, limited)
        if limited == len(allowed):
            per_minute = settings.error_new_groups_per_minute
            retry = max(1, math.ceil(60 / per_minute))
            raise Refused(429, f'Too many new kinds of error from "{source.name}": at most {per_minute} new groups '
                               f'a minute (each opens a ticket). This one was counted, not stored.',
                          [(b'retry-after', str(retry).encode()),
                           (b'x-sentry-rate-limits', f'{retry}:error:organization'.encode())])
    return answer


def _same(made: ErrorEvent) -> ErrorEvent:
    return made


async def _answer(send: Send, status: int, payload: dict[str, Any],
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = _dumps(payload)
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(b'content-type', b'application/json'), (b'content-length', str(len(body)).encode()),
                            *CORS, *(extra or [])]})
    await send({'type': 'http.response.body', 'body': body})


class IngestMiddleware:
    """Answers ``/api/<source id>/envelope/`` and ``/store/``; everything else goes on to the app."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        match = PATH.match(scope.get('path', '')) if scope['type'] == 'http' else None
        if match is None:
            await self.app(scope, receive, send)
            return
        method = scope.get('method', 'GET')
        if method == 'OPTIONS':  # a browser SDK's CORS preflight
            await _answer(send, 200, {})
            return
        if method != 'POST':
            await _answer(send, 405, {'detail': 'Send reports with POST.'}, [(b'allow', b'POST, OPTIONS')])
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope.get('headers', []):
            headers[name.lower()] = value
        try:
            payload = await ingest(match['kind'], match['source'], headers, scope.get('query_string', b''), receive,
                                   client=str((scope.get('client') or ('?',))[0]))
        except RecursionError:  # a report nested deeper than anything here reads (one case not caught on the way)
            await _answer(send, 400, {'detail': 'The report is nested too deeply.'})
            return
        except Refused as refusal:
            if refusal.status in (401, 403):
                log.warning('error report refused (%s): %s from %s', refusal.status, refusal.message,
                            (scope.get('client') or ('?',))[0])
            await _answer(send, refusal.status, {'detail': refusal.message}, refusal.headers)
            return
        except Exception:
            log.exception('an error report could not be recorded')
            await _answer(send, 503, {'detail': 'The report could not be recorded right now; please retry later.'})
            return
        await _answer(send, 200, payload)


def install(app: FastAPI) -> None:
    """Put the ingest in front of the whole app (called once by ``pulse_live.app.build_app``) and write pending
    counts at shutdown.

    It wraps the app's middleware stack from the outside, as the stack is built at the first request: an SDK sends
    no cookies, and inside the page machinery every report would pay for the session middlewares (a new session
    and its user storage per report) — ~10 ms and a leak per event instead of well under a millisecond."""
    if not getattr(app, 'pulse_error_ingest', False):
        build = app.build_middleware_stack

        def build_with_ingest() -> Any:
            return IngestMiddleware(build())
        app.build_middleware_stack = build_with_ingest  # type: ignore[method-assign]
        app.pulse_error_ingest = True  # type: ignore[attr-defined]
        on_shutdown = getattr(app, 'on_shutdown', None)  # NiceGUI's app (this module does not import NiceGUI)
        if callable(on_shutdown):
            on_shutdown(error_reports.grouper.stop)
