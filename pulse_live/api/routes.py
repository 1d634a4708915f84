"""The endpoints of ``/api/v1``. Reads go through the read models (``pulse_live/queries``), writes through the
services with ``actor=`` the token's user, so a change made here is live in every browser and notifies like the
UI's. Permission rules are the services' and queries' own (``auth.py``, ``visibility.py``)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.exceptions import HTTPException

from .. import auth, storage, upload_limit
from ..config import get_settings
from ..errors import NotFound, StaleWrite
from ..models import Channel
from ..queries import api as reads
from ..queries import catalog, customers, queues
from ..queries.tickets import attachment_for_download, find_ticket_id
from ..services import chatter, tickets
from . import schemas
from .problems import ProblemError, responses
from .security import Caller, CurrentCaller


async def strict_query(request: Request) -> None:
    """Query parameters are as strict as bodies: one the endpoint does not take is refused (422), never ignored
    (a misspelt filter would otherwise answer with everything)."""
    route = request.scope.get('route')
    dependant = getattr(route, 'dependant', None)
    if dependant is None or not request.query_params:
        return
    known: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        known.update(param.alias for param in current.query_params)
        stack.extend(current.dependencies)
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        shown = ', '.join(repr(name[:40]) for name in unknown[:5])
        raise ProblemError(422, f'Unknown query parameter {shown}' + (f' (this address takes: '
                                                                       f'{", ".join(sorted(known))}).' if known
                                                                       else ' (this address takes none).'),
                           slug='invalid', title='Not valid',
                           errors=[{'field': f'query.{name[:40]}', 'message': 'is not a parameter of this address'}
                                   for name in unknown[:20]])


router = APIRouter(dependencies=[Depends(strict_query)])
Reference = Annotated[str, Path(min_length=1, max_length=64, pattern=r'^[A-Za-z0-9-]+$',
                                description='the reference (PL-2026-000123) or the id')]
SearchText = Annotated[schemas.Text, Query(max_length=200)]
# the deepest page of a list: an offset is read and thrown away row by row (at 20,000 tickets, sorted by priority,
# ~0.15 s of CPU a request); a longer list is narrowed by its filters (created_from / created_to, status …)
MAX_OFFSET = 10_000
READ = responses(401, 403, 404, 422, 429)
WRITE = responses(400, 401, 403, 404, 409, 422, 429)


def _named(id_: int | None, name: str | None) -> schemas.Named | None:
    return schemas.Named(id=id_, name=name or '') if id_ is not None else None


def _summary_fields(r: reads.TicketRecord) -> dict[str, Any]:
    return {'id': r.id, 'reference': r.reference, 'url': f'/api/v1/tickets/{r.reference}', 'title': r.title,
            'status': r.status, 'type': schemas.Named(id=r.type_id, name=r.type),
            'organisation': schemas.Named(id=r.organisation_id, name=r.organisation),
            'service': _named(r.service_id, r.service), 'customer': _named(r.customer_id, r.customer),
            'channel': r.channel, 'created_at': r.created_at, 'updated_at': r.updated_at, 'version': r.version,
            'priority': _named(r.priority_id, r.priority), 'queue': _named(r.queue_id, r.queue),
            'assignee': _named(r.assignee_id, r.assignee)}


def _ticket(r: reads.TicketRecord) -> schemas.Ticket:
    return schemas.Ticket(**_summary_fields(r), description=r.description, resolved_at=r.resolved_at,
                          closed_at=r.closed_at, resolution_code=_named(r.resolution_code_id, r.resolution_code),
                          resolution_text=r.resolution_text, impact=r.impact, urgency=r.urgency,
                          priority_reason=r.priority_reason, affected_components=r.affected_components,
                          technical_details=r.technical_details, attempted_solutions=r.attempted_solutions,
                          workaround=r.workaround)


def _attachment(a: reads.AttachmentRecord) -> schemas.Attachment:
    return schemas.Attachment(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size,
                              internal=a.internal, created_at=a.created_at, url=f'/api/v1/attachments/{a.id}')


def _message(m: reads.MessageRecord) -> schemas.Message:
    return schemas.Message(id=m.id, author=_named(m.author_id, m.author), created_at=m.created_at, body=m.body,
                           internal=m.internal, attachments=[_attachment(a) for a in m.attachments])


async def _ticket_id(caller: CurrentCaller, reference: str) -> int:
    if reference.isdigit() and int(reference) > schemas.MAX_INT:  # no such id (PostgreSQL would refuse the number)
        raise NotFound(f'No ticket {reference} (or it is not yours to see).')
    ticket_id = await find_ticket_id(caller.user, reference)
    if ticket_id is None:
        raise NotFound(f'No ticket {reference} (or it is not yours to see).')
    return ticket_id


async def _read_ticket(caller: CurrentCaller, ticket_id: int) -> schemas.Ticket:
    record = await reads.ticket(caller.user, ticket_id)
    if record is None:
        raise NotFound('Ticket not found.')
    return _ticket(record)


# --- me -----------------------------------------------------------------------------------------------------------

@router.get('/me', response_model=schemas.Me, responses=READ, tags=['me'], summary='Who the token belongs to')
async def me(caller: CurrentCaller) -> schemas.Me:
    u, t = caller.user, caller.token
    return schemas.Me(id=u.id, email=u.email, name=u.display_name, role=u.role, is_staff=auth.is_staff(u),
                      is_org_admin=bool(u.is_org_admin),
                      organisation=schemas.Named(id=u.organisation_id, name=u.organisation.name),
                      token=schemas.TokenInfo(name=t.name, scope=t.scope, prefix=t.prefix, expires_at=t.expires_at))


# --- tickets --------------------------------------------------------------------------------------------------------

@router.get('/tickets', response_model=schemas.TicketPage, responses=READ, tags=['tickets'],
            summary='Tickets you may see, filtered like the work lists')
async def list_tickets(
        caller: CurrentCaller,
        status: Annotated[schemas.StatusFilter, Query()] = schemas.StatusFilter.ALL,
        queue_id: Annotated[schemas.QueryId | None, Query(description='staff only')] = None,
        assignee_id: Annotated[int | None, Query(ge=0, le=schemas.MAX_INT,
                                                 description='staff only; 0 = unassigned')] = None,
        priority_id: Annotated[schemas.QueryId | None, Query(description='staff only')] = None,
        type_id: Annotated[schemas.QueryId | None, Query()] = None,
        service_id: Annotated[schemas.QueryId | None, Query()] = None,
        organisation_id: Annotated[schemas.QueryId | None, Query()] = None,
        customer_id: Annotated[schemas.QueryId | None, Query()] = None,
        q: SearchText = '',
        created_from: Annotated[date | None, Query(description='YYYY-MM-DD')] = None,
        created_to: Annotated[date | None, Query(description='YYYY-MM-DD, inclusive')] = None,
        sort: Annotated[schemas.Sort, Query()] = schemas.Sort.UPDATED,
        limit: Annotated[int, Query(ge=1, le=100)] = 25,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> schemas.TicketPage:
    filters = reads.TicketFilters(status=status.value, queue_id=queue_id, assignee_id=assignee_id,
                                  priority_id=priority_id, type_id=type_id, service_id=service_id,
                                  organisation_id=organisation_id, customer_id=customer_id, search=q,
                                  created_from=created_from, created_to=created_to)
    rows, total = await reads.ticket_list(caller.user, filters, sort=sort.value, limit=limit, offset=offset)
    return schemas.TicketPage(items=[schemas.TicketSummary(**_summary_fields(r)) for r in rows], total=total,
                              limit=limit, offset=offset,
                              next_offset=offset + limit if offset + limit < total else None)


@router.get('/tickets/{reference}', response_model=schemas.Ticket, responses=READ, tags=['tickets'],
            summary='One ticket')
async def get_ticket(caller: CurrentCaller, reference: Reference) -> schemas.Ticket:
    return await _read_ticket(caller, await _ticket_id(caller, reference))


@router.post('/tickets', response_model=schemas.Ticket, status_code=201, responses=WRITE, tags=['tickets'],
             summary='Open a ticket (customers: a request of their own)')
async def create_ticket(caller: CurrentCaller, body: schemas.TicketCreate, response: Response) -> schemas.Ticket:
    values = body.model_dump()
    if values['channel'] is None:
        values['channel'] = Channel.API.value
    for level in ('impact', 'urgency'):
        values[level] = values[level].value if values[level] is not None else None
    ticket = await tickets.create_ticket(actor=caller.user, **values)
    response.headers['Location'] = f'/api/v1/tickets/{ticket.reference}'
    return await _read_ticket(caller, ticket.id)


@router.patch('/tickets/{reference}', response_model=schemas.Ticket, responses=WRITE, tags=['tickets'],
              summary='Change fields (409 when the ticket changed since `version`; with `seen`, only when the '
                      'fields you change did)')
async def update_ticket(caller: CurrentCaller, reference: Reference, body: schemas.TicketPatch) -> schemas.Ticket:
    ticket_id = await _ticket_id(caller, reference)
    changes = body.model_dump(exclude_unset=True, exclude={'version', 'seen'})
    seen = body.seen.model_dump(exclude_unset=True) if body.seen is not None else None
    for values in (changes, seen or {}):
        if values.get('channel') is not None:
            values['channel'] = values['channel'].value
    if seen is not None and set(changes) - set(seen):
        missing = sorted(set(changes) - set(seen))
        raise ProblemError(422, f'seen must hold the value you read for every field you change; missing: '
                                f'{", ".join(missing)}.', slug='invalid', title='Not valid',
                           errors=[{'field': f'body.seen.{name}', 'message': 'the value you read is missing'}
                                   for name in missing])
    try:
        await tickets.update_ticket(actor=caller.user, ticket_id=ticket_id, expected_version=body.version,
                                    changes=changes, seen=seen)
    except StaleWrite as stale:
        raise await _stale(caller, ticket_id, stale, sorted(changes)) from None
    return await _read_ticket(caller, ticket_id)


async def _stale(caller: CurrentCaller, ticket_id: int, stale: StaleWrite, fields: list[str]) -> ProblemError:
    """409 with what a client needs to decide: the version now stored and the current values of the fields it
    wanted to change (as a GET would show them)."""
    current = await _read_ticket(caller, ticket_id)
    shown = current.model_dump(mode='json')
    values = {name: (shown[name.removesuffix('_id')]['id'] if name.endswith('_id') and
                     isinstance(shown.get(name.removesuffix('_id')), dict) else shown.get(name)) for name in fields}
    return ProblemError(409, str(stale), slug='stale-write', title='Changed by someone else',
                        current_version=current.version, current=values)


@router.post('/tickets/{reference}/status', response_model=schemas.Ticket, responses=WRITE, tags=['tickets'],
             summary='Move the ticket along the workflow (open, in_progress, waiting, resolved, closed)')
async def change_status(caller: CurrentCaller, reference: Reference, body: schemas.StatusChange) -> schemas.Ticket:
    ticket_id = await _ticket_id(caller, reference)
    await tickets.change_status(actor=caller.user, ticket_id=ticket_id, expected_version=body.version,
                                status=body.status.value, resolution_code_id=body.resolution_code_id,
                                resolution_text=body.resolution_text, reason=body.reason)
    return await _read_ticket(caller, ticket_id)


# --- messages and attachments ------------------------------------------------------------------------------------

@router.get('/tickets/{reference}/messages', response_model=schemas.MessagePage, responses=READ, tags=['messages'],
            summary='Messages, oldest first (internal notes only for staff)')
async def list_messages(caller: CurrentCaller, reference: Reference,
                        after: Annotated[int, Query(ge=0, le=schemas.MAX_INT,
                                                    description='only messages after this id')] = 0,
                        limit: Annotated[int, Query(ge=1, le=100)] = 50) -> schemas.MessagePage:
    ticket_id = await _ticket_id(caller, reference)
    found, more = await reads.messages(caller.user, ticket_id, after=after, limit=limit)
    return schemas.MessagePage(items=[_message(m) for m in found], next_after=found[-1].id if more else None)


async def _posted(caller: CurrentCaller, event_id: int) -> schemas.Message:
    posted = await reads.message(caller.user, event_id)
    if posted is None:
        raise NotFound('Message not found.')
    return _message(posted)


@router.post('/tickets/{reference}/messages', response_model=schemas.Message, status_code=201, responses=WRITE,
             tags=['messages'], summary='Post a public reply, or an internal note (staff only)')
async def post_message(caller: CurrentCaller, reference: Reference, body: schemas.MessageIn) -> schemas.Message:
    ticket_id = await _ticket_id(caller, reference)
    event = await chatter.post_message(actor=caller.user, ticket_id=ticket_id, body=body.body, internal=body.internal)
    return schemas.Message(id=event.id, author=schemas.Named(id=caller.user.id, name=caller.user.display_name),
                           created_at=event.created_at, body=event.body, internal=event.is_internal, attachments=[])


UPLOAD_BODY = {'required': True, 'content': {'multipart/form-data': {'schema': {
    'type': 'object', 'required': ['files'],
    'properties': {'files': {'type': 'array', 'items': {'type': 'string', 'format': 'binary'},
                             'description': 'one or more files (the same size and count limits as the UI)'},
                   'body': {'type': 'string', 'maxLength': 20000, 'description': 'a message to go with them'},
                   'internal': {'type': 'boolean', 'description': 'internal (staff only)'}}}}}}


def _flag(value: Any) -> bool:
    text = str(value or '').strip().lower()
    if text in ('', 'false', '0', 'no'):
        return False
    if text in ('true', '1', 'yes'):
        return True
    raise ProblemError(422, 'internal must be true or false.', slug='invalid', title='Not valid',
                       errors=[{'field': 'body.internal', 'message': 'must be true or false'}])


def _capped_body(request: Request, limit: int) -> None:
    """Refuse the request body (413) as soon as it is over ``limit``, while the form parser streams it into its
    spooled files: the body is never held whole in memory (it was buffered first, then parsed, then every file read
    — three copies of up to ``limit`` bytes per request)."""
    declared = request.headers.get('content-length', '')
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    receive, received = request.receive, 0

    async def counting() -> Any:
        nonlocal received
        message = await receive()
        if message.get('type') == 'http.request':
            received += len(message.get('body', b''))
            if received > limit:
                raise _too_large(limit)
        return message
    request._receive = counting  # noqa: SLF001 - Starlette's stream() reads through it


# Uploads read at once: one per person (up to max_upload_files files each), a few in the whole process — the files
# are held in memory until they are stored, so parallel requests must not multiply that. Per process (several
# processes: one per person in each); a slot is taken before the body arrives, so a body that stalls holds it —
# behind the shipped nginx (proxy_request_buffering on) a request reaches the app only once its body is complete.
UPLOADS_AT_ONCE = 4
_uploading: set[int] = set()


@contextlib.contextmanager
def _upload_slot(user_id: int) -> Iterator[None]:
    if user_id in _uploading:
        raise ProblemError(429, 'One upload at a time per person: wait for the one under way to finish (a request '
                                'may carry several files).', slug='rate-limited', title='Too many requests',
                           headers={'Retry-After': '1'})
    if len(_uploading) >= UPLOADS_AT_ONCE:
        raise ProblemError(503, 'The server is taking other uploads; try again in a few seconds.',
                           slug='busy', title='Busy', headers={'Retry-After': '2'})
    _uploading.add(user_id)
    try:
        yield
    finally:
        _uploading.discard(user_id)


def _too_large(limit: int) -> ProblemError:
    settings = get_settings()
    return ProblemError(413, f'The upload is too large: at most {settings.max_upload_files} files of '
                             f'{settings.max_upload_bytes // 1024} KiB each.', slug='too-large', title='Too large',
                        limit_bytes=limit)


@router.post('/tickets/{reference}/attachments', response_model=schemas.Message, status_code=201,
             responses={**WRITE, **responses(413)}, tags=['messages'], openapi_extra={'requestBody': UPLOAD_BODY},
             summary='Upload files (multipart/form-data) as a message of their own')
async def upload(caller: CurrentCaller, reference: Reference, request: Request) -> schemas.Message:
    ticket_id = await _ticket_id(caller, reference)
    settings = get_settings()
    user_id = caller.user.id
    with _upload_slot(user_id):
        _capped_body(request, upload_limit.request_limit())
        try:
            return await _upload(caller, ticket_id, request, settings)
        finally:
            await request.close()  # the form's spooled files


async def _upload(caller: Caller, ticket_id: int, request: Request, settings: Any) -> schemas.Message:
    try:
        form = await request.form(max_files=settings.max_upload_files, max_fields=10)
    except ProblemError:
        raise
    except HTTPException as refused:  # Starlette's multipart parser: malformed, or more files than allowed
        detail = str(refused.detail)
        if 'Too many files' in detail:
            raise ProblemError(422, f'Too many files: at most {settings.max_upload_files} per message.',
                               slug='invalid', title='Not valid',
                               errors=[{'field': 'body.files', 'message': 'too many files'}]) from None
        raise ProblemError(400, f'The form cannot be read: {detail}', slug='bad-form',
                           title='Malformed request') from None
    files: list[storage.UploadedFile] = []
    for item in form.getlist('files'):
        if isinstance(item, str) or not hasattr(item, 'read'):
            raise ProblemError(422, 'files must be files (multipart/form-data).', slug='invalid', title='Not valid',
                               errors=[{'field': 'body.files', 'message': 'must be a file'}])
        if item.size is not None and item.size > settings.max_upload_bytes:
            raise ProblemError(413, f'{storage.safe_filename(item.filename or "file")} is too large '
                                    f'(at most {settings.max_upload_bytes // 1024} KiB).', slug='too-large',
                               title='Too large')
        files.append(storage.UploadedFile(name=item.filename or 'file', content_type=item.content_type or '',
                                          data=await item.read()))
    if not files:
        raise ProblemError(422, 'Attach at least one file (the form field "files").', slug='invalid',
                           title='Not valid', errors=[{'field': 'body.files', 'message': 'at least one file'}])
    body = form.get('body')
    text = body if isinstance(body, str) else ''
    try:
        schemas.clean_text(text)
    except ValueError as problem:
        raise ProblemError(422, f'body {problem}.', slug='invalid', title='Not valid',
                           errors=[{'field': 'body.body', 'message': str(problem)}]) from None
    event = await chatter.post_message(actor=caller.user, ticket_id=ticket_id, body=text,
                                       internal=_flag(form.get('internal')), files=files)
    return await _posted(caller, event.id)


@router.get('/attachments/{attachment_id}', response_class=StreamingResponse, responses={
    200: {'description': 'the file (always as a download)',
          'content': {'application/octet-stream': {'schema': {'type': 'string', 'format': 'binary'}}}}, **READ},
    tags=['messages'], summary='Download an attachment (the same check as the UI)')
async def download(caller: CurrentCaller,
                   attachment_id: Annotated[int, Path(ge=1, le=schemas.MAX_INT)]) -> StreamingResponse:
    att = await attachment_for_download(caller.user, attachment_id)
    if att is None:
        raise NotFound('Attachment not found.')
    try:  # streamed from the attachment store (local directory or object storage), after the check above
        size, chunks = await storage.open_stream(att.sha256)
    except storage.MissingFile:
        raise NotFound('The file is missing on the server.') from None
    return StreamingResponse(chunks, media_type='application/octet-stream',
                             headers={'Content-Disposition': f"attachment; filename*=UTF-8''{quote(att.filename)}",
                                      'Content-Length': str(size), 'X-Content-Type-Options': 'nosniff',
                                      'Content-Security-Policy': "default-src 'none'; sandbox",
                                      'Cache-Control': 'private, no-store'})


# --- queues, customers, organisations, choices -------------------------------------------------------------------

def _staff_only(caller: CurrentCaller, what: str) -> None:
    if not auth.is_staff(caller.user):
        raise auth.deny(caller.user, f'see {what} (API)', '', f'Only agents can see {what}.')


@router.get('/queues', response_model=list[schemas.QueueInfo], responses=READ, tags=['directory'],
            summary='Queues with their unassigned open tickets (staff only)')
async def list_queues(caller: CurrentCaller) -> list[schemas.QueueInfo]:
    _staff_only(caller, 'queues')
    return [schemas.QueueInfo(id=q.id, name=q.name, description=q.description, is_default=q.is_default,
                              is_member=q.is_member, unassigned=q.unassigned, members=q.member_names)
            for q in await queues.queue_summaries(caller.user)]


@router.get('/customers', response_model=list[schemas.CustomerRow], responses=READ, tags=['directory'],
            summary='Search customers by name, e-mail, phone or id (staff only)')
async def search_customers(caller: CurrentCaller, q: SearchText = '',
                           organisation_id: Annotated[schemas.QueryId | None, Query()] = None,
                           include_inactive: bool = False,
                           limit: Annotated[int, Query(ge=1, le=100)] = 25) -> list[schemas.CustomerRow]:
    _staff_only(caller, 'customers')
    rows = await customers.customers(caller.user, search=q, organisation_id=organisation_id,
                                     include_inactive=include_inactive, limit=limit)
    return [schemas.CustomerRow(**vars(r)) for r in rows]


@router.get('/customers/{user_id}', response_model=schemas.Person, responses=READ, tags=['directory'],
            summary='One person: card, organisation, ticket counts (staff only)')
async def get_customer(caller: CurrentCaller,
                       user_id: Annotated[int, Path(ge=1, le=schemas.MAX_INT)]) -> schemas.Person:
    _staff_only(caller, 'customers')
    p = await customers.customer_profile(caller.user, user_id, ticket_limit=0)
    if p is None:
        raise NotFound('No such person.')
    return schemas.Person(id=p.id, name=p.name, email=p.email, phone=p.phone, location=p.location,
                          department=p.department, role=p.role, is_org_admin=p.is_org_admin, is_active=p.is_active,
                          organisation=schemas.Named(id=p.organisation_id, name=p.organisation), tier=p.tier,
                          created_at=p.created_at, last_login_at=p.last_login_at, open_tickets=p.open_count,
                          total_tickets=p.total_count)


@router.get('/organisations', response_model=list[schemas.OrganisationInfo], responses=READ, tags=['directory'],
            summary='Organisations, optionally matching a name (staff only)')
async def list_organisations(caller: CurrentCaller, q: SearchText = '',
                             limit: Annotated[int, Query(ge=1, le=100)] = 100,
                             offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[schemas.OrganisationInfo]:
    _staff_only(caller, 'organisations')
    term = q.strip().lower()
    rows = [r for r in await customers.organisations(caller.user) if term in r.name.lower()]
    return [schemas.OrganisationInfo(**vars(r)) for r in rows[offset:offset + limit]]


@router.get('/organisations/{organisation_id}', response_model=schemas.OrganisationInfo, responses=READ,
            tags=['directory'], summary='One organisation (staff only)')
async def get_organisation(caller: CurrentCaller, organisation_id: Annotated[int, Path(ge=1, le=schemas.MAX_INT)]
                           ) -> schemas.OrganisationInfo:
    _staff_only(caller, 'organisations')
    for row in await customers.organisations(caller.user):
        if row.id == organisation_id:
            return schemas.OrganisationInfo(**vars(row))
    raise NotFound('No such organisation.')


@router.get('/choices', response_model=schemas.Choices, responses=READ, tags=['directory'],
            summary='Ids for new tickets and status changes: types, services, resolution codes (staff: priorities, '
                    'queues)')
async def choices(caller: CurrentCaller) -> schemas.Choices:
    def named(values: dict[int, str]) -> list[schemas.Named]:
        return [schemas.Named(id=k, name=v) for k, v in values.items()]
    staff = auth.is_staff(caller.user)
    return schemas.Choices(types=named(await catalog.ticket_types()), services=named(await catalog.services()),
                           resolution_codes=named(await catalog.resolution_codes()),
                           priorities=named(await catalog.priorities()) if staff else None,
                           queues=named(await catalog.queues()) if staff else None)
