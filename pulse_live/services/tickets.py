"""Create tickets and change their fields and status; every change is a history row in the same transaction
(written through ``ticket_write``)."""
from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, storage
from ..config import get_settings
from ..errors import StaleWrite, TooMany, ValidationError
from ..models import (
    Channel,
    EventKind,
    Organisation,
    Role,
    Status,
    TeamMember,
    Ticket,
    User,
    utcnow,
)
from ..rules.prioritisation import level_value
from . import config_cache, prioritisation, routing, sla, upload_quota
from ._uow import unit_of_work
from .chatter import add_message
from .labels import FIELD_LABELS, exists, not_offered
from .ownership import record_taken, require_may_own
from .references import next_reference
from .ticket_write import TicketWrite, ticket_write

TEXT_LIMITS = {'title': 300, 'description': 20000, 'affected_components': 5000, 'technical_details': 20000,
               'attempted_solutions': 20000, 'workaround': 20000, 'resolution_text': 20000}
EDITABLE_FIELDS = frozenset({'title', 'description', 'type_id', 'priority_id', 'channel', 'customer_id',
                             'service_id', 'queue_id', 'assignee_id', 'affected_components', 'technical_details',
                             'attempted_solutions', 'workaround'})
REFERENCE_FIELDS = frozenset({'type_id', 'priority_id', 'customer_id', 'service_id', 'queue_id', 'assignee_id'})
# of a customer's own request, set here whatever they send: the customer (themselves), the channel (portal or api)
# and the priority (the rules); every other field they may not fill in (``auth.customer_may_set``) is refused
SET_FOR_CUSTOMERS = frozenset({'customer_id', 'channel', 'priority_id'})

# who may move a ticket from one status to another: staff everywhere allowed, customers only where listed
TRANSITIONS: dict[Status, set[Status]] = {
    Status.OPEN: {Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED},
    Status.IN_PROGRESS: {Status.OPEN, Status.WAITING, Status.RESOLVED},
    Status.WAITING: {Status.IN_PROGRESS, Status.OPEN, Status.RESOLVED},  # staff set it; a customer reply clears it
    Status.RESOLVED: {Status.CLOSED, Status.IN_PROGRESS, Status.OPEN},
    Status.CLOSED: {Status.OPEN},  # staff only, with a reason (``change_status``)
}
CUSTOMER_TRANSITIONS = {(Status.RESOLVED, Status.CLOSED), (Status.RESOLVED, Status.OPEN)}
REASON_LIMIT = 2000


# control characters and the bidirectional embeddings, overrides and isolates: a title "\u202eHACKED … gpj.exe"
# reads backwards in every list and mail subject (the marks U+200E/U+200F that right-to-left text uses stay)
_NOT_IN_A_TITLE = dict.fromkeys([*range(0x20), 0x7f, *range(0x80, 0xa0), *range(0x202a, 0x202f),
                                 *range(0x2066, 0x206a)])


def _clean_text(field: str, value: Any) -> str:
    if value is None:
        value = ''
    if not isinstance(value, str):
        raise ValidationError(f'{FIELD_LABELS.get(field, field)} must be text.')
    value = value.replace('\r\n', '\n').replace('\0', '').strip()  # NUL: PostgreSQL stores none, the API refuses it
    if field == 'title':  # one line wherever it is shown (lists, mail subjects): line breaks and runs of blanks fold
        value = ' '.join(value.split()).translate(_NOT_IN_A_TITLE)
    limit = TEXT_LIMITS.get(field, 5000)
    if len(value) > limit:
        raise ValidationError(f'{FIELD_LABELS.get(field, field)} is too long '
                              f'({len(value)} characters; at most {limit}).')
    return value


async def _validate_value(session: AsyncSession, field: str, value: Any, *, current: Any = None) -> Any:
    """The value to store, or ``ValidationError``. ``current``: the ticket's value now; a choice retired since it
    was given (a type, a service …) may stay, a new one must be on offer (``labels.not_offered``)."""
    if field in REFERENCE_FIELDS:
        if value in (None, ''):
            if field in ('type_id', 'priority_id'):
                raise ValidationError(f'{FIELD_LABELS[field]} is required.')
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ValidationError(f'{FIELD_LABELS[field]}: {value!r} is not a valid choice.') from None
        if not await exists(session, field, value):
            raise ValidationError(f'{FIELD_LABELS[field]}: no such choice (#{value}).')
        if value != current:
            refusal = await not_offered(session, field, value)
            if refusal:
                raise ValidationError(refusal)
        if field == 'assignee_id':
            assignee = await session.get(User, value)
            if assignee is None or not auth.is_staff(assignee) or not assignee.is_active:
                raise ValidationError('Assignee must be an active agent.')
        return value
    if field == 'channel':
        try:
            return Channel(value).value
        except ValueError:
            raise ValidationError(f'Channel: {value!r} is not a known channel.') from None
    value = _clean_text(field, value)
    if field == 'title' and not value:
        raise ValidationError('Title is required.')
    return value


