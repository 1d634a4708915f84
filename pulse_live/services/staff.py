"""Staff managed in the app (admins only): invite agents, managers and admins by e-mail, change roles, deactivate
and reactivate people, set their queue memberships.

Every change is audited (``audit_log``, entity ``user`` / ``queue_member``) in the change's own transaction. A
change of a person's role or active flag publishes ``AccountChanged`` after commit, so their open pages re-check the
session at once. Two rules keep the desk administrable: the last active admin can be neither demoted nor
deactivated (checked after the write, inside the transaction, with the admin rows locked on PostgreSQL, so two
admins demoting each other at the same moment cannot both succeed), and nobody deactivates themselves.

An invited person gets an account in the provider's organisation with a random password nobody knows, and the
password link mail (``services/accounts.py``: the same signed, single-use link as "forgot my password"), through
the outbox. Until they chose a password they cannot sign in; an admin may send the link again.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from sqlalchemy import func, select

from .. import auth, db
from ..errors import NotFound, ValidationError
from ..events import AccountChanged
from ..models import STAFF_ROLES, Queue, QueueMember, Role, User
from . import accounts, api_tokens, audit
from ._uow import unit_of_work
from .tickets import provider_organisation_id
from .users import HANDLE_RE, _check_email, handle_key

NAME_LIMIT = 200
ROLE_LABELS = {Role.AGENT.value: 'Agent', Role.MANAGER.value: 'Manager', Role.ADMIN.value: 'Admin'}


def can_manage_staff(user: User) -> bool:
    return user.role == Role.ADMIN


def _require_admin(actor: User, action: str, target: object = 'staff') -> None:
    if not can_manage_staff(actor):
        raise auth.deny(actor, action, target, 'Only admins can manage staff.')


def _staff_role(role: str) -> str:
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError(f'{role!r} is not a staff role (agent, manager, admin).') from None
    if role not in STAFF_ROLES:
        raise ValidationError('Staff are agents, managers or admins; customers are managed under Customers.')
    return role.value


async def _still_admin(session, actor: User, action: str, target: object) -> None:
    """The check again on the actor's stored row: an admin demoted or deactivated a moment ago acts no more."""
    fresh = await session.get(User, actor.id)
    if fresh is None or not fresh.is_active or fresh.role != Role.ADMIN:
        raise auth.deny(actor, action, target, 'Only admins can manage staff.')


async def _staff_member(session, user_id: int) -> User:
    user = await session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None or not auth.is_staff(user) or auth.is_system_account(user.email):
        raise NotFound('No such member of staff.')
    return user


async def _ensure_an_admin_remains(session, user: User, what: str) -> None:
    """After the caller's write: refuse (roll back) when no active admin is left."""
    await session.flush()
    remaining = (await session.execute(select(func.count(User.id)).where(
        User.role == Role.ADMIN.value, User.is_active.is_(True)))).scalar_one()
    if remaining == 0:
        raise ValidationError(f'{user.display_name} is the last active admin and cannot be {what}: '
                              'make somebody else an admin first.')


async def _lock_admins(session) -> None:
    """PostgreSQL: changes that may remove an admin wait for each other (SQLite serialises writers anyway)."""
    await session.execute(select(User.id).where(User.role == Role.ADMIN.value, User.is_active.is_(True))
                          .with_for_update())


async def _handle_for(session, handle: str | None, email: str) -> str | None:
    """The handle asked for (validated, free), or one made from the e-mail's local part when free; else None."""
    if handle is not None and handle.strip():
        handle = handle.strip().lstrip('@')
        if not HANDLE_RE.match(handle):
            raise ValidationError('A handle has 2–60 letters, digits, dots, dashes or underscores.')
        if handle.lower() == 'team':
            raise ValidationError('@Team is reserved for the whole ticket team.')
        await db.serialise(session, handle_key(handle))  # found free, then stored: one at a time per handle
        if (await session.execute(select(User.id).where(func.lower(User.handle) == handle.lower()))).first():
            raise ValidationError(f'The handle @{handle} is taken.')
        return handle
    guess = re.sub(r'[^A-Za-z0-9_.-]', '', email.split('@')[0])[:60].strip('._-')
    if not HANDLE_RE.match(guess) or guess.lower() == 'team':
        return None
    await db.serialise(session, handle_key(guess))
    taken = (await session.execute(select(User.id).where(func.lower(User.handle) == guess.lower()))).first()
    return None if taken else guess


