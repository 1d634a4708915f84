"""E-mail in: one mail from a mailbox → a new ticket, a reply on its ticket, or a record of why not.

Two halves:

- ``parse_mail(raw)`` is pure (no database, no I/O; run it with ``asyncio.to_thread``, big mails take a while): the
  stdlib ``email`` parser (``policy.default``: charsets such as ISO-8859-1 and encoded-word subjects are decoded),
  the body as safe text (HTML through ``html2text``; our markdown renderer has raw HTML off, so nothing of the HTML
  ever runs), quoted history and signatures trimmed with ``mail-parser-reply``, the attachments and inline images,
  the threading headers, and the loop signals (Auto-Submitted, Precedence, Return-Path <>, X-Autoreply, our own
  Message-ID domain).
- ``import_mail(…)`` decides and writes, through the ticket services only (``tickets.create_ticket``,
  ``chatter.post_message``, ``tickets.change_status``, ``customers.save_customer``, ``team.add_member``), so an
  imported mail is live in every browser and notifies like the UI.

Exactly once. Every mail seen is one ``ImportedMail`` row keyed by (mailbox, UIDVALIDITY, UID). The ticket services
each open their own unit of work; the intake does not open a second one around them. Instead it hands the service's
unit of work a hook (``_uow.join_next_unit``) that writes the ``ImportedMail`` row (and the staff-only original
``.eml`` attachment) inside the service's transaction, just before its commit: the ticket change and the record of
the mail commit together or not at all. A crash before the commit leaves neither, and the mail is imported again
after a restart; a second process importing the same UID hits the unique constraint and its change rolls back.
Mails that change nothing (loops, duplicates, floods) and failures are recorded in a unit of work of their own.

Who the sender is decides what they may do: a reply attaches to a ticket only when the sender's account may see
that ticket (``auth.may_view_ticket``, the same rule as the portal), or when the sender was on Cc of a mail of that
ticket's thread and answers by In-Reply-To/References (the customer's Cc is the consent): then they join its team as
a contact first — a new customer of the ticket's organisation without an account, their own account with one (a
deactivated one is never re-enabled; one the team cannot take is the mail kept as an internal note by the intake) —
never a new ticket. Otherwise — a forged In-Reply-To, a reference typed into a subject, an unknown or BCC'd address —
the mail opens a new ticket of its own and never touches the other ticket or its customer. Staff accounts are staff.
New tickets are opened by the intake's own account ("E-mail intake", an inactive agent that cannot log in and is
never notified) on behalf of the customer, because customers cannot choose the channel or the queue; replies are
posted by the customer's own account.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from .. import auth, db, mail_trim, storage
from ..config import get_settings
from ..errors import NotFound, ServiceError, ValidationError
from ..events import TicketChanged
from ..models import (
    Attachment,
    Channel,
    EventKind,
    FailedImport,
    ImportedMail,
    Mailbox,
    MailOutbox,
    OrganisationMailDomain,
    Role,
    Status,
    TeamMember,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from ._uow import UnitOfWork, in_batch, join_next_unit, reading, unit_of_work

log = logging.getLogger('pulse_live.intake.mail')

OWN_MESSAGE_ID_DOMAIN = 'pulse-live'  # notify/planner.new_message_id and compose.ticket_thread_id
INTAKE_EMAIL = 'mail-intake@pulse-live.invalid'
THREAD_ID_RE = re.compile(r'<ticket-(\d+)@pulse-live>')
MSGID_RE = re.compile(r'<[^<>\s]+>')
DESCRIPTION_LIMIT = 19000
TITLE_LIMIT = 300
LOOP_PRECEDENCE = {'bulk', 'junk', 'list', 'auto_reply'}


# --- the pure half --------------------------------------------------------------------------------------------------

@dataclass
class ParsedMail:
    message_id: str
    sender: str                     # the From address, lower case ('' when there is none)
    sender_name: str
    subject: str
    to: list[str]
    cc: list[str]
    thread_ids: list[str]           # In-Reply-To then References, newest first
    body: str                       # the new text, quoted history and signature trimmed
    full_body: str                  # the whole text
    attachments: list[storage.UploadedFile]
    dedupe_key: str
    loop_reason: str = ''
    size: int = 0
    notes: list[str] = field(default_factory=list)
    unverified: str = ''            # why the From address is not to be believed (the receiving server's DMARC fail)
    untrimmed: bool = False         # body is the whole text still: too big to trim here (``prepare`` trims it)


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError):  # a header the parser cannot read is a header we ignore
        return ''
    return str(value or '').strip()


def _addresses(message: EmailMessage, name: str) -> list[str]:
    values = message.get_all(name) or []
    try:
        pairs = getaddresses([str(v) for v in values])
    except (ValueError, TypeError, IndexError):
        return []
    return [addr.strip().lower() for _, addr in pairs if '@' in addr]


def loop_reason(message: EmailMessage, *, own_domain: str = OWN_MESSAGE_ID_DOMAIN, own_address: str = '') -> str:
    """Why this mail must never be answered or become a ticket ('' when it is a person's mail): RFC 3834
    Auto-Submitted, Precedence bulk/junk/list, an empty Return-Path (bounces), the common auto-reply headers, a mail
    with our own Message-ID or From address (our own mail coming back)."""
    auto = _header(message, 'Auto-Submitted').lower()
    if auto and auto.split(';')[0].strip() != 'no':
        return f'Auto-Submitted: {auto[:60]}'
    precedence = _header(message, 'Precedence').lower()
    if precedence in LOOP_PRECEDENCE:
        return f'Precedence: {precedence}'
    if message.get('Return-Path') is not None and _header(message, 'Return-Path').replace(' ', '') in ('<>', ''):
        return 'Return-Path <> (a bounce)'
    for name in ('X-Autoreply', 'X-Autorespond', 'X-Auto-Response-Suppress'):
        value = _header(message, name).lower()
        if value and (name != 'X-Auto-Response-Suppress' or 'all' in value or 'oof' in value):
            return f'{name}: {value[:60]}'
    if _header(message, 'X-Pulse-Ticket'):
        return 'our own notification mail'
    message_id = _header(message, 'Message-ID')
    if message_id.lower().endswith(f'@{own_domain}>'):
        return 'our own Message-ID'
    sender = parseaddr(_header(message, 'From'))[1].lower()
    if own_address and sender == own_address.lower():
        return 'our own From address'
    return ''


def html_to_text(html: str) -> str:
    """HTML mail as markdown text: tags become markdown, scripts and styles vanish; whatever is left is text (the
    renderer escapes raw HTML)."""
    import html2text
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.protect_links = True
    converter.unicode_snob = True
    # html2text drops what script, style and head hold, in one pass (a regex removing them first took time growing
    # with the square of the size for a body of unclosed <script> tags: 160 KB stopped the process for 17 s)
    return converter.handle(html).strip()


trim_reply = mail_trim.trim_reply  # what the intake trims with (pulse_live/mail_trim.py)


def dedupe_key(message: EmailMessage, message_id: str) -> str:
    """sha256 of the Message-ID; without one, of the headers that make a mail this mail (From, To, Cc, Date,
    Subject) — the same mail delivered twice has the same key."""
    if message_id:
        basis = 'id:' + message_id
    else:
        basis = 'headers:' + '\n'.join(_header(message, h) for h in ('From', 'To', 'Cc', 'Date', 'Subject'))
    return hashlib.sha256(basis.encode('utf-8', 'replace')).hexdigest()


def _text_of(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown or broken charset: decode leniently
        payload = part.get_payload(decode=True) or b''
        content = payload.decode('latin-1') if isinstance(payload, bytes) else str(payload)
    return content if isinstance(content, str) else content.decode('utf-8', 'replace')


# Bounds on what a mail's text costs before anything reads it (a stranger sends it; each was an attack):
# - a header's raw value: Python's header parser (``policy.default``) needs memory growing with the square of the
#   number of encoded words — a Subject of 8,000 ``=?utf-8?b?…?=`` words (584 KB) took the server from 266 MB to
#   2.5 GB; 16,000 characters (~220 encoded words) stay under a few MB;
# - nesting of quotes and lists in an HTML body: html2text writes the prefix of every level on every line — 25,000
#   nested ``<blockquote>`` (325 KB) became 625 M characters (2.5 GB, 7 s); deeper levels than MAX_HTML_NESTING are
#   flattened (their text is kept);
# - the body's text: at most MAX_BODY_CHARS (a ticket keeps DESCRIPTION_LIMIT; the whole mail is kept as a file).
MAX_HEADER_CHARS = 16_000
MAX_HTML_NESTING = 20
MAX_BODY_CHARS = 200_000
_NESTING_TAG = re.compile(r'<(/?)\s*(blockquote|ul|ol|dl)\b[^>]*>', re.IGNORECASE)


def bound_headers(message: EmailMessage) -> int:
    """Cut every header value of the mail and of its parts longer than MAX_HEADER_CHARS (at a space, so the encoded
    words kept stay whole), before any is parsed; the number cut."""
    cut = 0
    for part in message.walk():
        headers = getattr(part, '_headers', None)  # the raw values, parsed only when read (email.message)
        if not isinstance(headers, list):
            continue
        for i, (name, value) in enumerate(headers):
            if isinstance(value, str) and len(value) > MAX_HEADER_CHARS:
                kept = value[:MAX_HEADER_CHARS]
                space = kept.rfind(' ')
                headers[i] = (name, kept[:space] if space > MAX_HEADER_CHARS // 2 else kept)
                cut += 1
    return cut


def flatten_deep_nesting(html: str, limit: int = MAX_HTML_NESTING) -> str:
    """``html`` with quote and list tags nested deeper than ``limit`` removed (their text stays): one linear pass."""
    depth: dict[str, int] = {}

    def keep_or_drop(m: re.Match) -> str:
        tag = m.group(2).lower()
        level = depth.get(tag, 0)
        if m.group(1):  # a closing tag
            depth[tag] = max(0, level - 1)
            return m.group(0) if level <= limit else ''
        depth[tag] = level + 1
        return m.group(0) if level < limit else ''
    return _NESTING_TAG.sub(keep_or_drop, html)


def parse_mail(raw: bytes, *, own_address: str = '') -> ParsedMail:
    """Parse a raw mail (pure: call it in a thread)."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    headers_cut = bound_headers(message)
    message_id_match = MSGID_RE.search(_header(message, 'Message-ID'))
    message_id = message_id_match.group(0) if message_id_match else ''
    name, sender = parseaddr(_header(message, 'From'))
    subject = re.sub(r'\s+', ' ', _header(message, 'Subject')).strip()
    thread_ids = MSGID_RE.findall(_header(message, 'In-Reply-To'))
    thread_ids += list(reversed(MSGID_RE.findall(_header(message, 'References'))))
    notes: list[str] = []
    body_part = message.get_body(preferencelist=('plain', 'html'))
    full = ''
    if body_part is not None:
        text = _text_of(body_part)  # type: ignore[arg-type]
        if body_part.get_content_subtype() == 'html':
            text = html_to_text(flatten_deep_nesting(text))
            notes.append('converted from HTML')
        full = text.replace('\r\n', '\n').strip()
        if len(full) > MAX_BODY_CHARS:
            full = full[:MAX_BODY_CHARS].rstrip()
            notes.append(f'text cut at {MAX_BODY_CHARS:,} characters')
    if headers_cut:
        notes.append(f'{headers_cut} over-long header(s) cut at {MAX_HEADER_CHARS:,} characters')
    # at once when that is cheap; else ``prepare`` trims it in the worker process (pulse_live/mail_trim.py: the
    # trimmer's regular expressions take time growing with the square of a hostile line and hold the interpreter)
    trimmed = mail_trim.trim_inline(full) if full else ''
    attachments: list[storage.UploadedFile] = []
    for part in message.walk():
        if part is body_part or part.is_multipart():
            continue
        if part.get_content_maintype() == 'text' and not part.get_filename() \
                and part.get_content_disposition() != 'attachment':
            continue  # the other alternative of the body (e.g. the HTML of a plain mail)
        payload = part.as_bytes() if part.get_content_type() == 'message/rfc822' else part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b''
        if not data:
            continue
        filename = part.get_filename() or ('inline-image' if part.get_content_maintype() == 'image' else 'attachment')
        attachments.append(storage.UploadedFile(name=filename, content_type=part.get_content_type(), data=data))
    return ParsedMail(
        message_id=message_id[:500], sender=sender.strip().lower() if '@' in sender else '',
        sender_name=name.strip()[:200], subject=subject[:400], to=_addresses(message, 'To'),
        cc=_addresses(message, 'Cc'), thread_ids=thread_ids, body=trimmed if trimmed is not None else full,
        untrimmed=trimmed is None,
        full_body=full, attachments=attachments, dedupe_key=dedupe_key(message, message_id),
        loop_reason=loop_reason(message, own_address=own_address), size=len(raw), notes=notes,
        unverified=unverified_sender(message))


def _ar_results(value: str) -> tuple[str, list[tuple[str, str]]]:
    """An Authentication-Results value (RFC 8601) as (authserv-id, [(method, result), …]): comments ``( … )`` and
    quoted strings (where a sender's chosen address appears, e.g. ``smtp.mailfrom="x;dmarc=pass"@…``) are dropped
    before the value is split at its semicolons."""
    plain, depth, quoted, escaped = [], 0, False, False
    for ch in value:
        if escaped:
            escaped = False
            continue
        if ch == '\\' and (quoted or depth):
            escaped = True
            continue
        if quoted:
            quoted = ch != '"'
            continue
        if ch == '(':
            depth += 1
            continue
        if ch == ')' and depth:
            depth -= 1
            continue
        if depth:
            continue
        if ch == '"':
            quoted = True
            continue
        plain.append(ch)
    parts = ''.join(plain).split(';')
    first = parts[0].split()
    if first and '=' in first[0]:  # no authserv-id (not as the RFC has it, but seen): the first part is a result
        serv, rest = '', parts
    else:
        serv, rest = (first[0].lower() if first else ''), parts[1:]
    results = []
    for part in rest:
        words = part.strip().split()
        if words and '=' in words[0]:
            method, _, result = words[0].partition('=')
            results.append((method.strip().lower().split('/')[0], result.strip().lower()))
    return serv, results


def unverified_sender(message: EmailMessage) -> str:
    """Why the From address must not be taken for the sender, or ''. Anybody can write any From: the receiving mail
    server records whether the sender's domain vouches for it (DMARC) in an ``Authentication-Results`` header it puts
    on top (RFC 8601). Only a failure counts: a forger can add headers of his own below the server's, but a result
    saying "fail" only makes his own mail less trusted, and a mail without any result (a server that does not check,
    a domain without DMARC) is taken as before. Read raw (no encoded words decoded), comments and quoted strings
    dropped; any ``dmarc=fail`` in the header counts. Which headers: those of ``mail_intake_authserv_id`` if set
    (all of them: several filters of one server may each add one), else the topmost."""
    settings = get_settings()
    if settings.mail_intake_dmarc_fail != 'triage':
        return ''
    try:
        values = [str(v) for k, v in message.raw_items() if k.lower() == 'authentication-results']
    except (ValueError, TypeError, IndexError):
        return ''
    own = settings.mail_intake_authserv_id.strip().lower()
    for value in values if own else values[:1]:
        serv, results = _ar_results(value)
        if own and serv != own:
            continue
        if any(method == 'dmarc' and result == 'fail' for method, result in results):
            return 'the receiving mail server found that the sender address failed DMARC (it may be forged)'
    return ''


def subject_references(subject: str, prefix: str) -> list[str]:
    return re.findall(rf'\b{re.escape(prefix)}-\d{{4}}-\d{{6}}\b', subject)


# --- the deciding half ----------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    outcome: str               # ticket, reply, duplicate, loop, flood, failed, bounced, already
    ticket_id: int | None = None
    event_id: int | None = None
    detail: str = ''


def own_address() -> str:
    return parseaddr(get_settings().mail_from)[1].lower()


_intake_users: weakref.WeakKeyDictionary[Any, User] = weakref.WeakKeyDictionary()  # by database engine
_intake_locks: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()  # (a lock is per loop)


async def intake_user() -> User:
    """The intake's own account: an inactive agent (no login, never notified) that opens tickets from mail on behalf
    of their customers and files customers it identifies by domain (read once per database engine)."""
    engine = db.engine()
    cached = _intake_users.get(engine)
    if cached is not None:
        return cached
    lock = _intake_locks.setdefault(engine, asyncio.Lock())
    async with lock:
        if engine not in _intake_users:
            try:
                _intake_users[engine] = await _intake_user()
            except IntegrityError:  # another process made it just now
                _intake_users[engine] = await _intake_user()
        return _intake_users[engine]


async def _intake_user() -> User:
    from .tickets import provider_organisation_id
    async with unit_of_work() as uow:
        s = uow.session
        user = (await s.execute(select(User).where(User.email == INTAKE_EMAIL))).scalar_one_or_none()
        if user is None:
            org_id = await provider_organisation_id(s)
            if org_id is None:
                raise ValidationError('There is no provider organisation to hold the e-mail intake account.')
            user = User(email=INTAKE_EMAIL, password_hash='!', role=Role.AGENT.value, organisation_id=org_id,
                        display_name='E-mail intake', is_active=False, email_notifications=False)
            s.add(user)
            await s.flush()
        s.expunge(user)
        return user


async def _record(mailbox_id: int, uidvalidity: int, uid: int, parsed: ParsedMail | None, outcome: str,
                  detail: str = '', *, failed_raw: bytes | None = None, retry_of: int | None = None,
                  size: int | None = None) -> Outcome:
    """A mail that changed no ticket: its record (and, for a failure, the raw mail kept for the admin page). A retry
    (``retry_of``: the kept mail's ``FailedImport``) keeps that row, with the new error, when it failed again, and
    resolves it in the same transaction when the mail is recorded otherwise (a duplicate, a loop). ``size``: the
    mail's size on the server when only its header is kept (too large to fetch)."""
    if retry_of is not None:
        failed_raw = None  # kept already
    digest = await storage.store(failed_raw) if failed_raw is not None else None
    async with unit_of_work() as uow:
        s = uow.session
        if retry_of is not None:
            await _settle_retry(s, retry_of, error=detail if outcome == 'failed' else None)
        existing = await _imported(s, mailbox_id, uidvalidity, uid)
        if existing is None:
            s.add(ImportedMail(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid,
                               message_id=parsed.message_id if parsed else '',
                               dedupe_key=parsed.dedupe_key if parsed else '', first_key=None,
                               sender=parsed.sender[:254] if parsed else '', subject=parsed.subject if parsed else '',
                               outcome=outcome, detail=detail[:2000]))
        elif existing.outcome == 'failed':
            existing.outcome, existing.detail = outcome, detail[:2000]
        if digest is not None and failed_raw is not None:
            s.add(FailedImport(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid, sha256=digest,
                               size=max(size or 0, len(failed_raw)), sender=parsed.sender[:254] if parsed else '',
                               subject=parsed.subject if parsed else '', error=detail[:4000]))
    return Outcome(outcome, detail=detail)


async def _imported(s: Any, mailbox_id: int, uidvalidity: int, uid: int) -> ImportedMail | None:
    return (await s.execute(select(ImportedMail).where(
        ImportedMail.mailbox_id == mailbox_id, ImportedMail.uidvalidity == uidvalidity,
        ImportedMail.uid == uid))).scalar_one_or_none()


async def _settle_retry(s: Any, failed_id: int, *, error: str | None) -> None:
    """A retried mail's kept row: resolved ('retried'; ``error`` None) in the transaction that records the mail, or
    left on the admin page with the retry's error."""
    values: dict[str, Any] = {'status': 'retried', 'resolved_at': utcnow()} if error is None else \
        {'error': f'Retried: {error}'[:4000]}
    await s.execute(update(FailedImport).where(FailedImport.id == failed_id, FailedImport.status == 'open')
                    .values(**values).execution_options(synchronize_session=False))


def _joined_record(mailbox_id: int, uidvalidity: int, uid: int, parsed: ParsedMail, outcome: str, intake: User,
                   raw_digest: str, raw_size: int, result: Outcome, *, fresh: bool = False,
                   retry_of: int | None = None):
    """The hook written into the ticket service's own transaction (see the module docstring); a retried mail's kept
    row is resolved in it too."""
    async def write(uow: UnitOfWork) -> None:
        s = uow.session
        if retry_of is not None:
            await _settle_retry(s, retry_of, error=None)
        change = next((e for e in uow.events if isinstance(e, TicketChanged)), None)
        if change is None:
            raise ValidationError('The mail changed no ticket.')
        if change.event_ids:
            event_id = change.event_ids[0]
        else:
            opened = [e.id for e in s.identity_map.values() if isinstance(e, TicketEvent) and e.id is not None
                      and e.ticket_id == change.ticket_id and e.kind == EventKind.CREATED.value]
            event_id = min(opened) if opened else (await s.execute(select(TicketEvent.id).where(
                TicketEvent.ticket_id == change.ticket_id, TicketEvent.kind == EventKind.CREATED.value)
                .order_by(TicketEvent.id).limit(1))).scalar_one()
        # a mail not recorded when its checks ran is inserted (a record made meanwhile hits the unique key and this
        # change rolls back); a failed one recorded before is read again and taken over
        existing = None if fresh else await _imported(s, mailbox_id, uidvalidity, uid)
        if existing is not None and existing.outcome != 'failed':
            raise _AlreadyImported()
        if existing is None:
            existing = ImportedMail(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid)
            s.add(existing)
        existing.message_id, existing.dedupe_key, existing.first_key = parsed.message_id, parsed.dedupe_key, \
            parsed.dedupe_key
        existing.sender, existing.subject, existing.outcome = parsed.sender[:254], parsed.subject, outcome
        existing.ticket_id, existing.event_id, existing.detail = change.ticket_id, event_id, result.detail[:2000]
        # the whole mail as it came, for staff only (customers see the text of their mail, not its headers)
        s.add(Attachment(ticket_id=change.ticket_id, event_id=event_id, uploader_id=intake.id,
                         filename=storage.safe_filename(f'{ORIGINAL_PREFIX}{uid}.eml'), content_type='message/rfc822',
                         size=raw_size, sha256=raw_digest, is_internal=True, created_at=utcnow()))
        await s.flush()
        result.ticket_id, result.event_id = change.ticket_id, event_id
    return write


class _AlreadyImported(Exception):
    pass


async def _find_thread(s: Any, parsed: ParsedMail) -> tuple[Ticket | None, str]:
    """The ticket this mail answers, and how it was found: our thread id, a Message-ID we sent (outbox), a mail we
    imported, else a reference number in the subject."""
    for mid in parsed.thread_ids[:50]:  # a References header of thousands of ids is not thousands of reads
        match = THREAD_ID_RE.fullmatch(mid)
        if match and len(match.group(1)) <= 18:  # a larger number is no ticket (and no 64-bit integer)
            ticket = await s.get(Ticket, int(match.group(1)))
            if ticket is not None:
                return ticket, 'thread'
    if parsed.thread_ids:
        ids = parsed.thread_ids[:50]
        ticket_id = (await s.execute(select(MailOutbox.ticket_id).where(
            MailOutbox.message_id.in_(ids), MailOutbox.ticket_id.is_not(None)).limit(1))).scalar_one_or_none()
        if ticket_id is None:
            ticket_id = (await s.execute(select(ImportedMail.ticket_id).where(
                ImportedMail.message_id.in_(ids), ImportedMail.ticket_id.is_not(None)).limit(1))
            ).scalar_one_or_none()
        if ticket_id is not None:
            return await s.get(Ticket, ticket_id), 'thread'
    for reference in subject_references(parsed.subject, get_settings().ticket_prefix):
        ticket = (await s.execute(select(Ticket).where(Ticket.reference == reference))).scalar_one_or_none()
        if ticket is not None:
            return ticket, 'subject'
    return None, ''


async def _user_by_email(s: Any, email: str) -> User | None:
    if not email:
        return None
    user = (await s.execute(select(User).where(func.lower(User.email) == email.lower()))).scalar_one_or_none()
    if user is not None and in_batch() is None:  # (a batch's session stays open: its objects stay in it)
        s.expunge(user)
    return user


async def _domain_organisation(s: Any, email: str) -> int | None:
    domain = email.rsplit('@', 1)[-1].lower() if '@' in email else ''
    if not domain:
        return None
    return (await s.execute(select(OrganisationMailDomain.organisation_id).where(
        OrganisationMailDomain.domain == domain))).scalar_one_or_none()


async def _customer_for(parsed: ParsedMail, intake: User, found: _Found) -> User | None:
    """The sender's account (customers only; staff and inactive accounts are not made customers of a ticket), or a
    new customer of the organisation whose mail domain matches (setting), else None: needs triage."""
    from . import customers
    user = found.sender
    if user is not None:
        return user if user.role == Role.CUSTOMER.value and user.is_active else None
    if get_settings().mail_intake_unknown_sender != 'customer' or not parsed.sender:
        return None
    org_id = found.domain_organisation_id
    if org_id is None:
        return None
    name = parsed.sender_name or parsed.sender.split('@', 1)[0]
    try:
        return await customers.save_customer(actor=intake, email=parsed.sender, display_name=name,
                                             organisation_id=org_id)
    except ValidationError:
        log.warning('could not file %s as a customer', parsed.sender, exc_info=True)
        return None


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit - 80].rstrip() + '\n\n… (shortened: the whole mail is attached for staff)'