async def provider_organisation_id(session: AsyncSession) -> int | None:
    return (await session.execute(select(Organisation.id).where(Organisation.is_provider.is_(True))
                                  .order_by(Organisation.id).limit(1))).scalar_one_or_none()


def _refuse_help_desk_fields(actor: User, asked: dict[str, Any]) -> None:
    """A customer opening a request gives values only to the fields a customer fills in (``auth.customer_may_set``:
    a list of what is allowed, so a field added later is the help desk's until said otherwise) and to those set for
    them here (``SET_FOR_CUSTOMERS``); the request is for themselves. Anything else: ``PermissionDenied`` (403)."""
    given = [f for f, v in asked.items() if (v.strip() if isinstance(v, str) else v) not in (None, '')]
    refused = [f for f in given if not auth.customer_may_set(f, opening=True) and f not in SET_FOR_CUSTOMERS]
    for_another = asked.get('customer_id') not in (None, '', actor.id)
    if not refused and not for_another:
        return
    parts = ['Customers open requests for themselves only.'] if for_another else []
    if refused:
        names = ', '.join(FIELD_LABELS.get(f, f) for f in sorted(refused))
        parts.append(f'{names} {"is" if len(refused) == 1 else "are"} filled in by the help desk, not in a request; '
                     f'leave {"it" if len(refused) == 1 else "them"} out (put what you know in the description).')
    action = 'open a ticket' + (f' with help-desk fields {", ".join(sorted(refused))}' if refused else '') + \
        ' for customer'
    raise auth.deny(actor, action, asked.get('customer_id') or actor.id, ' '.join(parts))


