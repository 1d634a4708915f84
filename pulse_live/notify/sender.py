"""The mail sender worker: drains the outbox over SMTP (aiosmtplib), retries with exponential backoff and
jitter, and gives up into a dead-letter state after N attempts (keeping the last error). Each mail fails on its
own: one that cannot be composed is dead at once, one the server refuses is retried; neither stops the others.

Rows are claimed with ``locked_until`` before sending, so several processes never send the same mail; a row is
marked sent only after the server accepted it, so a crash in between can only resend the same mail with the
same Message-ID.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta
from email.utils import parseaddr

import aiosmtplib
from sqlalchemy import func, or_, select, update

from .. import db
from ..config import get_settings
from ..models import MailOutbox, Ticket, utcnow
from . import compose

log = logging.getLogger(__name__)
CLAIM_S = 120
_wakeup: asyncio.Event | None = None
_task: asyncio.Task | None = None
_server_down = False  # logged once per outage, not once per retry


def _note_server(up: bool, error: Exception | None = None) -> None:
    global _server_down
    s = get_settings()
    if not up and not _server_down:
        log.warning('mail server %s:%s unavailable: %s; mails wait in the outbox and are retried (logged again '
                    'when it answers)', s.smtp_host, s.smtp_port, error)
    elif up and _server_down:
        log.warning('mail server %s:%s answers again; sending the outbox', s.smtp_host, s.smtp_port)
    _server_down = not up


def wake() -> None:
    """Tell the worker that something may be due (called after a commit that wrote outbox rows)."""
    if _wakeup is not None:
        _wakeup.set()


def backoff(attempts: int) -> float:
    s = get_settings()
    return min(s.mail_retry_base_s * 2 ** (attempts - 1), s.mail_retry_max_s) * random.uniform(0.5, 1.5)


async def _claim(limit: int) -> list[int]:
    now = utcnow()
    async with db.session() as s, s.begin():
        ids = list((await s.execute(
            select(MailOutbox.id).where(MailOutbox.status == 'pending', MailOutbox.next_attempt_at <= now,
                                        or_(MailOutbox.locked_until.is_(None), MailOutbox.locked_until < now))
            .order_by(MailOutbox.next_attempt_at, MailOutbox.id).limit(limit))).scalars())
        if not ids:
            return []
        claimed = (await s.execute(
            update(MailOutbox).where(MailOutbox.id.in_(ids), MailOutbox.status == 'pending',
                                     or_(MailOutbox.locked_until.is_(None), MailOutbox.locked_until < now))
            .values(locked_until=now + timedelta(seconds=CLAIM_S)).returning(MailOutbox.id)
            .execution_options(synchronize_session=False))).scalars().all()
    return list(claimed)


def _smtp() -> aiosmtplib.SMTP:
    s = get_settings()
    return aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout_s,
                           use_tls=s.smtp_tls == 'tls', start_tls=s.smtp_tls == 'starttls',
                           username=s.smtp_user or None, password=s.smtp_password or None)


async def send_due(limit: int = 200, connections: int = 4) -> int:
    """Send what is due now over a few parallel SMTP connections; return how many rows were handled.

    Every claimed row is recorded (sent, retried later, or dead), whatever happened to the other rows: a mail that
    cannot be composed or that the server refuses fails alone, and a lost connection only charges the mails that
    had not gone out on it yet."""
    ids = await _claim(limit)
    if not ids:
        return 0
    async with db.session() as s:
        rows = list((await s.execute(select(MailOutbox, Ticket.title, Ticket.reference, Ticket.resolution_text)
                                     .outerjoin(Ticket, MailOutbox.ticket_id == Ticket.id)
                                     .where(MailOutbox.id.in_(ids)).order_by(MailOutbox.id))).all())
    sent: list[int] = []
    failed: dict[int, str] = {}
    permanent: set[int] = set()  # failed rows that no retry can help: dead at once
    groups = [rows[i::connections] for i in range(min(connections, len(rows)))]
    try:
        results = await asyncio.gather(*[_send_group(group, sent, failed, permanent) for group in groups],
                                       return_exceptions=True)
        for group, result in zip(groups, results, strict=True):
            if isinstance(result, BaseException):  # a bug, not the server: its unsent mails are charged, not lost
                log.error('mail sender group failed', exc_info=result)
                for row, *_ in group:
                    if row.id not in sent and row.id not in failed:
                        failed[row.id] = _error_text(result)
    finally:  # even when cancelled: what went out is marked sent, so it is never sent again after the claim expires
        for row, *_ in rows:
            if row.id not in sent and row.id not in failed:
                failed[row.id] = 'not sent: the sending round was interrupted'
        await _record(rows, sent, failed, permanent)
    return len(rows)


def _error_text(e: BaseException) -> str:
    return f'{type(e).__name__}: {e}'


async def _send_group(rows, sent: list[int], failed: dict[int, str], permanent: set[int]) -> None:
    client = _smtp()
    try:
        await client.connect()
    except Exception as e:  # server down: every row of the group is retried later
        for row, *_ in rows:
            failed[row.id] = _error_text(e)
        _note_server(False, e)
        return
    _note_server(True)
    try:
        # composing with the email package is CPU work (~2-5 ms a mail): do it in a thread, not on the event loop
        messages = await asyncio.to_thread(_compose_each, rows)
        sender_addr = parseaddr(get_settings().mail_from)[1]
        for (row, *_), data in zip(rows, messages, strict=True):
            if isinstance(data, Exception):  # this row cannot become a mail: dead now, the others go on
                failed[row.id] = f'could not compose the mail: {_error_text(data)}'
                permanent.add(row.id)
                continue
            try:
                await client.sendmail(sender_addr, [row.to_addr], data)
                sent.append(row.id)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as e:
                # refused (the server said no to the sender, the recipient or the data): this mail only, retried
                # with backoff like any refusal; aiosmtplib has already reset the envelope for the next mail
                failed[row.id] = _refusal_text(e)
            except aiosmtplib.SMTPException as e:  # connection lost: the rest of the group waits for the next round
                for other, *_ in rows:
                    if other.id not in sent and other.id not in failed:
                        failed[other.id] = _error_text(e)
                break
            except Exception as e:  # anything else (say, an address aiosmtplib cannot encode): this mail only
                failed[row.id] = _error_text(e)
                try:  # the envelope may be half open: start clean, or give the rest of the group to the next round
                    await client.rset()
                except Exception as reset_error:
                    for other, *_ in rows:
                        if other.id not in sent and other.id not in failed:
                            failed[other.id] = _error_text(reset_error)
                    break
    finally:
        with contextlib.suppress(Exception):
            await client.quit()


def _refusal_text(e: Exception) -> str:
    if isinstance(e, aiosmtplib.SMTPRecipientsRefused):  # one refusal per recipient; a row has one recipient
        return '; '.join(f'{type(r).__name__}: ({r.code}, {r.message}) {r.recipient}' for r in e.recipients) \
            or _error_text(e)
    return _error_text(e)


def _compose_each(rows) -> list[bytes | Exception]:
    """The mail of each row, or the exception that composing it raised (one bad row never stops the others)."""
    messages: list[bytes | Exception] = []
    for row, title, reference, resolution in rows:
        try:
            messages.append(compose.build(
                to_addr=row.to_addr, reference=reference or row.subject, title=title or '', ticket_id=row.ticket_id,
                kind=row.kind, items=row.items or [], message_id=row.message_id,
                resolution=resolution if row.kind in ('resolved', 'closed') else '', subject=row.subject,
                text=row.body_text).as_bytes())
        except Exception as e:
            log.warning('outbox row %s cannot be composed: %s', row.id, _error_text(e))
            messages.append(e)
    return messages


async def _record(rows, sent: list[int], failed: dict[int, str], permanent: set[int]) -> None:
    now = utcnow()
    settings = get_settings()
    async with db.session() as s, s.begin():
        if sent:
            await s.execute(update(MailOutbox).where(MailOutbox.id.in_(sent))
                            .values(status='sent', sent_at=now, locked_until=None, attempts=MailOutbox.attempts + 1,
                                    last_error=''))
        for row, *_ in rows:
            if row.id not in failed or row.id in sent:
                continue
            attempts = row.attempts + 1
            dead = row.id in permanent or attempts >= settings.mail_max_attempts
            await s.execute(update(MailOutbox).where(MailOutbox.id == row.id).values(
                attempts=attempts, last_error=failed[row.id][:2000], locked_until=None,
                status='dead' if dead else 'pending',
                next_attempt_at=now + timedelta(seconds=0 if dead else backoff(attempts))))


async def next_due_in() -> float | None:
    async with db.session() as s:
        first = (await s.execute(select(func.min(MailOutbox.next_attempt_at))
                                 .where(MailOutbox.status == 'pending'))).scalar_one_or_none()
    if first is None:
        return None
    return max(0.0, (first - utcnow()).total_seconds())


async def run_forever(*, idle_s: float = 30.0) -> None:
    global _wakeup  # noqa: PLW0603
    _wakeup = asyncio.Event()
    while True:
        try:
            handled = await send_due()
            if handled:
                continue
            due = await next_due_in()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception('mail sender round failed')
            due = 5.0
        _wakeup.clear()
        try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races with the wake-up
            async with asyncio.timeout(min(idle_s, due if due is not None else idle_s) + 0.05):
                await _wakeup.wait()
        except TimeoutError:
            pass


def start() -> None:
    global _task  # noqa: PLW0603
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(run_forever())


async def stop() -> None:
    global _task, _wakeup  # noqa: PLW0603
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await _task
    _task, _wakeup = None, None