async def _add_cc_contacts(ticket_id: int, parsed: ParsedMail, intake: User) -> None:
    """People copied in who have an account of the ticket's organisation join its team as contacts (so their replies
    attach); anybody else on Cc is left out (never made customer, never given access)."""
    from . import team
    for address in parsed.cc:
        if address == parsed.sender or address == own_address():
            continue
        async with reading() as s:
            user = await _user_by_email(s, address)
            if user is None or user.role != Role.CUSTOMER.value or not user.is_active:
                continue
            ticket = await s.get(Ticket, ticket_id)
            if ticket is None or not auth.can_view_ticket(user, ticket, on_team=True):
                continue
            on_team = (await s.execute(select(TeamMember.id).where(
                TeamMember.ticket_id == ticket_id, TeamMember.user_id == user.id))).first() is not None
        if not on_team:
            try:
                await team.add_member(actor=intake, ticket_id=ticket_id, user_id=user.id)
            except ServiceError:
                log.info('could not add %s to the team of ticket %s', address, ticket_id, exc_info=True)


@dataclass
class _Prior:
    """This UID's record from an earlier round (``_checks``)."""
    outcome: str
    ticket_id: int | None
    event_id: int | None


@functools.cache
def _checks_statement(with_key: bool, with_flood: bool) -> Any:
    """``_checks``' one statement, built once per shape (building it took ~40 % of the checks' CPU), values bound
    at each call: ``mailbox_id``, ``uidvalidity``, ``uid``, and ``key`` / ``sender`` and ``since``."""
    mailbox_id: Any = bindparam('mailbox_id')
    uidvalidity: Any = bindparam('uidvalidity')
    uid: Any = bindparam('uid')

    def prior(column: Any) -> Any:
        return select(column).where(ImportedMail.mailbox_id == mailbox_id, ImportedMail.uidvalidity == uidvalidity,
                                    ImportedMail.uid == uid).scalar_subquery()
    columns: list[Any] = [select(Mailbox.queue_id).where(Mailbox.id == mailbox_id).scalar_subquery(),
                          prior(ImportedMail.outcome), prior(ImportedMail.ticket_id), prior(ImportedMail.event_id)]
    if with_key:
        columns.append(select(ImportedMail.id).where(ImportedMail.first_key == bindparam('key')).limit(1)
                       .scalar_subquery())
    if with_flood:
        columns.append(select(func.count(ImportedMail.id)).where(
            ImportedMail.sender == bindparam('sender'), ImportedMail.created_at >= bindparam('since'),
            ImportedMail.outcome.in_(['ticket', 'reply'])).scalar_subquery())
    return select(*columns)