async def create_ticket(*, actor: User, title: str, description: str = '', type_id: int | None = None,
                        priority_id: int | None = None, customer_id: int | None = None, service_id: int | None = None,
                        queue_id: int | None = None, assignee_id: int | None = None, channel: str | None = None,
                        affected_components: str = '', technical_details: str = '', attempted_solutions: str = '',
                        workaround: str = '', files: list[storage.UploadedFile] | None = None,
                        impact: str | None = None, urgency: str | None = None) -> Ticket:
    """Open a new ticket. Customers open tickets for themselves (channel portal or api); agents for any customer.
    ``files`` become attachments of a first message by the creator, in the same transaction. ``impact`` and
    ``urgency`` (high / medium / low; customers answer "who is affected", "how urgent") feed prioritisation."""
    files = files or []
    storage.check_limits(files)
    if actor.role == Role.CUSTOMER:  # before anything is written: a flood from one account reaches every agent
        # refused before the rate limit and before its files are stored (a refusal used up the budget and left its
        # files in storage)
        _refuse_help_desk_fields(actor, {
            'title': title, 'description': description, 'type_id': type_id, 'priority_id': priority_id,
            'customer_id': customer_id, 'service_id': service_id, 'queue_id': queue_id, 'assignee_id': assignee_id,
            'channel': channel, 'affected_components': affected_components, 'technical_details': technical_details,
            'attempted_solutions': attempted_solutions, 'workaround': workaround, 'impact': impact,
            'urgency': urgency})
        from ..rate_limit import get_limiter
        rate = get_settings().customer_requests_per_minute
        wait = await get_limiter().take(f'customer-requests:{actor.id}', rate)
        if wait > 0:
            raise TooMany(f'You opened {rate} requests within a minute; please wait {math.ceil(wait)} s before the '
                          'next one (or add to one of them).', retry_after_s=math.ceil(wait))
    async with upload_quota.held(actor, files):  # a customer's files: a day's bound
        stored = [(f, await storage.store(f.data)) for f in files]
        async with unit_of_work() as uow:
            s = uow.session
            await upload_quota.recheck(s, actor, files)  # other processes' sends of this customer
            if actor.role == Role.CUSTOMER:
                customer_id = actor.id  # a customer's own request: from the portal or through the API, nothing else
                channel = channel if channel in (Channel.PORTAL.value, Channel.API.value) else Channel.PORTAL.value
                priority_id = None  # customers tell urgency; agents and rules set the priority
            values: dict[str, Any] = {
                'title': title, 'description': description, 'affected_components': affected_components,
                'technical_details': technical_details, 'attempted_solutions': attempted_solutions,
                'workaround': workaround, 'customer_id': customer_id, 'service_id': service_id, 'queue_id': queue_id,
                'assignee_id': assignee_id, 'channel': channel or Channel.AGENT.value,
                'type_id': type_id, 'priority_id': priority_id,
            }
            config = await config_cache.current(s)  # one read of the configuration's version (services/config_cache)
            defaults = {}  # from the active catalog: no second look-up needed
            if not type_id:
                if config.default_type_id is None:
                    raise ValidationError('No ticket type is configured.')
                defaults['type_id'] = config.default_type_id
            if not priority_id:
                if config.default_priority_id is None:
                    raise ValidationError('No priority scale is configured; run `pulse-live migrate` / seed the '
                                          'catalog.')
                defaults['priority_id'] = config.default_priority_id
            known = {'type_id': config.type_ids, 'priority_id': config.priority_ids, 'queue_id': config.queue_ids}
            for field in list(values):
                if field in defaults:
                    values[field] = defaults[field]
                elif field in known and isinstance(values[field], int) and not isinstance(values[field], bool) \
                        and values[field] in known[field]:
                    pass  # an existing type, priority or queue (the configuration just read)
                else:
                    values[field] = await _validate_value(s, field, values[field])
            for field, level in (('impact', impact), ('urgency', urgency)):
                if level is not None:
                    values[field] = level_value(level, FIELD_LABELS[field])
            customer = await s.get(User, values['customer_id']) if values['customer_id'] else None
            provider_id = config.provider_organisation_id
            organisation_id = customer.organisation_id if customer else (provider_id or actor.organisation_id)

            now = utcnow()
            reference = await next_reference(s, prefix=get_settings().ticket_prefix, year=now.year)
            ticket = Ticket(reference=reference, organisation_id=organisation_id, creator_id=actor.id,
                            status=Status.OPEN.value, created_at=now, updated_at=now, version=1, **values)
            s.add(ticket)
            await s.flush()
            w = TicketWrite(uow, actor, ticket, kind='created')
            opened = w.add(EventKind.CREATED, f'{actor.display_name} opened the ticket via '
                                              f'{Channel(values["channel"]).label}.', created_at=now)
            s.add(TeamMember(ticket_id=ticket.id, user_id=actor.id, added_how='creator', added_by_id=actor.id))
            if customer is not None and customer.id != actor.id:
                s.add(TeamMember(ticket_id=ticket.id, user_id=customer.id, added_how='customer', added_by_id=actor.id))
            if provider_id is not None:
                s.add(TeamMember(ticket_id=ticket.id, organisation_id=provider_id, added_how='support_group',
                                 added_by_id=actor.id))
            # routing and prioritisation: the reasons go into the data of the opening row. They read the catalog and the
            # rules, not these rows: no flush in between, so the opening row is inserted with its data and the ticket's
            # queue, priority and clock are one UPDATE
            with s.no_autoflush:
                info = await routing.on_create(s, ticket, explicit_queue=queue_id is not None)
                info['priority_reason'] = await prioritisation.on_create(s, actor, ticket,
                                                                         explicit_priority=priority_id is not None)
                await sla.on_create(s, ticket)  # the clock: policy and due times (staff only; not in the opening row)
                opened.data = info
            if stored:
                await add_message(w, body='', internal=False, stored=stored, now=now)
            await w.publish()
    return ticket


class _Interleaved(Exception):
    """Another change landed between reading the ticket and writing it (``update_ticket`` reads again)."""


def _shown(field: str, value: Any) -> Any:
    """A field's value as an editor shows it, for comparing what the editor saw with what is stored."""
    if field in REFERENCE_FIELDS:
        try:
            return None if value in (None, '') else int(value)
        except (TypeError, ValueError):
            return value
    return value if field == 'channel' else ('' if value is None else str(value).replace('\r\n', '\n').strip())


