"""The mail sender worker: drains the outbox over SMTP (aiosmtplib), retries with exponential backoff and
jitter, and gives up into a dead-letter state after N attempts (keeping the last error). Each mail fails on its
own: one that cannot be composed is dead at once, one the server refuses is retried; neither stops the others.

Rows are claimed with ``locked_until`` before sending, so several processes never send the same mail; a row is
marked sent only after the server accepted it, so a crash in between can only resend the same mail with the
same Message-ID. A round may last longer than its claim (``CLAIM_S``: a slow server, a big batch): every
``CLAIM_S / 3`` while it runs it marks what went out so far as sent and extends its claim on the rest, a
compare-and-set on the claim's own ``locked_until`` (each claim's moment is unique). A row whose claim could not be
extended (the process stalled past it and another took the row) is not sent by this round, nor recorded by it.

A mail that died of an outage (no server, connection lost: ``last_failure = 'outage'``) is not given up for good:
every ``PULSE_MAIL_DEAD_RETRY_S`` the one dead longest is tried once more (a probe; failing, it goes to the back of
the line), and as soon as a round sends anything, all of them get a fresh set of attempts (``revive_dead``). A mail
revived so that dies of an "outage" again, while the server answered others, fails for a reason of its own
(``'outage-again'``): it waits for an admin, instead of a fresh set of attempts after every mail sent, for ever.
Both are compare-and-set updates on ``status = 'dead'``, and a revived mail is claimed like any other, so none is
sent twice. A mail the server refused or that cannot be composed stays dead until an admin retries it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import datetime, timedelta
from email.utils import parseaddr

import aiosmtplib
from sqlalchemy import func, or_, select, true, update

from .. import db
from ..config import get_settings
from ..models import MailOutbox, Ticket, utcnow
from ..ops import metrics
from . import compose
from .worker_loop import WorkerLoop

log = logging.getLogger(__name__)
CLAIM_S = 120
_loop = WorkerLoop('mail-sender')
_server_down = False  # logged once per outage, not once per retry
# a mail revived with the others that dies of an "outage" again, while the server answered (it sent what revived
# it), fails for a reason of its own: 'outage-again' is not revived by itself any more — an admin retries it
AGAIN = ('revived', 'outage-again')
_last_probe = [0.0]  # monotonic time of the last probe of a dead mail (per process)


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
    _loop.wake()


def backoff(attempts: int) -> float:
    s = get_settings()
    return min(s.mail_retry_base_s * 2 ** (attempts - 1), s.mail_retry_max_s) * random.uniform(0.5, 1.5)


class _Claim:
    """The rows a round holds, claimed until ``until`` (the claim's token: ``locked_until`` is compared-and-set)."""

    def __init__(self, ids: list[int], until: datetime) -> None:
        self.held, self.until = set(ids), until
        self.marked: set[int] = set()  # sent and already recorded as sent by a renewal
        self.lock = asyncio.Lock()  # one write under this claim at a time (a renewal changes its token)
        self.stop = asyncio.Event()

    def fresh(self) -> bool:
        """Whether the claim has a third of its time left: enough to send one more mail under it."""
        return (self.until - utcnow()).total_seconds() > CLAIM_S / 3

    async def may_send(self, row_id: int, sent: list[int]) -> bool:
        if row_id in self.held and not self.fresh():  # the renewal is late (a stalled loop): renew now
            await self.renew(sent)
        return row_id in self.held and self.fresh()

    async def renew(self, sent: list[int]) -> None:
        """Record what went out so far as sent and extend the claim on the rest (rows another process took in the
        meantime are let go). Shielded: a cancelled round never leaves the database and ``until`` apart."""
        await asyncio.shield(self._renew(sent))

    async def _renew(self, sent: list[int]) -> None:
        async with self.lock:
            now = utcnow()
            until = _claim_until(now)
            done = [i for i in sent if i in self.held and i not in self.marked]
            rest = list(self.held - set(sent))
            async with db.write_lock(), db.session() as s, s.begin():
                if done:
                    await s.execute(update(MailOutbox).where(MailOutbox.id.in_(done),
                                                             MailOutbox.locked_until == self.until)
                                    .values(_sent_values(now)).execution_options(synchronize_session=False))
                kept: list[int] = []
                if rest:
                    kept = list((await s.execute(
                        update(MailOutbox).where(MailOutbox.id.in_(rest), MailOutbox.status == 'pending',
                                                 MailOutbox.locked_until == self.until)
                        .values(locked_until=until).returning(MailOutbox.id)
                        .execution_options(synchronize_session=False))).scalars())
            self.marked.update(done)
            lost = set(rest) - set(kept)
            if lost:
                log.warning('mail sender: the claim on outbox rows %s ran out and was taken over; this round '
                            'leaves them alone', sorted(lost))
            self.held -= lost
            self.until = until

    async def keep(self, sent: list[int]) -> None:
        """Renew every ``CLAIM_S / 3`` until ``stop`` is set (at the end of the round)."""
        while True:
            try:
                async with asyncio.timeout(CLAIM_S / 3):
                    await self.stop.wait()
                return
            except TimeoutError:
                pass
            try:
                await self.renew(sent)
            except Exception:  # the database did not answer: try again sooner; may_send checks before each mail
                log.exception('mail sender: extending the claim failed')


def _claim_until(now: datetime) -> datetime:
    # a moment of its own per claim (random microseconds): it is the token the claim's renewals compare against
    return now + timedelta(seconds=CLAIM_S, microseconds=random.randrange(1, 1_000_000))


def _sent_values(now: datetime) -> dict:
    return {'status': 'sent', 'sent_at': now, 'locked_until': None, 'attempts': MailOutbox.attempts + 1,
            'last_error': '', 'last_failure': ''}


async def _claim(limit: int, until: datetime | None = None) -> list[int]:
    now = utcnow()
    until = until or _claim_until(now)
    async with db.write_lock(), db.session() as s, s.begin():
        ids = list((await s.execute(
            select(MailOutbox.id).where(MailOutbox.status == 'pending', MailOutbox.next_attempt_at <= now,
                                        or_(MailOutbox.locked_until.is_(None), MailOutbox.locked_until < now))
            .order_by(MailOutbox.next_attempt_at, MailOutbox.id).limit(limit))).scalars())
        if not ids:
            return []
        claimed = (await s.execute(
            update(MailOutbox).where(MailOutbox.id.in_(ids), MailOutbox.status == 'pending',
                                     or_(MailOutbox.locked_until.is_(None), MailOutbox.locked_until < now))
            .values(locked_until=until).returning(MailOutbox.id)
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
    until = _claim_until(utcnow())
    ids = await _claim(limit, until)
    if not ids:
        return 0
    claim = _Claim(ids, until)
    async with db.session() as s:
        rows = list((await s.execute(select(MailOutbox, Ticket.title, Ticket.reference, Ticket.resolution_text)
                                     .outerjoin(Ticket, MailOutbox.ticket_id == Ticket.id)
                                     .where(MailOutbox.id.in_(ids)).order_by(MailOutbox.id))).all())
    sent: list[int] = []
    failed: dict[int, str] = {}
    permanent: set[int] = set()  # failed rows that no retry can help: dead at once
    refused: set[int] = set()  # failed rows the server said no to (not an outage)
    groups = [rows[i::connections] for i in range(min(connections, len(rows)))]
    keeper = asyncio.get_running_loop().create_task(claim.keep(sent), name='mail-claim-keeper')
    try:
        results = await asyncio.gather(*[_send_group(group, sent, failed, permanent, refused, claim)
                                         for group in groups], return_exceptions=True)
        for group, result in zip(groups, results, strict=True):
            if isinstance(result, BaseException):  # a bug, not the server: its unsent mails are charged, not lost
                log.error('mail sender group failed', exc_info=result)
                for row, *_ in group:
                    if row.id not in sent and row.id not in failed:
                        failed[row.id] = _error_text(result)
    finally:  # even when cancelled: what went out is marked sent, so it is never sent again after the claim expires
        claim.stop.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await keeper  # a renewal under way finishes first: the claim's token is settled
        for row, *_ in rows:
            if row.id not in sent and row.id not in failed and row.id in claim.held:
                failed[row.id] = 'not sent: the sending round was interrupted'
        async with claim.lock:
            await _record(rows, sent, failed, permanent, refused, claim)
    if sent:  # the server answers: mails that died of an outage get a fresh set of attempts
        await revive_dead()
    return len(rows)


def _error_text(e: BaseException) -> str:
    return f'{type(e).__name__}: {e}'


async def _send_group(rows, sent: list[int], failed: dict[int, str], permanent: set[int],
                      refused: set[int] | None = None, claim: _Claim | None = None) -> None:
    refused = set() if refused is None else refused
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
            if claim is not None and not await claim.may_send(row.id, sent):
                continue  # the claim ran out and another process has the row: it is theirs to send
            try:
                await client.sendmail(sender_addr, [row.to_addr], data)
                sent.append(row.id)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as e:
                # refused (the server said no to the sender, the recipient or the data): this mail only, retried
                # with backoff like any refusal; aiosmtplib has already reset the envelope for the next mail
                failed[row.id] = _refusal_text(e)
                refused.add(row.id)
            except aiosmtplib.SMTPException as e:  # connection lost: the rest of the group waits for the next round
                for other, *_ in rows:
                    if other.id not in sent and other.id not in failed:
                        failed[other.id] = _error_text(e)
                break
            except Exception as e:  # anything else (say, an address aiosmtplib cannot encode): this mail only
                failed[row.id] = _error_text(e)
                refused.add(row.id)
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


async def _record(rows, sent: list[int], failed: dict[int, str], permanent: set[int],
                  refused: set[int] | None = None, claim: _Claim | None = None) -> None:
    """Write each row's outcome; with a ``claim``, only rows it still holds (compare-and-set on its token), and not
    the sent ones a renewal recorded already."""
    now = utcnow()
    settings = get_settings()
    refused = refused or set()
    outcomes = {'sent': len(sent), 'retry': 0, 'dead': 0}
    mine = MailOutbox.locked_until == claim.until if claim is not None else true()
    async with db.write_lock(), db.session() as s, s.begin():
        unmarked = [i for i in sent if claim is None or i not in claim.marked]
        if unmarked:
            await s.execute(update(MailOutbox).where(MailOutbox.id.in_(unmarked), mine).values(_sent_values(now))
                            .execution_options(synchronize_session=False))
        for row, *_ in rows:
            if row.id not in failed or row.id in sent or (claim is not None and row.id not in claim.held):
                continue
            attempts = row.attempts + 1
            dead = row.id in permanent or attempts >= settings.mail_max_attempts
            outcomes['dead' if dead else 'retry'] += 1
            failure = 'compose' if row.id in permanent else 'refused' if row.id in refused else \
                'outage-again' if row.last_failure in AGAIN else 'outage'
            await s.execute(update(MailOutbox).where(MailOutbox.id == row.id, mine).values(
                attempts=attempts, last_error=failed[row.id][:2000], locked_until=None, last_failure=failure,
                status='dead' if dead else 'pending',
                next_attempt_at=now + timedelta(seconds=0 if dead else backoff(attempts))))
    for outcome, count in outcomes.items():
        if count:
            metrics.mails.labels(outcome).inc(count)


async def revive_dead(*, probe: bool = False) -> int:
    """Dead mails that died of an outage go back to pending; return how many.

    ``probe``: only the oldest, with one attempt left (a failure makes it dead again at once, with no backoff
    series); otherwise all of them, with a fresh set of attempts. A compare-and-set on ``status = 'dead'``: two
    processes reviving at once revive each mail once, and a revived mail is claimed like any other."""
    now = utcnow()
    async with db.write_lock(), db.session() as s, s.begin():
        # the probe takes the mail dead longest (its death time is next_attempt_at): one that fails is dead again
        # at once and goes to the back of the line, so a mail that always fails cannot hold the probe for ever
        query = select(MailOutbox.id).where(MailOutbox.status == 'dead', MailOutbox.last_failure == 'outage') \
            .order_by(MailOutbox.next_attempt_at, MailOutbox.id)
        ids = list((await s.execute(query.limit(1) if probe else query)).scalars())
        if not ids:
            return 0
        attempts = max(0, get_settings().mail_max_attempts - 1) if probe else 0
        result = await s.execute(update(MailOutbox).where(MailOutbox.id.in_(ids), MailOutbox.status == 'dead')
                                 .values(status='pending', attempts=attempts, next_attempt_at=now, locked_until=None,
                                         last_failure='probing' if probe else 'revived')
                                 .execution_options(synchronize_session=False))
        revived = result.rowcount  # type: ignore[attr-defined]
    if revived:
        log.info('%s %s mail(s) that died of an outage', 'probing with' if probe else 'retrying', revived)
    return revived


async def probe_dead_if_due() -> int:
    """Every ``mail_dead_retry_s``: try the oldest mail that died of an outage once more (0 when not due)."""
    interval = get_settings().mail_dead_retry_s
    if interval <= 0 or time.monotonic() - _last_probe[0] < interval:
        return 0
    _last_probe[0] = time.monotonic()
    return await revive_dead(probe=True)


async def next_due_in() -> float | None:
    async with db.session() as s:
        first = (await s.execute(select(func.min(MailOutbox.next_attempt_at))
                                 .where(MailOutbox.status == 'pending'))).scalar_one_or_none()
    if first is None:
        return None
    return max(0.0, (first - utcnow()).total_seconds())


async def run_forever(*, idle_s: float = 30.0) -> None:
    _loop.begin()
    _last_probe[0] = time.monotonic()
    while True:
        try:
            handled = await send_due()
            if handled:
                continue
            if await probe_dead_if_due():
                continue
            due = await next_due_in()
            interval = get_settings().mail_dead_retry_s
            if interval > 0:  # wake for the next probe of a dead mail
                probe_in = max(0.0, interval - (time.monotonic() - _last_probe[0]))
                due = probe_in if due is None else min(due, probe_in)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception('mail sender round failed')
            due = 5.0
        await _loop.sleep(due, idle_s)


def start() -> None:
    _loop.start(run_forever)


async def stop() -> None:
    await _loop.stop()
