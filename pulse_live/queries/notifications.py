"""Reading in-app notifications and the mail outbox."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from .. import db
from ..models import MailOutbox, Notification, Ticket


@dataclass
class NotificationRow:
    id: int
    text: str
    reference: str | None
    created_at: datetime
    read: bool


async def unread_count(user_id: int) -> int:
    async with db.quick() as s:
        return (await s.execute(select(func.count(Notification.id))
                                .where(Notification.user_id == user_id, Notification.read_at.is_(None)))).scalar_one()


async def recent(user_id: int, *, limit: int = 30) -> list[NotificationRow]:
    async with db.quick() as s:
        rows = (await s.execute(select(Notification, Ticket.reference)
                                .outerjoin(Ticket, Notification.ticket_id == Ticket.id)
                                .where(Notification.user_id == user_id)
                                .order_by(Notification.id.desc()).limit(limit))).all()
    return [NotificationRow(n.id, n.text, ref, n.created_at, n.read_at is not None) for n, ref in rows]


async def outbox(*, status: str | None = None, limit: int = 200) -> list[MailOutbox]:
    async with db.session() as s:
        query = select(MailOutbox).order_by(MailOutbox.id.desc()).limit(limit)
        if status:
            query = query.where(MailOutbox.status == status)
        return list((await s.execute(query)).scalars())


async def outbox_counts() -> dict[str, int]:
    async with db.session() as s:
        rows = (await s.execute(select(MailOutbox.status, func.count(MailOutbox.id)).group_by(MailOutbox.status))).all()
    return dict(rows)