async def update_ticket(*, actor: User, ticket_id: int, expected_version: int, changes: dict[str, Any],
                        seen: dict[str, Any] | None = None) -> Ticket:
    """Change detail fields (not status: see ``change_status``). Unchanged values are ignored.

    ``seen`` holds, for every changed field, the value the user's editor showed. With it, the save is refused
    (``StaleWrite``) only if one of *those fields* changed meanwhile; changes to other fields since
    ``expected_version`` are merged (written with a compare-and-set on the changed fields, read again if another
    change landed in between). Without it, any change since ``expected_version`` refuses the save.

    An agent setting the Assignee to themselves is held to the Take rule (``ownership.require_may_own``); setting
    it to another agent is open to all staff, as in ``ownership.assign_ticket``."""
    if not changes:
        raise ValidationError('Nothing to change.')
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError(f'These fields cannot be changed here: {", ".join(sorted(unknown))}.')
    if seen is not None and not set(changes) <= set(seen):
        raise ValidationError('seen must hold the value shown for every changed field.')
    for _attempt in range(5):
        try:
            return await _update_once(actor, ticket_id, expected_version, changes, seen)
        except _Interleaved:
            continue  # who may see it, its status or a changed field moved between our read and write: read again
    raise StaleWrite('The ticket is changing too fast right now; your change was not saved. Please try again.')


async def _update_once(actor: User, ticket_id: int, expected_version: int, changes: dict[str, Any],
                       seen: dict[str, Any] | None) -> Ticket:
    async with ticket_write(actor, ticket_id, expected_version=None if seen is not None else expected_version) as w:
        s, ticket = w.session, w.ticket
        values: dict[str, Any] = {}
        for field, raw in changes.items():
            if not auth.can_edit_field(actor, ticket, field):
                raise auth.deny(actor, f'change {field} of', ticket.reference,
                                f'You may not change {FIELD_LABELS.get(field, field)}.')
            value = await _validate_value(s, field, raw, current=getattr(ticket, field))
            if value != getattr(ticket, field):
                values[field] = value
        if not values:
            return ticket
        for field in values:
            if seen is not None and _shown(field, seen[field]) != _shown(field, getattr(ticket, field)):
                raise StaleWrite(f'{FIELD_LABELS.get(field, field)} of {ticket.reference} was changed by someone '
                                 'else meanwhile. Your change was not saved; the current value is shown now.',
                                 ticket.version)
        if values.get('assignee_id') is not None and values['assignee_id'] == actor.id:
            # the Assignee field follows the Take rule: an agent makes themselves the owner only on their queues
            # (the queue the ticket is in after this change); assigning somebody else is open to all staff
            await require_may_own(s, actor, ticket.reference, values.get('queue_id', ticket.queue_id))
        if 'customer_id' in values:  # the ticket belongs to the customer's organisation: who may see it follows
            customer = await s.get(User, values['customer_id']) if values['customer_id'] else None
            organisation_id = customer.organisation_id if customer else (await provider_organisation_id(s)
                                                                          or ticket.organisation_id)
            if organisation_id != ticket.organisation_id:
                values['organisation_id'] = organisation_id
        old = {field: getattr(ticket, field) for field in values}
        if seen is None:
            await w.update(values, expected_version=expected_version)
        else:
            # written only if the changed fields, the status, who may see the ticket and (for the Take rule) its
            # queue are still as read here; other fields may have changed (safe merge)
            kept = ('status', 'customer_id', 'organisation_id') + (('queue_id',) if 'assignee_id' in values else ())
            guard = {**{f: old[f] for f in changes if f in values}, **{f: getattr(ticket, f) for f in kept}}
            if not await w.update(values, unchanged=guard):
                raise _Interleaved
        for field, value in values.items():
            await w.record_change(field, old[field], value)
        automatic = await prioritisation.on_update(w, values)
        await sla.on_inputs_changed(w, set(values) | ({'priority_id'} if automatic is not None else set()))
        w.fields.extend(values)
    return ticket


