"""The API's request and response bodies (pydantic). Request bodies are strict (no unknown fields, no "5" for a
number, no 1 for true); ids fit the database's 32-bit integer columns; text may not carry NUL characters or
unpaired surrogates (neither database stores them). Times are UTC."""
from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from ..models import Channel, Level, Status

MAX_INT = 2**31 - 1  # the database's INTEGER columns (PostgreSQL: 32 bits)


def clean_text(value: str) -> str:
    if '\x00' in value:
        raise ValueError('must not contain NUL characters')
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        raise ValueError('must be valid Unicode text (no unpaired surrogates)') from None
    return value


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value


Text = Annotated[str, AfterValidator(clean_text)]
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_INT)]
QueryId = Annotated[int, Field(ge=1, le=MAX_INT)]
Version = Annotated[int, Strict(), Field(ge=1, le=MAX_INT, description='the ticket version you read (stale → 409)')]
Flag = Annotated[bool, Strict()]
Utc = Annotated[datetime, BeforeValidator(_utc)]


class StatusFilter(StrEnum):
    ALL = 'all'
    ACTIVE = 'active'  # open, in progress and waiting for the customer
    OPEN = 'open'
    IN_PROGRESS = 'in_progress'
    WAITING = 'waiting'
    RESOLVED = 'resolved'
    CLOSED = 'closed'


class Sort(StrEnum):
    UPDATED = 'updated'
    NEWEST = 'newest'
    OLDEST = 'oldest'
    PRIORITY = 'priority'  # staff only


class Input(BaseModel):
    model_config = ConfigDict(extra='forbid')


class Named(BaseModel):
    id: int
    name: str


class TokenInfo(BaseModel):
    name: str
    scope: str
    prefix: str
    expires_at: Utc | None


class Me(BaseModel):
    id: int
    email: str
    name: str
    role: str
    is_staff: bool
    is_org_admin: bool
    organisation: Named
    token: TokenInfo


class TicketSummary(BaseModel):
    id: int
    reference: str
    url: str = Field(description='this ticket in the API')
    title: str
    status: Status
    type: Named
    organisation: Named
    service: Named | None
    customer: Named | None
    channel: str | None = Field(description='staff only (null for customers)')
    created_at: Utc
    updated_at: Utc
    version: int
    priority: Named | None = Field(description='staff only (null for customers)')
    queue: Named | None = Field(description='staff only (null for customers)')
    assignee: Named | None = Field(description='staff only (null for customers)')


class Ticket(TicketSummary):
    description: str
    resolved_at: Utc | None
    closed_at: Utc | None
    resolution_code: Named | None
    resolution_text: str
    impact: str | None
    urgency: str | None
    priority_reason: str | None
    affected_components: str | None
    technical_details: str | None
    attempted_solutions: str | None
    workaround: str | None


class TicketPage(BaseModel):
    items: list[TicketSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(description='the offset of the next page; null on the last page')


class TicketCreate(Input):
    title: Annotated[Text, Field(min_length=1, max_length=300)]
    description: Annotated[Text, Field(max_length=20000)] = ''
    type_id: Id | None = None
    priority_id: Id | None = Field(default=None, description='staff only; else the rules decide')
    customer_id: Id | None = Field(default=None, description='staff: for whom; customers: themselves')
    service_id: Id | None = None
    queue_id: Id | None = Field(default=None, description='staff only; else routing decides')
    assignee_id: Id | None = Field(default=None, description='staff only')
    channel: Channel | None = Field(default=None, description='staff only; default api')
    impact: Level | None = None
    urgency: Level | None = None
    affected_components: Annotated[Text, Field(max_length=5000)] = ''
    technical_details: Annotated[Text, Field(max_length=20000)] = ''
    attempted_solutions: Annotated[Text, Field(max_length=20000)] = ''
    workaround: Annotated[Text, Field(max_length=20000)] = ''


class TicketSeen(Input):
    """The values you read for the fields you change (null for an empty one)."""
    title: Text | None = None
    description: Text | None = None
    type_id: Id | None = None
    priority_id: Id | None = None
    channel: Channel | None = None
    customer_id: Id | None = None
    service_id: Id | None = None
    queue_id: Id | None = None
    assignee_id: Id | None = None
    affected_components: Text | None = None
    technical_details: Text | None = None
    attempted_solutions: Text | None = None
    workaround: Text | None = None


class TicketPatch(Input):
    """The fields to change (those left out stay as they are) and the version they were read at.

    Without ``seen``, any change to the ticket since ``version`` refuses the write (409). With ``seen`` — the value
    you read for every field you change — the rule is the app's: only a change to one of *those fields* since you
    read them refuses the write (409, naming the field and its value now); changes to other fields are kept and
    yours is applied on top of them."""
    version: Version
    seen: TicketSeen | None = Field(default=None, description='the values you read for the fields you change: '
                                                              'then only a conflicting change to those fields '
                                                              'refuses the write')
    title: Annotated[Text, Field(max_length=300)] | None = None
    description: Annotated[Text, Field(max_length=20000)] | None = None
    type_id: Id | None = None
    priority_id: Id | None = None
    channel: Channel | None = None
    customer_id: Id | None = None
    service_id: Id | None = None
    queue_id: Id | None = None
    assignee_id: Id | None = None
    affected_components: Annotated[Text, Field(max_length=5000)] | None = None
    technical_details: Annotated[Text, Field(max_length=20000)] | None = None
    attempted_solutions: Annotated[Text, Field(max_length=20000)] | None = None
    workaround: Annotated[Text, Field(max_length=20000)] | None = None


class StatusChange(Input):
    status: Status
    version: Version
    resolution_code_id: Id | None = Field(default=None, description='needed to resolve')
    resolution_text: Annotated[Text, Field(max_length=20000)] | None = Field(default=None,
                                                                               description='needed to resolve')
    reason: Annotated[Text, Field(max_length=2000)] | None = Field(default=None,
                                                                     description='needed to reopen a closed ticket')


class MessageIn(Input):
    body: Annotated[Text, Field(min_length=1, max_length=20000)]
    internal: Flag = Field(default=False, description='an internal note (staff only)')


class Attachment(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    internal: bool
    created_at: Utc
    url: str = Field(description='download it here (with the token)')


class Message(BaseModel):
    id: int
    author: Named | None = Field(description='null: the system')
    created_at: Utc
    body: str
    internal: bool
    attachments: list[Attachment]


class MessagePage(BaseModel):
    items: list[Message]
    next_after: int | None = Field(description='pass as ?after= for the next page; null when there is no more')


class QueueInfo(BaseModel):
    id: int
    name: str
    description: str
    is_default: bool
    is_member: bool = Field(description='the token user works this queue')
    unassigned: int = Field(description='open tickets nobody has taken')
    members: list[str]


class CustomerRow(BaseModel):
    id: int
    name: str
    email: str
    phone: str
    organisation: str
    department: str
    is_org_admin: bool
    is_active: bool
    open_tickets: int


class Person(BaseModel):
    id: int
    name: str
    email: str
    phone: str
    location: str
    department: str
    role: str
    is_org_admin: bool
    is_active: bool
    organisation: Named
    tier: str
    created_at: Utc
    last_login_at: Utc | None
    open_tickets: int
    total_tickets: int


class OrganisationInfo(BaseModel):
    id: int
    name: str
    tier: str
    is_provider: bool
    people: int | None = None
    open_tickets: int | None = None


class Choices(BaseModel):
    types: list[Named]
    services: list[Named]
    resolution_codes: list[Named]
    priorities: list[Named] | None = Field(description='staff only')
    queues: list[Named] | None = Field(description='staff only')