async def _checks(s: Any, mailbox_id: int, parsed: ParsedMail | None, uidvalidity: int,
                  uid: int, *, flood: bool = True) -> tuple[int | None, bool, bool, _Prior | None]:
    """The mailbox's queue, whether the mail was imported before (its dedupe key), whether its sender floods us
    (unless ``flood`` is off), and this UID's own record if it has one: one statement (scalar subqueries). A flood:
    ``mail_intake_flood_per_minute`` or more in the last minute."""
    count_flood = flood and parsed is not None and not parsed.loop_reason and bool(parsed.sender)
    values: dict[str, Any] = {'mailbox_id': mailbox_id, 'uidvalidity': uidvalidity, 'uid': uid}
    if parsed is not None:
        values['key'] = parsed.dedupe_key
    if count_flood:
        assert parsed is not None
        values.update(sender=parsed.sender, since=utcnow() - timedelta(minutes=1))
    row = (await s.execute(_checks_statement(parsed is not None, count_flood), values)).one()
    existing = _Prior(row[1], row[2], row[3]) if row[1] is not None else None
    duplicate = parsed is not None and row[4] is not None
    flooding = count_flood and int(row[5] or 0) >= get_settings().mail_intake_flood_per_minute
    return row[0], duplicate, flooding, existing


