"""Errors as ``application/problem+json`` (RFC 9457): type, title, status, detail; validation errors list the
fields. Every answer under ``/api/v1`` that is not a success is one of these — unknown routes, wrong methods,
refused services, and a crash (logged; the answer never carries a traceback)."""
from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from .. import errors

log = logging.getLogger('pulse_live.api')
MEDIA_TYPE = 'application/problem+json'
DOCS = '/api/docs#problem-'

# the kinds of refusal, by the service error that says it: status, type slug, title
SERVICE_ERRORS: list[tuple[type[errors.ServiceError], int, str, str]] = [
    (errors.NotFound, 404, 'not-found', 'Not found'),
    (errors.PermissionDenied, 403, 'forbidden', 'Not allowed'),
    (errors.StaleWrite, 409, 'stale-write', 'Changed by someone else'),
    (errors.ValidationError, 422, 'invalid', 'Not valid'),
    (errors.LoginRefused, 401, 'unauthorized', 'Not signed in'),
]


class FieldProblem(BaseModel):
    field: str = Field(description='where: body.title, query.limit, path.reference …')
    message: str


class Problem(BaseModel):
    """An error (RFC 9457)."""
    type: str = Field(description='a URI naming the kind of problem (documented on /api/docs)')
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(default=None, description='validation errors: one per field')
    current_version: int | None = Field(default=None, description='stale writes: the ticket version now stored')
    current: dict[str, Any] | None = Field(default=None, description='stale ticket writes: the values now stored of '
                                                                      'the fields you wanted to change')


class ProblemError(Exception):
    """Raise from a route to answer with a problem."""

    def __init__(self, status: int, detail: str, *, slug: str | None = None, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.slug, self.title = status, detail, slug, title
        self.headers = headers or {}
        self.extra = extra


def problem(status: int, detail: str, *, slug: str | None = None, title: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else 'Error'
    body: dict[str, Any] = {'type': DOCS + slug if slug else 'about:blank', 'title': title or phrase,
                            'status': status, 'detail': detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def for_service_error(exc: errors.ServiceError) -> JSONResponse:
    for kind, status, slug, title in SERVICE_ERRORS:
        if isinstance(exc, kind):
            current = exc.current_version if isinstance(exc, errors.StaleWrite) else None
            return problem(status, str(exc), slug=slug, title=title, current_version=current)
    if isinstance(exc, errors.TooMany):
        return problem(429, str(exc), slug='rate-limited', title='Too many requests',
                       headers={'Retry-After': str(max(1, exc.retry_after_s))})
    if type(exc).__name__ == 'AlreadyTaken':  # services.ownership: somebody else took it first
        return problem(409, str(exc), slug='conflict', title='Conflict')
    return problem(422, str(exc), slug='invalid', title='Not valid')


def _where(loc: tuple[Any, ...]) -> str:
    return '.'.join(str(part) for part in loc) or 'request'


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = exc.errors()
    if any(e.get('type') == 'json_invalid' for e in found):
        return problem(400, 'The request body is not valid JSON.', slug='bad-json', title='Malformed request')
    listed = [{'field': _where(tuple(e.get('loc', ()))), 'message': str(e.get('msg', 'is not valid'))}
              for e in found]
    summary = '; '.join(f'{item["field"]}: {item["message"]}' for item in listed[:5])
    return problem(422, f'The request is not valid: {summary}.', slug='invalid', title='Not valid', errors=listed)


FASTAPI_BODY_ERROR = 'There was an error parsing the body'  # FastAPI's own answer when its JSON parser raised


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == FASTAPI_BODY_ERROR:  # invalid UTF-8, nested past the parser's depth
        return problem(400, 'The request body is not valid JSON (not UTF-8, or nested too deeply).', slug='bad-json',
                       title='Malformed request')
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase else {
        404: 'There is nothing at this address of the API (see /api/docs).',
        405: 'This address does not take this method (see /api/docs).',
    }.get(exc.status_code, HTTPStatus(exc.status_code).phrase)
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


async def _service(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ServiceError)
    return for_service_error(exc)


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    """A unique key written at the same moment by another request: 409, not a 500."""
    return problem(409, errors.CONFLICT_MESSAGE, slug='conflict', title='Conflict')


async def _problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem(exc.status, exc.detail, slug=exc.slug, title=exc.title, headers=exc.headers, **exc.extra)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


MAX_BODY_BYTES = 1024 * 1024  # a JSON body (the longest texts are 20,000 characters); uploads have their own limit
UPLOAD_PATH = re.compile(r'/tickets/[^/]+/attachments/?$')


class _BodyTooLarge(BaseException):
    """A BaseException: the body parser turns any Exception while reading into "400 error parsing the body"."""


class CrashBarrier:
    """The API's own outer layer: a JSON request body over ``MAX_BODY_BYTES`` is refused with 413 (declared or as it
    arrives; uploads check their own, larger limit), and an exception nobody handled is logged and answered with a
    500 problem (no traceback leaves the server), never re-raised into the app around the API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        limited = not UPLOAD_PATH.search(scope.get('path', ''))
        if limited:
            for name, value in scope.get('headers', ()):
                if name.lower() == b'content-length' and value.isdigit() and int(value) > MAX_BODY_BYTES:
                    await self._too_large(scope, receive, send)
                    return
        started = False
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if limited and message.get('type') == 'http.request':
                received += len(message.get('body', b''))
                if received > MAX_BODY_BYTES:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message['type'] == 'http.response.start':
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._too_large(scope, receive, send)
        except Exception:  # noqa: BLE001 - the barrier: logged, answered, contained
            log.exception('API error on %s %s', scope.get('method'), scope.get('path'))
            if not started:
                response = problem(500, 'Something went wrong on our side. The error is logged for the '
                                        'administrators; please try again in a moment.', slug='server-error',
                                   title='Server error')
                await response(scope, receive, send)

    @staticmethod
    async def _too_large(scope: Scope, receive, send) -> None:
        response = problem(413, f'The request body is too large (at most {MAX_BODY_BYTES // 1024} KiB).',
                           slug='too-large', title='Too large', headers={'Connection': 'close'})
        await response(scope, receive, send)


def install(api: FastAPI) -> None:
    api.add_exception_handler(RequestValidationError, _validation)
    api.add_exception_handler(HTTPException, _http)
    api.add_exception_handler(errors.ServiceError, _service)
    api.add_exception_handler(ProblemError, _problem)
    from sqlalchemy.exc import IntegrityError
    api.add_exception_handler(IntegrityError, _conflict)
    api.add_middleware(CrashBarrier)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of the problems an operation may answer with."""
    described = {400: 'Malformed request (the body is not JSON)', 401: 'No valid token', 403: 'Not allowed',
                 404: 'Not found (or not yours to see)', 405: 'Method not allowed', 409: 'Changed by someone else',
                 413: 'Too large', 422: 'Not valid (the fields are listed)', 429: 'Too many requests',
                 500: 'Server error'}
    return {code: {'model': Problem, 'description': described[code],
                   'content': {MEDIA_TYPE: {'schema': {'$ref': '#/components/schemas/Problem'}}}}
            for code in codes}
