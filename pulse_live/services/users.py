"""Users, organisations and the business card."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from .. import auth, contact, db
from ..errors import NotFound, ValidationError
from ..models import Organisation, Role, User
from . import audit
from ._uow import unit_of_work

HANDLE_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{1,59}$')
MIN_PASSWORD = 4


def _check_email(email: str) -> str:
    """The address in its stored form, or ``ValidationError`` saying why it cannot be one (``contact.py``)."""
    return contact.check_email(email)


async def create_organisation(*, actor: User | None, name: str, is_provider: bool = False,
                              tier: str = 'standard') -> Organisation:
    """Create an organisation (managers and admins; ``actor`` None: the system — command line, demo seed). Audited.
    Customer organisations are usually made with ``customers.save_organisation``, which validates the tier."""
    if actor is not None and not auth.can_manage_organisations(actor):
        raise auth.deny(actor, 'create organisation', name, 'Only managers and admins can create organisations.')
    name = (name or '').strip()
    if not name:
        raise ValidationError('Organisation name is required.')
    async with unit_of_work() as uow:
        if (await uow.session.execute(select(Organisation.id).where(Organisation.name == name))).first():
            raise ValidationError(f'An organisation named {name} exists already.')
        org = Organisation(name=name, is_provider=is_provider, tier=tier)
        uow.session.add(org)
        await uow.session.flush()
        audit.record(uow.session, actor, entity='organisation', entity_id=org.id, action='create',
                     summary=f'Created organisation {name}',
                     data={'after': {'name': name, 'is_provider': is_provider, 'tier': tier}})
    return org


async def create_user(*, actor: User | None, email: str, password: str, role: str, display_name: str,
                      organisation_id: int, handle: str | None = None, phone: str = '', location: str = '',
                      department: str = '', card_published: bool = False, password_hash: str | None = None) -> User:
    """Create an account with a password (admins; ``actor`` None: the system — command line, demo seed). Audited.
    Staff invite people by password link instead (``staff.invite``, ``customers.save_customer``)."""
    if actor is not None and actor.role != Role.ADMIN:
        raise auth.deny(actor, 'create user', email, 'Only admins can create accounts this way.')
    email = _check_email(email)
    number = contact.check_phone(phone)
    try:
        role = Role(role).value
    except ValueError:
        raise ValidationError(f'{role!r} is not a role (customer, agent, manager, admin).') from None
    display_name = card_text('Name', display_name, required=True)
    location, department = card_text('Location', location), card_text('Department', department)
    if password_hash is None:
        if len(password or '') < MIN_PASSWORD:
            raise ValidationError(f'The password needs at least {MIN_PASSWORD} characters.')
        password_hash = await auth.hash_password(password)
    if handle is not None:
        handle = handle.strip().lstrip('@') or None
        if handle and not HANDLE_RE.match(handle):
            raise ValidationError('A handle has 2–60 letters, digits, dots, dashes or underscores.')
    async with unit_of_work() as uow:
        s = uow.session
        if await s.get(Organisation, organisation_id) is None:
            raise ValidationError('No such organisation.')
        await db.serialise(s, f'account-email:{email}')  # checked for a clash, then saved: one at a time per address
        if (await s.execute(select(User.id).where(func.lower(User.email) == email))).first():
            raise ValidationError(f'A user with the e-mail {email} exists already.')
        if handle:
            await db.serialise(s, handle_key(handle))  # found free, then stored: one at a time per handle
        if handle and (await s.execute(select(User.id).where(func.lower(User.handle) == handle.lower()))).first():
            raise ValidationError(f'The handle @{handle} is taken.')
        user = User(email=email, password_hash=password_hash, role=role, display_name=display_name,
                    organisation_id=organisation_id, handle=handle, phone=number.display, phone_e164=number.e164,
                    location=location, department=department, card_published=card_published)
        s.add(user)
        await s.flush()
        audit.record(s, actor, entity='user', entity_id=user.id, action='create',
                     summary=f'Created {role} {email}',
                     data={'after': {'email': email, 'role': role, 'organisation_id': organisation_id}})
    return user


def handle_key(handle: str) -> str:
    """``db.serialise``'s key for a handle: handles are unique without regard to case (the column's index is not),
    so @Racer and @racer checked at once on PostgreSQL were both found free and both stored."""
    return f'handle:{handle.lower()}'


CARD_TEXT_LIMIT = 200  # the columns' size (String(200)); PostgreSQL refuses more, SQLite stored 250,000 characters
_BIDI_CONTROLS = re.compile('[\u202a-\u202e\u2066-\u2069\u200e\u200f]')


def card_text(label: str, value: object, *, required: bool = False) -> str:
    """A name, location or department as it is shown everywhere: one line (line breaks and runs of spaces become one
    space: a name is a mail's line too), no text-direction controls (they make a name read as another), at most
    CARD_TEXT_LIMIT characters."""
    if value is None:
        value = ''
    if not isinstance(value, str):
        raise ValidationError(f'{label} must be text.')
    text = ' '.join(_BIDI_CONTROLS.sub('', value).split())
    if required and not text:
        raise ValidationError(f'{label} is required.')
    if len(text) > CARD_TEXT_LIMIT:
        raise ValidationError(f'{label} is too long ({len(text)} characters; at most {CARD_TEXT_LIMIT}).')
    return text


async def update_card(*, actor: User, display_name: str, handle: str, phone: str = '', location: str = '',
                      department: str = '', card_published: bool = False) -> User:
    """A user edits their own business card and chooses whether to publish it."""
    display_name = card_text('Name', display_name, required=True)
    location, department = card_text('Location', location), card_text('Department', department)
    handle = (handle or '').strip().lstrip('@')
    if handle and not HANDLE_RE.match(handle):
        raise ValidationError('A handle has 2–60 letters, digits, dots, dashes or underscores.')
    if handle.lower() == 'team':
        raise ValidationError('@Team is reserved for the whole ticket team.')
    if card_published and not handle:
        raise ValidationError('Choose a handle before publishing your card.')
    async with unit_of_work() as uow:
        s = uow.session
        user = await s.get(User, actor.id)
        if user is None:
            raise NotFound('User not found.')
        number = contact.check_phone(phone, kept=user.phone)  # an old, unchecked number may stay as it is
        if handle:
            await db.serialise(s, handle_key(handle))  # found free, then stored: one at a time per handle
        if handle and (await s.execute(select(User.id).where(func.lower(User.handle) == handle.lower(),
                                                             User.id != user.id))).first():
            raise ValidationError(f'The handle @{handle} is taken.')
        user.display_name, user.handle = display_name, handle or None
        user.phone, user.phone_e164 = number.display, number.e164
        user.location, user.department = location, department
        user.card_published = card_published
    return user
