"""Zulip's "missed messages": in-app notifications still unread after the user's delay, while the user is
offline, go out by mail, so nothing falls through."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select

from .. import db, presence
from ..models import Notification, Ticket, User, utcnow
from . import planner, sender

log = logging.getLogger(__name__)
_task: asyncio.Task | None = None


async def mail_missed() -> int:
    """Queue mails for unread, unmailed notifications older than each user's delay; return how many."""
    now = utcnow()
    count = 0
    async with db.session() as s, s.begin():
        rows = (await s.execute(
            select(Notification, User, Ticket).join(User, Notification.user_id == User.id)
            .outerjoin(Ticket, Notification.ticket_id == Ticket.id)
            .where(Notification.read_at.is_(None), Notification.mailed_at.is_(None),
                   User.email_notifications.is_(True), User.is_active.is_(True))
            .order_by(Notification.id).limit(1000))).all()
        for note, user, ticket in rows:
            if note.created_at > now - timedelta(seconds=user.notify_delay_s) or presence.is_online(user.id):
                continue
            note.mailed_at = now
            if ticket is not None:
                await planner.enqueue(s, user=user, ticket=ticket, kind='missed',
                                      item={'event_id': note.event_id, 'text': note.text, 'why': ['missed']})
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
        try:
            await _task
        except (asyncio.CancelledError, Exception):
            pass
    _task = None