async def _is_duplicate(s: Any, key: str) -> bool:
    return (await s.execute(select(ImportedMail.id).where(ImportedMail.first_key == key))).first() is not None


def _bounce_text(parsed: ParsedMail, reason: str) -> str:
    return (f'Hello,\n\nthank you for your mail "{parsed.subject or "(no subject)"}". We could not accept it: '
            f'{reason}\n\nPlease send it again without the large files, or share them by a link. Nothing of this '
            'mail was lost: our support team can see it.\n\nThis is an automatic answer; replies to it are not read.')


async def _bounce(parsed: ParsedMail, reason: str) -> None:
    """A polite answer through the outbox (the SMTP worker sends it) — never to an automated mail, nor to a From
    address that failed DMARC (``parsed.unverified``: likely forged, the answer would go to somebody who never wrote:
    backscatter). The mail is kept for the admin page either way."""
    from ..notify.planner import new_message_id
    if not parsed.sender or parsed.loop_reason or parsed.unverified or parsed.sender == own_address():
        return
    async with unit_of_work() as uow:
        uow.session.add(MailOutbox(to_addr=parsed.sender, to_user_id=None, ticket_id=None,
                                   subject=f'Not delivered: {parsed.subject or "your mail"}'[:400],
                                   body_text=_bounce_text(parsed, reason), message_id=new_message_id(),
                                   kind='account'))
    from ..notify import sender
    sender.wake()


