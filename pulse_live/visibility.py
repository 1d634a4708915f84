"""What a customer may read of a ticket: one table of entry kinds and fields, read by the SQL filter of the
conversation query, by the Python check of the notification planner and by the history writer.

Staff read everything. A customer who may view the ticket (``auth.may_view_ticket``) reads the entries and
attachments its table marks ``CUSTOMER`` — never one stored as internal (an internal note, a staff-only document).
``INTERNAL`` entries are stored with ``is_internal`` set (staff see them marked as internal); ``STAFF`` entries are
for staff only but shown as ordinary history to them. A field missing from the table is ``STAFF``.
"""
from __future__ import annotations

import enum

from sqlalchemy import ColumnElement, and_, or_

from .models import Attachment, EventKind, TicketEvent


class Reader(enum.Enum):
    CUSTOMER = 'customer'  # the customer (and staff)
    STAFF = 'staff'        # staff only
    INTERNAL = 'internal'  # staff only, stored and shown as internal


# every kind of entry but field changes
KINDS: dict[str, Reader] = {
    EventKind.CREATED: Reader.CUSTOMER,
    EventKind.MESSAGE: Reader.CUSTOMER,  # a public reply; the author makes a message an internal note
    EventKind.TEAM_ADDED: Reader.INTERNAL,
    EventKind.TEAM_REMOVED: Reader.INTERNAL,
    EventKind.TEAM_WATCH: Reader.INTERNAL,
    # a logged call is the agent's record of a talk (services/calls.py): staff only, stored as internal; what the
    # customer should read afterwards is written to them as a reply
    EventKind.CALL: Reader.INTERNAL,
}
# field changes, by field: the customer reads the public side of their request; priority, impact, urgency, queue,
# assignee, technical details … are the provider's business
FIELDS: dict[str, Reader] = {
    'status': Reader.CUSTOMER,
    'title': Reader.CUSTOMER,
    'type_id': Reader.CUSTOMER,
    'service_id': Reader.CUSTOMER,
    'resolution_code_id': Reader.CUSTOMER,
    'resolution_text': Reader.CUSTOMER,
    'description': Reader.STAFF,
    'priority_id': Reader.STAFF,
    'impact': Reader.STAFF,
    'urgency': Reader.STAFF,
    'customer_id': Reader.STAFF,
    'organisation_id': Reader.STAFF,
    'affected_components': Reader.STAFF,
    'attempted_solutions': Reader.STAFF,
    'workaround': Reader.STAFF,
    'queue_id': Reader.INTERNAL,
    'assignee_id': Reader.INTERNAL,
    'technical_details': Reader.INTERNAL,
    'channel': Reader.INTERNAL,
    'configuration_items': Reader.INTERNAL,  # the provider's view of the customer's equipment
}

CUSTOMER_KINDS = frozenset(k for k, r in KINDS.items() if r is Reader.CUSTOMER)
CUSTOMER_FIELDS = frozenset(f for f, r in FIELDS.items() if r is Reader.CUSTOMER)
INTERNAL_FIELDS = frozenset(f for f, r in FIELDS.items() if r is Reader.INTERNAL)


def reader(kind: str, field: str | None) -> Reader:
    if kind == EventKind.FIELD_CHANGE:
        return FIELDS.get(field or '', Reader.STAFF)
    return KINDS.get(kind, Reader.STAFF)


def stored_internal(kind: str, field: str | None) -> bool:
    """Whether a history entry of this kind and field is stored as internal (messages: the author decides)."""
    return reader(kind, field) is Reader.INTERNAL


def customer_reads(kind: str, field: str | None, is_internal: bool) -> bool:
    """The Python check: may a customer who may view the ticket read this entry?"""
    return not is_internal and reader(kind, field) is Reader.CUSTOMER


def customer_entries() -> ColumnElement[bool]:
    """The same check as SQL, for ``ticket_events``."""
    return and_(TicketEvent.is_internal.is_(False),
                or_(TicketEvent.kind.in_([str(k) for k in CUSTOMER_KINDS]),
                    and_(TicketEvent.kind == EventKind.FIELD_CHANGE.value,
                         TicketEvent.field.in_(sorted(CUSTOMER_FIELDS)))))


def customer_attachments() -> ColumnElement[bool]:
    """Attachments a customer who may view the ticket downloads: those not stored as internal."""
    return Attachment.is_internal.is_(False)


def customer_reads_attachment(is_internal: bool) -> bool:
    return not is_internal
