"""In-app notifications (mark read) and the mail outbox administration (retry now, retry all)."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, case, or_, update

from .. import auth
from ..errors import NotFound, ValidationError
from ..events import NotificationsRead
from ..models import MailOutbox, Notification, Role, User, utcnow
from ..notify.planner import SCOPES
from ._uow import unit_of_work


async def mark_read(*, actor: User, notification_ids: list[int] | None = None) -> int:
    """Mark the actor's notifications read (all of them when no ids are given); return how many changed."""
    async with unit_of_work() as uow:
        query = update(Notification).where(Notification.user_id == actor.id, Notification.read_at.is_(None))
        if notification_ids is not None:
            if not all(isinstance(i, int) for i in notification_ids):
                raise ValidationError('Notification ids must be numbers.')
            query = query.where(Notification.id.in_(notification_ids))
        result = cast(CursorResult[Any], await uow.session.execute(
            query.values(read_at=utcnow()).execution_options(synchronize_session=False)))
        if result.rowcount:
            uow.publish_after_commit(NotificationsRead(user_id=actor.id))
    return result.rowcount


async def retry_now(*, actor: User, outbox_id: int) -> None:
    """Admin: send a pending or failed (dead) mail at the next round, with a fresh set of attempts if it was dead.

    A mail a sender has claimed (``locked_until`` still ahead) is being sent right now: it is left alone, since
    releasing the claim would let another sender send it a second time. The change is one compare-and-set UPDATE,
    so a claim taken between reading the row and writing it is never overwritten either."""
    auth.require_role(actor, Role.ADMIN, action='retry the mail', target=outbox_id)
    now = utcnow()
    async with unit_of_work() as uow:
        result = cast(CursorResult[Any], await uow.session.execute(
            update(MailOutbox)
            .where(MailOutbox.id == outbox_id, MailOutbox.status.in_(('pending', 'dead')),
                   or_(MailOutbox.locked_until.is_(None), MailOutbox.locked_until < now))
            .values(status='pending', next_attempt_at=now, locked_until=None, last_failure='',
                    attempts=case((MailOutbox.status == 'dead', 0), else_=MailOutbox.attempts))
            .execution_options(synchronize_session=False)))
        if not result.rowcount:
            row = await uow.session.get(MailOutbox, outbox_id)
            if row is None:
                raise NotFound('No such mail.')
            if row.status == 'sent':
                raise ValidationError('This mail was sent already.')
            if row.locked_until is not None and row.locked_until >= now:
                raise ValidationError('This mail is being sent right now; look again in a minute '
                                      '(if it fails it is retried by itself).')
            raise ValidationError('This mail cannot be retried.')
    from ..notify import sender
    sender.wake()


async def retry_all(*, actor: User) -> int:
    """Admin: every failed (dead) mail gets a fresh set of attempts at the next round; return how many.

    One compare-and-set UPDATE on ``status = 'dead'``: a mail revived meanwhile by the sender (after an outage) or
    by another admin is counted once, and a dead mail is never claimed, so none can be sent twice."""
    auth.require_role(actor, Role.ADMIN, action='retry every failed mail')
    now = utcnow()
    async with unit_of_work() as uow:
        result = cast(CursorResult[Any], await uow.session.execute(
            update(MailOutbox).where(MailOutbox.status == 'dead')
            .values(status='pending', next_attempt_at=now, locked_until=None, attempts=0, last_failure='')
            .execution_options(synchronize_session=False)))
    if result.rowcount:
        from ..notify import sender
        sender.wake()
    return result.rowcount


async def update_preferences(*, actor: User, email_notifications: bool, notify_delay_s: int,
                             notify_scope: str | None = None) -> None:
    """The actor's own notification preferences. ``notify_scope`` (managers and admins only; None keeps it) says
    what they hear beyond the tickets they are on: ``mine``, ``queues`` (their queues) or ``all``."""
    if not isinstance(notify_delay_s, int) or not 0 <= notify_delay_s <= 7 * 24 * 3600:
        raise ValidationError('The delay must be between 0 seconds and 7 days.')
    if notify_scope is not None:
        if notify_scope not in SCOPES:
            raise ValidationError(f'{notify_scope!r} is not a choice; choose one of: {", ".join(SCOPES)}.')
        if notify_scope != 'mine' and actor.role not in (Role.MANAGER, Role.ADMIN):
            raise ValidationError('Only managers and admins choose to hear of tickets they are not on.')
    async with unit_of_work() as uow:
        user = await uow.session.get(User, actor.id)
        if user is None:
            raise NotFound('User not found.')
        user.email_notifications = bool(email_notifications)
        user.notify_delay_s = notify_delay_s
        if notify_scope is not None:
            user.notify_scope = notify_scope