def _size(n: int) -> str:
    return f'{n / (1024 * 1024):.1f} MB' if n >= 1024 * 1024 else f'{max(1, round(n / 1024))} KB'


def _size_reason(size: int) -> str:
    return f'the mail is {_size(size)}; we accept mails up to {_size(get_settings().mail_intake_max_bytes)}.'


HEADER_ONLY_NOTE = ' Too large to fetch: only its header was read and kept, the mail stays on the mail server.'


def _too_big(parsed: ParsedMail) -> str:
    if parsed.size > get_settings().mail_intake_max_bytes:
        return _size_reason(parsed.size)
    try:
        storage.check_limits(parsed.attachments)
    except ValidationError as error:
        return str(error)
    return ''


@dataclass
class Prepared:
    """A mail read (``parsed``, or None and the ``problem``) before its import. ``too_large``: the mail's size on the
    server when only its header was fetched (over ``mail_intake_max_bytes``); 0 for a mail fetched whole."""
    parsed: ParsedMail | None
    problem: str = ''
    too_large: int = 0


async def prepare(*, mailbox_id: int, uidvalidity: int, uid: int, raw: bytes, store: bool = False,
                  too_large: int | None = None) -> Prepared:
    """Read the mail (in a thread); with ``store``, also write its original and its attachments to the store ahead
    (inside ``storage.remembering()`` the import then writes nothing again). The batch import calls this before it
    takes the write lock: reading a large mail and writing files (object storage may take seconds) happen while
    other writers go on. Never raises: a store that fails is left to the import, which records the error.

    ``too_large``: ``raw`` is only the header of a mail of this size on the server (over ``mail_intake_max_bytes``:
    it was not downloaded); read as such, for the import to refuse it as too large."""
    if too_large:
        try:
            head: ParsedMail = await _to_thread(parse_mail, raw, own_address=own_address())
        except Exception as error:  # noqa: BLE001 — kept with its error (its header, the mail stays on the server)
            return Prepared(None, f'The mail could not be read: {error}', too_large=too_large)
        head.size = too_large
        return Prepared(head, too_large=too_large)
    try:
        parsed: ParsedMail | None = await _to_thread(parse_mail, raw, own_address=own_address())
    except Exception as error:  # noqa: BLE001 — whatever the mail is, it is kept with its error
        log.warning('mail %s/%s/%s could not be read', mailbox_id, uidvalidity, uid, exc_info=True)
        return Prepared(None, f'The mail could not be read: {error}')
    if parsed is not None and parsed.untrimmed:
        parsed.body, done = await mail_trim.trim(parsed.full_body)
        parsed.untrimmed = False
        if not done:
            parsed.notes.append('quoted history not trimmed (the text took too long to look through)')
    if store and parsed is not None and not parsed.loop_reason and not _too_big(parsed):
        try:
            await storage.store(raw)
            for file in parsed.attachments:
                await storage.store(file.data)
        except Exception:  # noqa: BLE001 — the import tries again and records what fails
            log.warning('mail %s/%s/%s: writing its files ahead failed', mailbox_id, uidvalidity, uid, exc_info=True)
    return Prepared(parsed)