async def _queue_names(session, queue_ids: Iterable[int]) -> dict[int, str]:
    ids = set()
    for queue_id in queue_ids:
        if isinstance(queue_id, bool) or not isinstance(queue_id, int):
            raise ValidationError(f'Queue {queue_id!r}: not a valid choice.')
        ids.add(queue_id)
    names = dict((await session.execute(select(Queue.id, Queue.name).where(Queue.id.in_(ids)))).all()) if ids else {}
    missing = ids - set(names)
    if missing:
        raise ValidationError(f'No such queue (#{", #".join(str(i) for i in sorted(missing))}).')
    return names


async def invite(*, actor: User, email: str, display_name: str, role: str, handle: str | None = None,
                 queue_ids: Iterable[int] = ()) -> tuple[User, bool]:
    """Create a staff account and mail its password link. Returns the user and whether the mail was queued."""
    _require_admin(actor, 'invite', 'staff')
    email = _check_email(email)
    display_name = ' '.join((display_name or '').split())
    if not display_name:
        raise ValidationError('Name is required.')
    if len(display_name) > NAME_LIMIT:
        raise ValidationError(f'The name is too long (at most {NAME_LIMIT} characters).')
    role = _staff_role(role)
    password_hash = await auth.hash_password(secrets.token_urlsafe(32))  # nobody knows it: the link sets one
    async with unit_of_work() as uow:
        s = uow.session
        await _still_admin(s, actor, 'invite', 'staff')
        await db.serialise(s, f'account-email:{email}')  # checked for a clash, then saved: one at a time per address
        existing = (await s.execute(select(User).where(func.lower(User.email) == email))).scalar_one_or_none()
        if existing is not None:
            hint = ' (deactivated: reactivate them instead)' if not existing.is_active else ''
            raise ValidationError(f'{email} belongs to {existing.display_name} ({existing.role}) already{hint}.')
        organisation_id = await provider_organisation_id(s)
        if organisation_id is None:
            raise ValidationError('There is no provider organisation to put staff in; run `pulse-live migrate` and '
                                  'create it first.')
        names = await _queue_names(s, queue_ids)
        user = User(email=email, password_hash=password_hash, role=role, display_name=display_name,
                    organisation_id=organisation_id, handle=await _handle_for(s, handle, email))
        s.add(user)
        await s.flush()
        audit.record(s, actor, entity='user', entity_id=user.id, action='create',
                     summary=f'Invited {display_name} <{email}> as {ROLE_LABELS[role].lower()}',
                     data={'after': {'email': email, 'role': role, 'display_name': display_name,
                                     'handle': user.handle, 'queues': sorted(names)}})
        for queue_id, name in sorted(names.items(), key=lambda kv: kv[1]):
            member = QueueMember(queue_id=queue_id, user_id=user.id)
            s.add(member)
            await s.flush()
            audit.record(s, actor, entity='queue_member', entity_id=member.id, action='create',
                         summary=f'Added {display_name} to {name}', data={'queue_id': queue_id, 'user_id': user.id})
    mailed = await accounts.send_password_link(actor=actor, user_id=user.id)
    return user, mailed


async def resend_invitation(*, actor: User, user_id: int) -> bool:
    """Mail the password link again (False: one was mailed within the last few minutes)."""
    _require_admin(actor, 'send a password link to', f'user {user_id}')
    async with unit_of_work() as uow:
        await _still_admin(uow.session, actor, 'send a password link to', f'user {user_id}')
        user = await _staff_member(uow.session, user_id)
        if not user.is_active:
            raise ValidationError(f'{user.display_name} is deactivated; reactivate them first.')
    mailed = await accounts.send_password_link(actor=actor, user_id=user.id)
    if mailed:
        async with unit_of_work() as uow:
            audit.record(uow.session, actor, entity='user', entity_id=user.id, action='invite',
                         summary=f'Sent {user.display_name} a password link')
    return mailed


