"""E-mail in: IMAP mailboxes (IDLE, poll as fallback) feeding queues.

One watcher task per active mailbox in the process that runs the intake (``PULSE_MAIL_INTAKE_WORKER``); a supervisor
loop starts and stops them as admins change mailboxes. A watcher:

1. claims its mailbox in the database (``claimed_by``/``claimed_until``: a lease of ``PULSE_MAIL_INTAKE_CLAIM_S``,
   renewed while it works; another process takes over only after the lease ran out), so only one process imports a
   mailbox even when several run the intake;
2. connects (``imap.py``), checks UIDVALIDITY (a changed one starts the folder afresh from UID 0: the mails already
   imported are recognised by their Message-ID), fetches every mail with a UID above ``last_uid`` and imports each
   (``services/mail_intake.import_mail``: exactly once, the record written with the ticket change), the mails of a
   fetch in one transaction with a savepoint per mail (``catch_up``);
3. waits with IDLE (renewed every ``PULSE_MAIL_INTAKE_POLL_S``), or polls at that interval without IDLE;
4. when the server goes away (mid-IDLE or anywhere), records the error on the mailbox and reconnects with
   exponential backoff and jitter, up to ``PULSE_MAIL_INTAKE_RECONNECT_MAX_S``.

``last_uid`` only saves work: a restart may fetch a mail again, and the import skips what is recorded already.
Nothing here blocks the event loop (aioimaplib is asyncio; parsing runs in a thread).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update

from ... import db
from ...config import get_settings
from ...models import Mailbox, utcnow

log = logging.getLogger('pulse_live.intake.mail')

PROCESS_ID = f'{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}'
SUPERVISE_EVERY_S = 10.0
MAX_ATTEMPTS = 3  # an import failing this often in a row (not a refusal: an error) is kept as a failed import
_failures: dict[tuple[int, int, int], int] = {}

_supervisor: asyncio.Task[None] | None = None
_watchers: dict[int, asyncio.Task[None]] = {}
_wake = asyncio.Event()


def start() -> None:
    """Start the mailbox watchers in this process (called at startup when the mail worker runs here)."""
    global _supervisor  # noqa: PLW0603
    if _supervisor is None or _supervisor.done():
        _supervisor = asyncio.get_running_loop().create_task(_supervise(), name='mail-intake')


def reload() -> None:
    """Look at the mailboxes again now (an admin changed one)."""
    _wake.set()


async def stop() -> None:
    """Stop the mailbox watchers (their claims are released)."""
    global _supervisor  # noqa: PLW0603
    tasks = [t for t in [_supervisor, *_watchers.values()] if t is not None]
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    _supervisor = None
    _watchers.clear()


async def _active_mailboxes() -> dict[int, tuple]:
    from sqlalchemy import select
    async with db.session() as s:
        rows = await s.execute(select(Mailbox.id, Mailbox.host, Mailbox.port, Mailbox.security, Mailbox.auth,
                                      Mailbox.username, Mailbox.secret_encrypted, Mailbox.folder)
                               .where(Mailbox.active.is_(True)))
        return {row[0]: tuple(row[1:]) for row in rows}


async def _supervise() -> None:
    seen: dict[int, tuple] = {}
    while True:
        try:
            boxes = await _active_mailboxes()
            for box_id, task in list(_watchers.items()):
                if box_id not in boxes or boxes[box_id] != seen.get(box_id) or task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                    del _watchers[box_id]
            for box_id in boxes:
                if box_id not in _watchers:
                    _watchers[box_id] = asyncio.get_running_loop().create_task(watch(box_id),
                                                                               name=f'mailbox-{box_id}')
            seen = boxes
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 — the supervisor keeps going (the database may be back next time)
            log.exception('mail intake supervisor')
        _wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_wake.wait(), SUPERVISE_EVERY_S)


async def claim(mailbox_id: int, *, owner: str = PROCESS_ID) -> bool:
    """Take or renew the lease on a mailbox; False when another process holds it."""
    now = utcnow()
    until = now + timedelta(seconds=get_settings().mail_intake_claim_s)
    async with db.write_lock(), db.session() as s, s.begin():
        result = await s.execute(update(Mailbox).where(
            Mailbox.id == mailbox_id, Mailbox.active.is_(True),
            or_(Mailbox.claimed_by.is_(None), Mailbox.claimed_by == owner, Mailbox.claimed_until < now))
            .values(claimed_by=owner, claimed_until=until).execution_options(synchronize_session=False))
        return bool(getattr(result, 'rowcount', 0) == 1)


async def release(mailbox_id: int, *, owner: str = PROCESS_ID) -> None:
    async with db.write_lock(), db.session() as s, s.begin():
        await s.execute(update(Mailbox).where(Mailbox.id == mailbox_id, Mailbox.claimed_by == owner)
                        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False))


async def _note(mailbox_id: int, **values: object) -> None:
    async with db.write_lock(), db.session() as s, s.begin():
        await s.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(**values)
                        .execution_options(synchronize_session=False))


async def watch(mailbox_id: int, *, owner: str = PROCESS_ID) -> None:
    """Watch one mailbox until cancelled (see the module docstring)."""
    settings = get_settings()
    delay = 1.0
    try:
        while True:
            try:
                if not await claim(mailbox_id, owner=owner):  # (a database error here is noted and retried too)
                    await asyncio.sleep(settings.mail_intake_claim_s / 2)
                    continue
                await _session(mailbox_id, owner)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 — recorded on the mailbox, then reconnect
                text = f'{type(error).__name__}: {error}'[:1000]
                log.warning('mailbox %s: %s; reconnecting in %.1f s', mailbox_id, text, delay)
                with contextlib.suppress(Exception):
                    await _note(mailbox_id, last_error=text, last_checked=utcnow())
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, settings.mail_intake_reconnect_max_s)
                continue
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(release(mailbox_id, owner=owner))


async def _load(mailbox_id: int) -> tuple:
    from .imap import settings_of
    async with db.session() as s:
        box = await s.get(Mailbox, mailbox_id)
        if box is None or not box.active:
            raise asyncio.CancelledError()
        return settings_of(box), box.uidvalidity, box.last_uid


async def _session(mailbox_id: int, owner: str) -> None:
    """One connection: catch up, then wait for news, until the connection fails."""
    from ...services.mailboxes import connect_mailbox
    settings = get_settings()
    conf, uidvalidity, last_uid = await _load(mailbox_id)
    connection, server_validity, _ = await connect_mailbox(conf)  # (an XOAUTH2 token is refreshed when due)
    try:
        if uidvalidity != server_validity:
            if uidvalidity is not None:
                log.warning('mailbox %s: UIDVALIDITY changed (%s → %s): reading the folder afresh', mailbox_id,
                            uidvalidity, server_validity)
            uidvalidity, last_uid = server_validity, 0
            await _note(mailbox_id, uidvalidity=uidvalidity, last_uid=0)
        await _note(mailbox_id, last_error='', last_checked=utcnow())
        while True:
            before = last_uid
            last_uid = await catch_up(connection, mailbox_id, uidvalidity, last_uid)
            if not await claim(mailbox_id, owner=owner):
                return  # another process has it now
            if last_uid != before:
                continue  # mails that arrived during the catch-up are not announced by the IDLE started after it
            wait = min(settings.mail_intake_poll_s, settings.mail_intake_claim_s / 2)  # renew the lease in time
            if settings.mail_intake_idle:
                await connection.wait(wait)
            else:
                await asyncio.sleep(wait)
                await connection.noop()
    finally:
        await connection.close()


_single: dict[int, int] = {}  # mailbox → UID: up to it, one mail per transaction (a batch failed to commit)


async def _import_batch(mailbox_id: int, uidvalidity: int, uids: list[int], mails: dict[int, bytes],
                        last_uid: int, ready: dict[int, Any] | None = None,
                        too_large: dict[int, int] | None = None) -> tuple[int, BaseException | None]:
    """Import the mails of ``uids`` in order in ONE transaction (``_uow.batch``), each in a savepoint of its own, until
    ``mail_intake_batch_s`` has passed or a mail fails with an error (its savepoint rolled back, the batch ends
    there). ``last_uid`` moves in the same transaction. Returns how many went in and the error that ended it.

    The mails are read and their files written first (``mail_intake.prepare``, half the time budget), before the
    batch takes the write lock: parsing a large mail and a slow object store held every writer of the process back
    (an agent's post waited 3.8 s behind one mail whose attachment took 2 s to store). The batch does database work.

    ``ready``: mails read ahead by an earlier batch of the same fetch (UID → ``Prepared``), inside the caller's
    ``storage.remembering()``; what this batch reads ahead and does not import stays in it for the next one (reading
    is about a quarter of a mail's time, and a third of the mails read ahead were read twice).

    ``too_large``: UID → size on the server of the mails over ``mail_intake_max_bytes``, of which ``mails`` holds only
    the header (``imap.Connection.fetch_headers``): each is refused as too large from its header."""
    from ... import storage
    from ...services._uow import batch
    from ...services.mail_intake import import_mail, prepare
    limit = get_settings().mail_intake_batch_s
    count, failure = 0, None
    if ready is None:
        ready = {}
    with contextlib.ExitStack() as stack:
        if not storage.remembers():  # what prepare wrote, the import does not write again
            stack.enter_context(storage.remembering())
        todo, started = [], time.monotonic()
        for uid in uids:
            value = ready.get(uid)
            if value is None:
                value = await prepare(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid, raw=mails[uid],
                                      store=True, too_large=(too_large or {}).get(uid))
            ready[uid] = value
            todo.append(uid)
            if time.monotonic() - started >= limit / 2:
                break
        started = time.monotonic()
        async with batch() as b:
            for uid in todo:
                prepared = ready[uid]
                try:
                    async with b.part():
                        await import_mail(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid, raw=mails[uid],
                                          prepared=prepared)
                except Exception as error:  # noqa: BLE001 — the mails before it commit; the caller decides about it
                    failure = error
                    break
                count += 1
                del ready[uid]
                if time.monotonic() - started >= limit:
                    break
            if count:
                await b.session.execute(update(Mailbox).where(Mailbox.id == mailbox_id)
                                        .values(last_uid=max(last_uid, uids[count - 1]), last_checked=utcnow())
                                        .execution_options(synchronize_session=False))
    return count, failure


async def catch_up(connection, mailbox_id: int, uidvalidity: int, last_uid: int) -> int:
    """Import every mail above ``last_uid``; returns the new ``last_uid``.

    The mails of a fetch (up to ``imap.FETCH_BATCH_COUNT``) are imported in order, in one transaction per
    ``mail_intake_batch_s`` (``_import_batch``): each mail's ticket change and its ``ImportedMail`` record in a
    savepoint, ``last_uid`` and every event published after the commit. A mail failing with an error ends its batch
    (the mails before it commit): it is tried again on the next round (the watcher reconnects), and after
    ``MAX_ATTEMPTS`` failures it is kept as a failed import and the mailbox moves on. A batch whose commit fails is
    tried again one mail per transaction, so one mail's fault cannot hold back the others.

    A mail whose size on the server (RFC822.SIZE) is over ``mail_intake_max_bytes`` is never downloaded: only its
    header is fetched, and the import refuses it as too large from that (recorded, kept, bounced, ``last_uid`` moved:
    like any mail that is refused)."""
    from ... import storage
    from ...services.mail_intake import intake_user
    from .imap import batches
    new = await connection.new_uids(last_uid)
    limit = get_settings().mail_intake_max_bytes
    too_large = {uid: size for uid, size in new if size > limit}
    if not new:
        await _note(mailbox_id, last_checked=utcnow())
        return last_uid
    await intake_user()  # made once, in a transaction of its own (never inside a batch that may roll back)
    with storage.remembering():  # the files of mails read ahead (``ready``) are not written again by their import
        for uids in batches(new, max_bytes=limit):
            last_uid = await _import_fetched(connection, mailbox_id, uidvalidity, uids, last_uid, too_large)
    return last_uid


async def _import_fetched(connection, mailbox_id: int, uidvalidity: int, uids: list[int], last_uid: int,
                          too_large: dict[int, int] | None = None) -> int:
    """One fetch of ``catch_up``: its mails imported in batches; what a batch read ahead and did not import is kept
    for the next (``ready``: UID → ``Prepared``). Of the mails in ``too_large`` (UID → size on the server) only the
    header is fetched."""
    from ...services.mail_intake import keep_failed
    too_large = {uid: (too_large or {})[uid] for uid in uids if uid in (too_large or {})}
    mails = await connection.fetch([uid for uid in uids if uid not in too_large])
    if too_large:
        mails.update(await connection.fetch_headers(list(too_large)))
    todo = [uid for uid in uids if uid in mails]  # (a UID missing: expunged meanwhile)
    ready: dict[int, Any] = {}
    while todo:
        single = todo[0] <= _single.get(mailbox_id, 0)
        try:
            count, failure = await _import_batch(mailbox_id, uidvalidity, todo[:1] if single else todo, mails,
                                                 last_uid, ready, too_large)
        except Exception as error:  # the commit failed: nothing of this batch is in
            if not single:
                _single[mailbox_id] = todo[-1]
                raise
            count, failure = 0, error
        for uid in todo[:count]:
            _failures.pop((mailbox_id, uidvalidity, uid), None)
        if count:
            last_uid = max(last_uid, todo[count - 1])
            todo = todo[count:]
        if failure is None:
            continue
        uid = todo[0]
        key = (mailbox_id, uidvalidity, uid)
        _failures[key] = _failures.get(key, 0) + 1
        if _failures[key] < MAX_ATTEMPTS:
            raise failure  # perhaps passing (the database away): the watcher reconnects and tries again
        log.error('mailbox %s: mail %s failed %s times; kept for the admin', mailbox_id, uid, MAX_ATTEMPTS,
                  exc_info=failure)
        await keep_failed(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid, raw=mails[uid],
                          error=f'{type(failure).__name__}: {failure}', size=too_large.get(uid))
        _failures.pop(key, None)
        last_uid = max(last_uid, uid)
        todo = todo[1:]
        await _note(mailbox_id, last_uid=last_uid, last_checked=utcnow())
    if _single.get(mailbox_id, 0) <= last_uid:
        _single.pop(mailbox_id, None)
    last_uid = max([last_uid, *uids])
    await _note(mailbox_id, last_uid=last_uid, last_checked=utcnow())
    return last_uid