async def import_mail(*, mailbox_id: int, uidvalidity: int, uid: int, raw: bytes,
                      prepared: Prepared | None = None, retry_of: int | None = None) -> Outcome:
    """Import one mail of a mailbox exactly once (see the module docstring). Never raises for bad mail: what cannot be
    imported is kept as a ``FailedImport`` with its error. ``prepared``: the mail already read (``prepare``).
    ``retry_of``: an admin retries this kept mail (``retry_failed``): no flood count, no second bounce, and the kept
    row is resolved with the mail's record or keeps the new error."""
    if prepared is None:
        prepared = await prepare(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid, raw=raw)
    parsed, problem = prepared.parsed, prepared.problem
    size = prepared.too_large or None  # only the header was fetched: the size on the server
    note = HEADER_ONLY_NOTE if size else ''
    found = _Found()
    async with reading() as s:  # one read for every check and look-up before the import
        queue_id, duplicate, flooding, existing = await _checks(s, mailbox_id, parsed, uidvalidity, uid,
                                                                flood=retry_of is None)
        if parsed is not None and (existing is None or existing.outcome == 'failed') and not parsed.loop_reason \
                and not duplicate and not flooding:
            await found.read(s, parsed)
    if existing is not None and existing.outcome != 'failed':
        return Outcome('already', existing.ticket_id, existing.event_id)
    record = functools.partial(_record, mailbox_id, uidvalidity, uid, retry_of=retry_of)
    if parsed is None:
        return await record(None, 'failed', problem + note, failed_raw=raw, size=size)
    if parsed.loop_reason:
        return await record(parsed, 'loop', parsed.loop_reason)
    if duplicate:
        return await record(parsed, 'duplicate', f'already imported ({parsed.message_id or "same headers"})')
    if flooding:
        return await record(parsed, 'flood',
                            f'more than {get_settings().mail_intake_flood_per_minute} mails a minute from this sender')
    reason = _too_big(parsed) or (_size_reason(size) if size else '')  # (a header alone is never imported)
    if reason:
        if retry_of is None:  # (a retry: the sender was answered when the mail came)
            await _bounce(parsed, reason)
        return await record(parsed, 'failed', f'Too large: {reason}{note}', failed_raw=raw, size=size)
    try:
        return await _import(mailbox_id, uidvalidity, uid, raw, parsed, queue_id, found,
                             fresh=existing is None, retry_of=retry_of)
    except (_AlreadyImported, IntegrityError):
        async with unit_of_work() as uow:
            done = await _imported(uow.session, mailbox_id, uidvalidity, uid)
        if done is not None and done.outcome != 'failed':
            return Outcome('already', done.ticket_id, done.event_id)
        async with reading() as s:
            duplicate = await _is_duplicate(s, parsed.dedupe_key)
        if duplicate:
            return await record(parsed, 'duplicate', 'imported meanwhile')
        raise
    except ServiceError as error:
        log.warning('mail %s/%s/%s refused: %s', mailbox_id, uidvalidity, uid, error)
        return await record(parsed, 'failed', str(error), failed_raw=raw)


async def _to_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


