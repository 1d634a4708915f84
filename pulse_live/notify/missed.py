"""Zulip's "missed messages": in-app notifications still unread after the user's delay, while the user is
offline, go out by mail, so nothing falls through."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy import ColumnElement, func, literal, select, update

from .. import db, presence
from ..models import Notification, Ticket, User, utcnow
from . import planner, sender

log = logging.getLogger(__name__)
_task: asyncio.Task | None = None
PAGE = 500  # notifications claimed per transaction
USERS_PER_QUERY = 500  # user ids per IN (...) list


def _due(now: datetime) -> list[ColumnElement[bool]]:
    """SQL conditions (with ``users`` joined): unread, not mailed yet, the user wants mail, and the notification is
    older than that user's own delay, counted from when it was created."""
    if db.is_sqlite():  # DateTime is stored as text there: compare as Julian days (fractions of seconds kept)
        old_enough = (func.julianday(literal(now)) - func.julianday(Notification.created_at)) * 86400.0 \
            >= User.notify_delay_s
    else:
        old_enough = Notification.created_at + func.make_interval(0, 0, 0, 0, 0, 0, User.notify_delay_s) <= now
    return [Notification.read_at.is_(None), Notification.mailed_at.is_(None), User.email_notifications.is_(True),
            User.is_active.is_(True), old_enough]


async def mail_missed() -> int:
    """Queue mails for unread, unmailed notifications older than each user's delay, for users who are offline;
    return how many notifications were queued for mail.

    The delay is checked in SQL and online users are left out of the query (not skipped after it), and the
    notifications are walked with an id cursor, so however many old unread notifications an online user has,
    every offline user is reached in the same scan. Each page is claimed with a compare-and-set on ``mailed_at``,
    so two processes scanning at once mail a notification once."""
    now = utcnow()
    async with db.session() as s:
        waiting = list((await s.execute(
            select(Notification.user_id).join(User, Notification.user_id == User.id)
            .where(*_due(now)).distinct())).scalars())
    # online by another process's share only if it was refreshed within a heartbeat: a dead process's users are
    # offline for this scan at once, not after the share's expiry
    offline = sorted(uid for uid in waiting if not presence.is_online(uid, fresh_s=presence.FRESH_S))
    count = 0
    for start in range(0, len(offline), USERS_PER_QUERY):
        user_ids = offline[start:start + USERS_PER_QUERY]
        cursor = 0
        while True:
            async with db.write_lock(), db.session() as s, s.begin():
                ids = list((await s.execute(
                    select(Notification.id).join(User, Notification.user_id == User.id)
                    .where(Notification.user_id.in_(user_ids), Notification.id > cursor, *_due(now))
                    .order_by(Notification.id).limit(PAGE))).scalars())
                if not ids:
                    break
                cursor = ids[-1]
                claimed = sorted((await s.execute(
                    update(Notification)
                    .where(Notification.id.in_(ids), Notification.read_at.is_(None), Notification.mailed_at.is_(None))
                    .values(mailed_at=now)
                    .returning(Notification.id, Notification.user_id, Notification.ticket_id, Notification.event_id,
                               Notification.text)
                    .execution_options(synchronize_session=False))).all())
                # the open mails are locked in their keys' order (planner.lock_batches): not in the notifications'
                await planner.lock_batches(s, (planner.batch_key(row.user_id, row.ticket_id) for row in claimed
                                               if row.ticket_id is not None))
                for _, user_id, ticket_id, event_id, text in claimed:
                    if ticket_id is None:
                        continue
                    user, ticket = await s.get(User, user_id), await s.get(Ticket, ticket_id)
                    if user is None or ticket is None:
                        continue
                    await planner.enqueue(s, user=user, ticket=ticket, kind='missed',
                                          item={'event_id': event_id, 'text': text, 'why': ['missed']})
                    count += 1
    if count:
        sender.wake()
    return count


async def run_forever(interval_s: float = 15.0) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await mail_missed()
        except Exception:
            log.exception('missed-notification scan failed')


def start() -> None:
    global _task  # noqa: PLW0603
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(run_forever())


async def stop() -> None:
    global _task  # noqa: PLW0603
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await _task
    _task = None
