"""Queues and their members (admins; every change audited). Taking and assigning tickets: ``ownership.py``."""
from __future__ import annotations

from sqlalchemy import delete, func, select, update

from .. import auth, db
from ..errors import NotFound, ValidationError
from ..models import Queue, QueueMember, RoutingRule, Ticket, User
from . import audit
from ._uow import unit_of_work


def _require_admin(actor: User) -> None:
    if not auth.can_configure_work(actor):
        raise auth.deny(actor, 'change', 'queues', 'Only admins can change queues.')


def _clean(name: str, description: str) -> tuple[str, str]:
    name, description = (name or '').strip(), (description or '').strip()
    if not name:
        raise ValidationError('A queue needs a name.')
    if len(name) > 200:
        raise ValidationError('The queue name is too long (at most 200 characters).')
    if len(description) > 2000:
        raise ValidationError('The description is too long (at most 2000 characters).')
    return name, description


async def _name_taken(session, name: str, except_id: int | None = None) -> bool:
    query = select(Queue.id).where(func.lower(Queue.name) == name.lower())
    if except_id is not None:
        query = query.where(Queue.id != except_id)
    return (await session.execute(query)).first() is not None


async def _one_at_a_time(session) -> None:
    """Queue changes check, then write, one transaction at a time: the name's check ignores case but the column's
    unique index does not, and "one default queue" is a rule over all rows. On PostgreSQL two creations at once of
    Support and support were both stored, and two queues made the default at once both stayed the default."""
    await db.serialise(session, 'queues')


async def create_queue(*, actor: User, name: str, description: str = '', is_default: bool = False) -> Queue:
    _require_admin(actor)
    name, description = _clean(name, description)
    async with unit_of_work() as uow:
        s = uow.session
        await _one_at_a_time(s)
        if await _name_taken(s, name):
            raise ValidationError(f'A queue named {name} exists already.')
        if is_default:
            await s.execute(update(Queue).values(is_default=False))
        queue = Queue(name=name, description=description, is_default=bool(is_default))
        s.add(queue)
        await s.flush()
        audit.record(s, actor, entity='queue', entity_id=queue.id, action='create', summary=f'Added queue {name}',
                     data={'after': {'name': name, 'description': description, 'is_default': bool(is_default)}})
    return queue


async def update_queue(*, actor: User, queue_id: int, name: str, description: str = '',
                       is_default: bool = False) -> Queue:
    _require_admin(actor)
    name, description = _clean(name, description)
    async with unit_of_work() as uow:
        s = uow.session
        await _one_at_a_time(s)
        queue = await s.get(Queue, queue_id)
        if queue is None:
            raise NotFound('No such queue.')
        if await _name_taken(s, name, except_id=queue_id):
            raise ValidationError(f'A queue named {name} exists already.')
        before = {'name': queue.name, 'description': queue.description, 'is_default': queue.is_default}
        if is_default and not queue.is_default:
            await s.execute(update(Queue).where(Queue.id != queue_id).values(is_default=False))
        queue.name, queue.description, queue.is_default = name, description, bool(is_default)
        after = {'name': name, 'description': description, 'is_default': bool(is_default)}
        if after != before:
            audit.record(s, actor, entity='queue', entity_id=queue.id, action='update',
                         summary=f'Changed queue {name}', data={'before': before, 'after': after})
    return queue


async def delete_queue(*, actor: User, queue_id: int) -> None:
    """Only an empty queue can go (move its tickets first); its members and routing rules go with it."""
    _require_admin(actor)
    async with unit_of_work() as uow:
        s = uow.session
        await _one_at_a_time(s)  # (not the default queue: one made the default at once waits)
        queue = await s.get(Queue, queue_id)
        if queue is None:
            raise NotFound('No such queue.')
        count = (await s.execute(select(func.count(Ticket.id)).where(Ticket.queue_id == queue_id))).scalar_one()
        if count:
            raise ValidationError(f'{queue.name} still holds {count} ticket{"s" if count != 1 else ""}; '
                                  'move them to another queue first.')
        if queue.is_default:
            raise ValidationError(f'{queue.name} is the default queue; make another queue the default first.')
        rules = (await s.execute(select(func.count(RoutingRule.id))
                                 .where(RoutingRule.queue_id == queue_id))).scalar_one()
        audit.record(s, actor, entity='queue', entity_id=queue.id, action='delete',
                     summary=f'Deleted queue {queue.name}',
                     data={'before': {'name': queue.name, 'description': queue.description},
                           'routing_rules_removed': rules})
        await s.execute(delete(QueueMember).where(QueueMember.queue_id == queue_id)
                        .execution_options(synchronize_session=False))
        await s.execute(delete(RoutingRule).where(RoutingRule.queue_id == queue_id)
                        .execution_options(synchronize_session=False))
        await s.delete(queue)


async def add_member(*, actor: User, queue_id: int, user_id: int) -> QueueMember:
    _require_admin(actor)
    async with unit_of_work() as uow:
        s = uow.session
        queue = await s.get(Queue, queue_id)
        if queue is None:
            raise NotFound('No such queue.')
        user = await s.get(User, user_id) if isinstance(user_id, int) else None
        if user is None or not auth.is_staff(user) or not user.is_active:
            raise ValidationError('Queue members must be active agents, managers or admins.')
        if (await s.execute(select(QueueMember.id).where(QueueMember.queue_id == queue_id,
                                                         QueueMember.user_id == user_id))).first():
            raise ValidationError(f'{user.display_name} works {queue.name} already.')
        member = QueueMember(queue_id=queue_id, user_id=user_id)
        s.add(member)
        await s.flush()
        audit.record(s, actor, entity='queue_member', entity_id=member.id, action='create',
                     summary=f'Added {user.display_name} to {queue.name}',
                     data={'queue_id': queue_id, 'user_id': user_id})
    return member


async def remove_member(*, actor: User, queue_id: int, user_id: int) -> None:
    _require_admin(actor)
    async with unit_of_work() as uow:
        s = uow.session
        member = (await s.execute(select(QueueMember).where(QueueMember.queue_id == queue_id,
                                                            QueueMember.user_id == user_id))).scalar_one_or_none()
        if member is None:
            raise NotFound('That person is not a member of this queue.')
        queue, user = await s.get(Queue, queue_id), await s.get(User, user_id)
        audit.record(s, actor, entity='queue_member', entity_id=member.id, action='delete',
                     summary=f'Removed {user.display_name if user else user_id} '
                             f'from {queue.name if queue else queue_id}',
                     data={'queue_id': queue_id, 'user_id': user_id})
        await s.delete(member)