@dataclass
class _Found:
    """What a mail's import needs to know, read in the one session of its checks."""
    ticket: Ticket | None = None       # the ticket it answers (threading headers or a reference in the subject)
    how: str = ''
    sender: User | None = None         # the sender's account
    may_view: bool = False             # the sender may see that ticket
    domain_organisation_id: int | None = None  # an unknown sender's organisation by mail domain
    copied_in: bool = False            # a sender without an account, or a customer who may not see the ticket, who
                                       # was on Cc of a mail of that ticket's thread (In-Reply-To/References)

    async def read(self, s: Any, parsed: ParsedMail) -> None:
        self.ticket, self.how = await _find_thread(s, parsed)
        self.sender = await _user_by_email(s, parsed.sender)
        self.may_view = bool(self.ticket is not None and self.sender is not None and self.sender.is_active
                             and await auth.may_view_ticket(s, self.sender, self.ticket))
        if self.sender is None and parsed.sender and get_settings().mail_intake_unknown_sender == 'customer':
            self.domain_organisation_id = await _domain_organisation(s, parsed.sender)
        if parsed.sender and not parsed.unverified and self.how == 'thread' and self.ticket is not None \
                and self.ticket.customer_id is not None and not self.may_view \
                and (self.sender is None or self.sender.role == Role.CUSTOMER.value):  # (staff stay staff)
            self.copied_in = parsed.sender in await _copied_on(s, self.ticket.id)


ORIGINAL_PREFIX = 'original-mail-'


async def _copied_on(s: Any, ticket_id: int, *, limit: int = 50) -> set[str]:
    """The addresses on Cc of the mails imported into a ticket (read from their kept originals' headers)."""
    digests = list((await s.execute(select(Attachment.sha256).where(
        Attachment.ticket_id == ticket_id, Attachment.is_internal.is_(True),
        Attachment.content_type == 'message/rfc822', Attachment.filename.like(f'{ORIGINAL_PREFIX}%'))
        .order_by(Attachment.id.desc()).limit(limit))).scalars())
    heads: list[bytes] = []
    for digest in digests:  # from the attachment store (local or object storage): the first 256 KiB is the header
        try:
            _, chunks = await storage.open_stream(digest)
        except (storage.MissingFile, ValueError):
            continue  # a missing original: that mail's Cc is not known
        head = b''
        try:
            async for chunk in chunks:
                head += chunk
                if len(head) >= 262144:
                    break
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
        heads.append(head[:262144])
    return await _to_thread(_cc_of_heads, heads) if heads else set()


def _cc_of_heads(heads: list[bytes]) -> set[str]:
    from email.parser import BytesHeaderParser
    found: set[str] = set()
    for raw in heads:
        try:
            head = raw.split(b'\r\n\r\n', 1)[0].split(b'\n\n', 1)[0]
            headers = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
            found.update(addr.strip().lower() for _, addr in getaddresses([str(v) for v in headers.get_all('Cc') or []])
                         if '@' in addr)
        except (OSError, ValueError):
            continue  # a missing or unreadable original: that mail's Cc is not known
    return found


async def _join_copied_in(ticket: Ticket, parsed: ParsedMail, intake: User,
                          sender: User | None) -> tuple[User | None, str]:
    """Somebody the customer put on Cc of the thread answers (the customer's Cc is the consent): on the ticket's team
    as a contact, so their reply is theirs. Without an account: a customer of the ticket's organisation (no password:
    they cannot log in until one is set). With a customer account: added to the team as it is (never re-enabled when
    deactivated). Returns the account to post as, or None and why not (the mail is then kept on the ticket as an
    internal note). The ticket's customer stays."""
    from . import customers, team
    if sender is not None and not sender.is_active:
        return None, 'the account of this address is deactivated'
    try:
        if sender is None:
            name = parsed.sender_name or parsed.sender.split('@', 1)[0]
            sender = await customers.save_customer(actor=intake, email=parsed.sender, display_name=name,
                                                   organisation_id=ticket.organisation_id)
        await team.add_member(actor=intake, ticket_id=ticket.id, user_id=sender.id)
    except ServiceError as error:
        log.warning('could not add %s (on Cc) to the team of %s: %s', parsed.sender, ticket.reference, error)
        return None, str(error)
    return sender, ''


async def _import(mailbox_id: int, uidvalidity: int, uid: int, raw: bytes, parsed: ParsedMail,
                  queue_id: int | None, found: _Found, *, fresh: bool = False,
                  retry_of: int | None = None) -> Outcome:
    from . import chatter, tickets
    intake = await intake_user()
    raw_digest = await storage.store(raw)
    ticket, how, sender, may_view = found.ticket, found.how, found.sender, found.may_view
    if parsed.unverified:  # a forged From: nobody's reply, nobody's request, no account, no contacts from its Cc
        ticket = sender = None
    who = f'{parsed.sender_name} <{parsed.sender}>' if parsed.sender_name else parsed.sender or 'an unknown sender'
    refused = ''  # why somebody copied in could not join the team: their mail is an internal note on the ticket
    if ticket is not None and found.copied_in:
        sender, refused = await _join_copied_in(ticket, parsed, intake, sender)
        may_view = sender is not None
        async with reading() as s:  # as it is now (the team change moved its version)
            ticket = await s.get(Ticket, ticket.id, populate_existing=True)
    linked_to = ''
    if ticket is not None and ((sender is not None and may_view) or refused):
        result = Outcome('reply', detail=f'reply by {how}' + (f' (on Cc, an internal note: {refused})'[:300]
                                                              if refused else ''))
        if ticket.status == Status.CLOSED.value and get_settings().mail_intake_closed_reply == 'new':
            linked_to = ticket.reference
        else:
            if ticket.status == Status.CLOSED.value:
                await tickets.change_status(actor=intake, ticket_id=ticket.id, expected_version=ticket.version,
                                            status=Status.OPEN.value,
                                            reason=f'{sender.display_name if sender else who} answered by e-mail.')
            body = parsed.body or '(no text)'
            if refused:  # kept for staff: nobody is given access to the ticket
                body = f'**E-mail from {who}**, on Cc of this ticket\'s mail ({refused}):\n\n{body}'
            body = _bounded(body, chatter.MAX_MESSAGE - 200)
            with join_next_unit(_joined_record(mailbox_id, uidvalidity, uid, parsed, 'reply', intake, raw_digest,
                                               len(raw), result, fresh=fresh, retry_of=retry_of)):
                await chatter.post_message(actor=sender if sender is not None and not refused else intake,
                                           ticket_id=ticket.id, body=body, internal=bool(refused),
                                           files=parsed.attachments, rate_limited=False)
            if not refused:
                await _add_cc_contacts(ticket.id, parsed, intake)
            return result
    elif ticket is not None:
        log.info('mail from %s names %s (%s) but the sender may not see it: a new ticket', parsed.sender or '?',
                 ticket.reference, how)
    customer = None if parsed.unverified or refused else await _customer_for(parsed, intake, found)
    lines = []
    if parsed.unverified:
        lines.append(f'**Needs triage:** says it is from {who}, but {parsed.unverified}.')
    elif refused:
        lines.append(f'**Needs triage:** from {who}, on Cc of {linked_to}, who cannot be its contact ({refused}).')
    elif customer is None:
        lines.append(f'**Needs triage:** from {who}, who is not a known customer.')
    if linked_to:
        lines.append(f'Follow-up of {linked_to} (closed), answered by e-mail.')
    description = '\n\n'.join([*lines, parsed.body or '(no text)'])
    result = Outcome('ticket', detail='new ticket' + (f' (follow-up of {linked_to})' if linked_to else ''))
    with join_next_unit(_joined_record(mailbox_id, uidvalidity, uid, parsed, 'ticket', intake, raw_digest, len(raw),
                                       result, fresh=fresh, retry_of=retry_of)):
        created = await tickets.create_ticket(
            actor=intake, title=(parsed.subject or '(no subject)')[:TITLE_LIMIT],
            description=_bounded(description, DESCRIPTION_LIMIT), customer_id=customer.id if customer else None,
            queue_id=queue_id, channel=Channel.EMAIL.value, files=parsed.attachments)
    if customer is not None:
        await _add_cc_contacts(created.id, parsed, intake)
    return result