async def change_status(*, actor: User, ticket_id: int, expected_version: int, status: str,
                        resolution_code_id: int | None = None, resolution_text: str | None = None,
                        reason: str | None = None) -> Ticket:
    """Move a ticket along the workflow Open → In Progress → Resolved → Closed (with reopen).

    - Staff starting work (→ In progress) on an unassigned ticket become its assignee, under the Take rule
      (``ownership.require_may_own``), unless ``PULSE_START_WORK_ASSIGNS`` is off.
    - Staff may reopen a *closed* ticket (→ Open) with a ``reason``, which goes into the status history row
      (customers read it in the portal: the status is theirs to know). Customers reopen only resolved requests,
      within ``PULSE_REOPEN_DAYS``.
    """
    try:
        new_status = Status(status)
    except ValueError:
        raise ValidationError(f'{status!r} is not a status.') from None
    if reason is not None and not isinstance(reason, str):
        raise ValidationError('The reason must be text.')
    reason_text = (reason or '').replace('\r\n', '\n').strip()
    if len(reason_text) > REASON_LIMIT:
        raise ValidationError(f'The reason is too long ({len(reason_text)} characters; at most {REASON_LIMIT}).')
    async with ticket_write(actor, ticket_id, expected_version=expected_version, closed=None) as w:
        s, ticket = w.session, w.ticket
        old_status = Status(ticket.status)
        if new_status == old_status:
            return ticket
        if new_status not in TRANSITIONS[old_status]:
            raise ValidationError(f'A ticket cannot go from {old_status.label} to {new_status.label}.')
        if not auth.is_staff(actor) and (old_status, new_status) not in CUSTOMER_TRANSITIONS:
            raise auth.deny(actor, f'move to {new_status.value}', ticket.reference,
                            f'You may not move this ticket from {old_status.label} to {new_status.label}.')
        if not auth.is_staff(actor) and new_status == Status.OPEN and not auth.customer_may_reopen(ticket):
            raise auth.deny(actor, 'reopen (too late)', ticket.reference,
                            f'{ticket.reference} was resolved more than {get_settings().reopen_days:g} days '
                            f'ago and can no longer be reopened. Please open a new request and mention '
                            f'{ticket.reference} in it.')
        if old_status == Status.CLOSED and not reason_text:
            raise ValidationError(f'Reopening the closed ticket {ticket.reference} needs a reason '
                                  '(it goes into the history).')
        now = utcnow()
        values: dict[str, Any] = {'status': new_status.value}
        takes = (new_status == Status.IN_PROGRESS and ticket.assignee_id is None and auth.is_staff(actor)
                 and get_settings().start_work_assigns)
        if takes:
            await require_may_own(s, actor, ticket.reference, ticket.queue_id, taking=True)
            values['assignee_id'] = actor.id
        if new_status == Status.RESOLVED:
            text = _clean_text('resolution_text', resolution_text)
            if not resolution_code_id or not text:
                raise ValidationError('Resolving needs a resolution code and a resolution description.')
            values['resolution_code_id'] = await _validate_resolution_code(s, resolution_code_id)
            values['resolution_text'] = text
            values['resolved_at'] = now
        elif new_status == Status.CLOSED:
            values['closed_at'] = now
        elif old_status in (Status.RESOLVED, Status.CLOSED):  # reopened
            values['resolved_at'] = None
            if old_status == Status.CLOSED:
                values['closed_at'] = None
        old = {field: getattr(ticket, field) for field in values}
        await w.update(values, expected_version=expected_version)
        for field in ('status', 'resolution_code_id', 'resolution_text'):
            if field in values and old[field] != values[field]:
                await w.record_change(field, old[field], values[field])
        if reason_text:  # the status row says why
            what = 'reopened the ticket' if new_status == Status.OPEN else 'changed Status'
            status_row = w.entries[0]
            status_row.body = f'{actor.display_name} {what} ({old_status.label} → {new_status.label}): {reason_text}'
            status_row.data = {**(status_row.data or {}), 'reason': reason_text}
        await sla.on_status(w, old_status, new_status, now=now)
        if takes:
            record_taken(w, f'{actor.display_name} took the ticket (started work)')
        w.fields.extend(f for f in values if f.endswith(('status', '_id', 'text')))
    return ticket


async def _validate_resolution_code(session: AsyncSession, code_id: Any) -> int:
    try:
        code_id = int(code_id)
    except (TypeError, ValueError):
        raise ValidationError('Resolution code: not a valid choice.') from None
    if not await exists(session, 'resolution_code_id', code_id):
        raise ValidationError('Resolution code: no such choice.')
    refusal = await not_offered(session, 'resolution_code_id', code_id)
    if refusal:
        raise ValidationError(refusal)
    return code_id
