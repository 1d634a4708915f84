"""Log a telephone call on a ticket: a chatter entry of its own kind (``EventKind.CALL``), so every contact is in the
ticket's history, not only what came in through a form, a mail or the API.

A call has a direction (the customer called us, or we called them), a duration, who was on the line (by default the
ticket's customer; a name or number typed in when it was someone else) and a note (markdown). It is written like
every ticket change (``ticket_write``: the acting user may see the ticket, a closed ticket is refused, the history
row, ``TicketChanged`` after the commit, so it appears live on every open page and the planner tells whom it tells).

Who reads it: staff only. ``visibility.py`` marks the kind ``INTERNAL``, so the row is stored with ``is_internal``
and the customer's portal, their mails and the API never show it — a call log is the agent's record of a talk
(who rang, how long, what was said as the agent understood it), not a message to the customer; what the customer
should read afterwards is written to them as a reply.

The row: ``body`` is one readable line ("Ann Agent logged an inbound call with Carl Jensen, 12:30"), used as it is
by the bell, the staff's mail digest and any plain list of the history; ``data`` holds the facts the chatter shows
(``direction``, ``seconds``, ``caller``, ``caller_id``, ``note``). No schema change (migration 0008d is empty).
"""
from __future__ import annotations

import enum
import re
from typing import Any

from .. import auth
from ..errors import ValidationError
from ..models import EventKind, Ticket, TicketEvent, User, utcnow
from .chatter import MAX_MESSAGE
from .ticket_write import ticket_write

MAX_SECONDS = 24 * 3600  # a call shorter than a day: anything longer is a typing slip
CALLER_LIMIT = 200
DURATION_RE = re.compile(r'^(\d{1,5})(?::([0-5]?\d))?$')  # minutes, or minutes:seconds


class CallDirection(enum.StrEnum):
    INBOUND = 'inbound'    # the caller rang us
    OUTBOUND = 'outbound'  # we rang them

    @property
    def label(self) -> str:
        return 'Inbound call' if self is CallDirection.INBOUND else 'Outbound call'


def parse_duration(value: str | int) -> int:
    """A call's length in seconds, from what an agent types: ``'12'`` (minutes) or ``'12:30'`` (minutes:seconds);
    a whole number is taken as seconds (callers of the service). ``ValidationError`` unless it is more than nothing
    and less than 24 hours."""
    if isinstance(value, bool):
        raise ValidationError('Duration: enter minutes (12) or minutes:seconds (12:30).')
    if isinstance(value, int):
        seconds = value
    else:
        text = (value or '').strip()
        match = DURATION_RE.match(text)
        if not text:
            raise ValidationError('Duration: how long was the call? Enter minutes (12) or minutes:seconds (12:30).')
        if match is None:
            raise ValidationError(f'Duration: {text[:20]!r} is not a duration; enter minutes (12) or '
                                  f'minutes:seconds (12:30).')
        seconds = int(match[1]) * 60 + int(match[2] or 0)
    if seconds <= 0:
        raise ValidationError('Duration: a call lasts more than 0 seconds.')
    if seconds >= MAX_SECONDS:
        raise ValidationError('Duration: a call lasts less than 24 hours (1440 minutes).')
    return seconds


def duration_text(seconds: int) -> str:
    """``12:30`` (minutes:seconds), ``1:05:00`` from an hour on."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


def _direction(value: Any) -> CallDirection:
    try:
        return CallDirection(value)
    except ValueError:
        raise ValidationError(f'Direction: {str(value)[:20]!r} is neither inbound nor outbound.') from None


def _caller_text(value: str | None) -> str:
    text = ' '.join((value or '').split())  # one line: no line breaks in a name or number
    if len(text) > CALLER_LIMIT:
        raise ValidationError(f'Caller: at most {CALLER_LIMIT} characters.')
    return text


async def log_call(*, actor: User, ticket_id: int, direction: str, duration: str | int, caller: str = '',
                   note: str = '') -> TicketEvent:
    """Log a call on a ticket (staff only). ``caller`` empty: the ticket's customer; else a free-text name or
    number. ``note`` is markdown (may be empty)."""
    if not auth.is_staff(actor):
        raise auth.deny(actor, 'log a call on ticket', ticket_id, 'Only staff log calls.')
    kind, seconds, typed = _direction(direction), parse_duration(duration), _caller_text(caller)
    note = (note or '').replace('\r\n', '\n').strip()
    if len(note) > MAX_MESSAGE:
        raise ValidationError(f'The note is too long ({len(note)} characters; at most {MAX_MESSAGE}).')

    def closed(ticket: Ticket) -> str:
        return f'{ticket.reference} is closed: reopen it to log a call on it, or log the call on a new ticket.'

    async with ticket_write(actor, ticket_id, action='log a call on', kind='message', closed=closed) as w:
        customer = None if typed else w.ticket.customer_id
        if customer is not None:
            found = await w.session.get(User, customer)
            name = found.display_name if found is not None else ''
        else:
            name = typed
        with_whom = f' with {name}' if name else ''
        body = f'{actor.display_name} logged an {kind.value} call{with_whom}, {duration_text(seconds)}'
        now = utcnow()
        event = w.add(EventKind.CALL, body, created_at=now,
                      data={'direction': kind.value, 'seconds': seconds, 'caller': name, 'caller_id': customer,
                            'note': note})
        await w.touch(updated_at=now)
    return event