async def keep_failed(*, mailbox_id: int, uidvalidity: int, uid: int, raw: bytes, error: str,
                      size: int | None = None) -> Outcome:
    """A mail whose import kept failing with an error: kept for the admin (retry, discard), so the mailbox moves on.
    ``size``: the mail's size on the server when ``raw`` is only its header (too large to fetch)."""
    try:
        parsed: ParsedMail | None = await _to_thread(parse_mail, raw, own_address=own_address())
    except Exception:  # noqa: BLE001 — kept without its headers then
        parsed = None
    if parsed is not None and size:
        parsed.size = size
    return await _record(mailbox_id, uidvalidity, uid, parsed, 'failed', f'Import failed: {error}'[:4000],
                         failed_raw=raw, size=size)


# --- failed imports (the admin page) --------------------------------------------------------------------------------

async def retry_failed(*, actor: User, failed_id: int) -> Outcome:
    """Import a kept mail again (admins). The kept row is resolved only together with the mail's new record (a
    ticket, a reply, a duplicate…: in the same transaction), never before: a retry refused again or failing with an
    error (database, store, planner) leaves the mail on the admin page with the new error (outcome 'failed'). A mail
    whose mailbox was removed cannot be imported (its record belongs to a mailbox): it stays, to be discarded.

    A mail that was too large to fetch (only its header kept: the kept file is smaller than the mail) is fetched from
    its mailbox now, once it is within ``mail_intake_max_bytes``; over it, it is refused again without fetching."""
    auth.require_role(actor, Role.ADMIN, action='retry a failed mail import')
    async with db.session() as s:
        row = await s.get(FailedImport, failed_id)
        if row is None or row.status != 'open':
            raise NotFound('No such failed import.')
        mailbox_id, uidvalidity, uid, digest, size = row.mailbox_id, row.uidvalidity, row.uid, row.sha256, row.size
    if mailbox_id is None or uidvalidity is None or uid is None:
        raise ValidationError('This mail has no mailbox any more; discard it.')
    try:
        raw = await storage.read(digest)
        if size > len(raw):  # only its header was kept: the mail is on the mail server still
            if size > get_settings().mail_intake_max_bytes:
                return await _record(mailbox_id, uidvalidity, uid, None, 'failed',
                                     f'Too large: {_size_reason(size)}{HEADER_ONLY_NOTE}', retry_of=failed_id)
            raw = await _fetch_again(mailbox_id, uidvalidity, uid)
        outcome = await import_mail(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid, raw=raw,
                                    retry_of=failed_id)
        if outcome.outcome == 'already':  # imported meanwhile: nothing was written, so resolve the row here
            async with unit_of_work() as uow:
                await _settle_retry(uow.session, failed_id, error=None)
    except Exception as error:  # noqa: BLE001 — whatever failed, the mail stays on the admin page with the error
        log.exception('retrying the failed mail import %s', failed_id)
        detail = f'{type(error).__name__}: {error}'
        async with unit_of_work() as uow:
            await _settle_retry(uow.session, failed_id, error=detail)
        return Outcome('failed', detail=f'the retry failed ({detail[:300]}); the mail stays on this page')
    return outcome


async def _fetch_again(mailbox_id: int, uidvalidity: int, uid: int) -> bytes:
    """A mail from its mailbox's server (a retry of one that was too large to fetch when it came)."""
    from ..intake.mail.imap import settings_of
    from .mailboxes import connect_mailbox
    async with db.session() as s:
        box = await s.get(Mailbox, mailbox_id)
        if box is None:
            raise ValidationError('This mail has no mailbox any more; discard it.')
        conf = settings_of(box)
    connection, validity, _ = await connect_mailbox(conf)
    try:
        if validity != uidvalidity:
            raise ValidationError('The mailbox\'s folder was renumbered on the server (UIDVALIDITY): the mail cannot '
                                  'be found there again.')
        mails = await connection.fetch([uid])
    finally:
        await connection.close()
    if uid not in mails:
        raise ValidationError('The mail is no longer on the mail server.')
    return mails[uid]


async def discard_failed(*, actor: User, failed_id: int) -> None:
    auth.require_role(actor, Role.ADMIN, action='discard a failed mail import')
    async with unit_of_work() as uow:
        row = await uow.session.get(FailedImport, failed_id)
        if row is None or row.status != 'open':
            raise NotFound('No such failed import.')
        row.status, row.resolved_at = 'discarded', utcnow()


__all__ = ['Outcome', 'ParsedMail', 'discard_failed', 'import_mail', 'intake_user', 'parse_mail',
           'retry_failed']