async def change_role(*, actor: User, user_id: int, role: str) -> User:
    """Make a member of staff an agent, a manager or an admin."""
    _require_admin(actor, 'change the role of', f'user {user_id}')
    role = _staff_role(role)
    async with unit_of_work() as uow:
        s = uow.session
        await _lock_admins(s)
        await _still_admin(s, actor, 'change the role of', f'user {user_id}')
        user = await _staff_member(s, user_id)
        before = user.role
        if before == role:
            return user
        user.role = role
        if before == Role.ADMIN:
            await _ensure_an_admin_remains(s, user, 'demoted')
        audit.record(s, actor, entity='user', entity_id=user.id, action='update',
                     summary=f'Changed the role of {user.display_name}: {ROLE_LABELS[before]} → {ROLE_LABELS[role]}',
                     data={'before': {'role': before}, 'after': {'role': role}})
        uow.publish_after_commit(AccountChanged(user_id=user.id))
    return user


async def set_active(*, actor: User, user_id: int, active: bool) -> User:
    """Deactivate (cannot sign in; open sessions end) or reactivate a member of staff."""
    _require_admin(actor, 'reactivate' if active else 'deactivate', f'user {user_id}')
    active = bool(active)
    async with unit_of_work() as uow:
        s = uow.session
        await _lock_admins(s)
        await _still_admin(s, actor, 'reactivate' if active else 'deactivate', f'user {user_id}')
        user = await _staff_member(s, user_id)
        if user.is_active == active:
            return user
        if not active and user.id == actor.id:
            raise ValidationError('You cannot deactivate yourself; ask another admin.')
        user.is_active = active
        # sessions and password links made before end, and do not come back with a reactivation
        await auth.end_access(s, user)
        if not active and user.role == Role.ADMIN:
            await _ensure_an_admin_remains(s, user, 'deactivated')
        if not active:  # their API tokens end with the account, and do not come back with a reactivation
            await api_tokens.revoke_all_of(s, user.id, by_id=actor.id)
        audit.record(s, actor, entity='user', entity_id=user.id, action='update',
                     summary=f'{"Reactivated" if active else "Deactivated"} {user.display_name}',
                     data={'before': {'is_active': not active}, 'after': {'is_active': active}})
        uow.publish_after_commit(AccountChanged(user_id=user.id))
    return user


async def set_queues(*, actor: User, user_id: int, queue_ids: Iterable[int]) -> list[int]:
    """The queues a member of staff works: exactly these afterwards (each addition and removal audited).
    Returns the queue ids now worked."""
    _require_admin(actor, 'change the queues of', f'user {user_id}')
    queue_ids = list(queue_ids or [])
    async with unit_of_work() as uow:
        s = uow.session
        await _still_admin(s, actor, 'change the queues of', f'user {user_id}')
        user = await _staff_member(s, user_id)
        names = await _queue_names(s, queue_ids)
        current = {m.queue_id: m for m in (await s.execute(select(QueueMember)
                                                            .where(QueueMember.user_id == user.id))).scalars()}
        added, removed = set(names) - set(current), set(current) - set(names)
        if added and not user.is_active:
            raise ValidationError(f'{user.display_name} is deactivated; reactivate them before adding queues.')
        all_names = dict((await s.execute(select(Queue.id, Queue.name))).all())
        for queue_id in sorted(removed, key=lambda q: all_names.get(q, '')):
            member = current[queue_id]
            audit.record(s, actor, entity='queue_member', entity_id=member.id, action='delete',
                         summary=f'Removed {user.display_name} from {all_names.get(queue_id, queue_id)}',
                         data={'queue_id': queue_id, 'user_id': user.id})
            await s.delete(member)
        for queue_id in sorted(added, key=lambda q: names[q]):
            member = QueueMember(queue_id=queue_id, user_id=user.id)
            s.add(member)
            await s.flush()
            audit.record(s, actor, entity='queue_member', entity_id=member.id, action='create',
                         summary=f'Added {user.display_name} to {names[queue_id]}',
                         data={'queue_id': queue_id, 'user_id': user.id})
    return sorted(set(names))
