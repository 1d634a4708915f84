"""Passwords people set themselves: "forgot my password" and the link staff send to a new customer.

A link carries a signed, timed token (itsdangerous, keyed with the storage secret) naming the user, the fingerprint
of their password (``auth.password_stamp``) and a digest of the address it was mailed to. Setting a password changes
the fingerprint, so a link works once; so does deactivating or reactivating the account, so a link made before a
deactivation does not come back with the reactivation. A link ends too when the account's address changes: the old
mailbox may be somebody else's now. It also expires after ``PULSE_PASSWORD_LINK_TTL_S``. Nothing is stored for a
link but the mail itself, which goes through the durable outbox like every other mail.

Asking for a link never tells whether an account exists (same answer, a mail only if it does), and an account
gets at most one link mail per ``LINK_COOLDOWN_S``, so the form cannot be used to flood someone's inbox.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from .. import auth, db
from ..config import get_settings
from ..errors import ValidationError
from ..events import AccountChanged
from ..models import MailOutbox, Role, User, utcnow
from ..notify.planner import new_message_id
from . import api_tokens
from ._uow import unit_of_work

security_log = logging.getLogger('pulse_live.security')
SALT = 'pulse-live-password-link'
MIN_NEW_PASSWORD = 8
MAX_PASSWORD = 1024
LINK_COOLDOWN_S = 300
ACCOUNT_MAIL = 'account'  # MailOutbox.kind of these mails (no ticket; subject and text are the row's own)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().resolved_storage_secret(), salt=SALT)


def _address_digest(email: str) -> str:
    """The address a link was mailed to, as the token carries it (a digest: the token is no address book)."""
    return hashlib.sha256(auth.normalise_email(email).encode()).hexdigest()[:20]


def make_token(user: User) -> str:
    return _serializer().dumps([user.id, auth.password_stamp(user), _address_digest(user.email)])


def _link(user: User) -> str:
    return f'{get_settings().base_url.rstrip("/")}/password/reset?token={make_token(user)}'


async def _queue_link_mail(user: User, *, welcome: bool) -> bool:
    """Write the mail into the outbox unless this account got one within the cooldown; True if written."""
    hours = get_settings().password_link_ttl_s / 3600
    if welcome:
        subject = 'Your Pulse Live account: choose a password'
        purpose = ('to follow your requests online' if user.role == Role.CUSTOMER
                   else f'to sign in as {user.role} of the help desk')
        intro = (f'Hello {user.display_name},\n\nan account was created for you on the Pulse Live help desk. '
                 f'Choose your password here {purpose}:')
    else:
        subject = 'Reset your Pulse Live password'
        intro = (f'Hello {user.display_name},\n\nsomebody (hopefully you) asked to reset the password of your '
                 'Pulse Live account. Choose a new password here:')
    text = (f'{intro}\n\n{_link(user)}\n\nThe link works once, for {hours:g} hours. If you did not ask for it, '
            'ignore this mail: your password stays as it is.')
    now = utcnow()
    async with unit_of_work() as uow:
        # counted, then written: one at a time per account (on PostgreSQL, five asks at once all counted none and
        # mailed five links; on SQLite the write lock already let one in at a time)
        await db.serialise(uow.session, f'link-mail:{user.id}')
        recent = (await uow.session.execute(select(func.count()).select_from(MailOutbox).where(
            MailOutbox.to_user_id == user.id, MailOutbox.kind == ACCOUNT_MAIL,
            MailOutbox.created_at > now - timedelta(seconds=LINK_COOLDOWN_S)))).scalar_one()
        if recent:
            return False
        uow.session.add(MailOutbox(to_addr=user.email, to_user_id=user.id, ticket_id=None, subject=subject,
                                   body_text=text, message_id=new_message_id(), kind=ACCOUNT_MAIL, created_at=now,
                                   next_attempt_at=now))
    from ..notify import sender
    sender.wake()
    return True


async def request_password_reset(email: str, *, address: str = 'unknown') -> None:
    """The "forgot my password" form: a link mail if the account exists and is active; silent otherwise."""
    email = auth.normalise_email(email)[:254]
    if not email:
        raise ValidationError('Enter the e-mail address of your account.')
    if not await auth.throttle.reserve_address(address):  # counted and checked in one step: a burst cannot pass it
        raise ValidationError(auth.THROTTLED_LOGIN_ERROR)
    async with unit_of_work() as uow:
        user = (await uow.session.execute(select(User).where(func.lower(User.email) == email))).scalar_one_or_none()
    if user is None or not user.is_active:
        security_log.info('password link asked for unknown or inactive account %r from %s', email, address)
        return
    # the mail is written after the answer: an answer that waited for it took ~1.4 ms longer for a known address,
    # which told a stranger timing 50 asks which addresses have accounts
    task = asyncio.create_task(_mail_reset_link(user, address), name='password-link-mail')
    _link_mails.add(task)
    task.add_done_callback(_link_mails.discard)


_link_mails: set[asyncio.Task] = set()


async def _mail_reset_link(user: User, address: str) -> None:
    try:
        if await _queue_link_mail(user, welcome=False):
            security_log.info('password link mailed to user %s (asked from %s)', user.id, address)
    except Exception:  # noqa: BLE001 — nobody waits for this answer: the failure is logged
        security_log.exception('could not write the password link mail of user %s', user.id)


async def settle_link_mails() -> None:
    """Wait until the password link mails asked for so far are written (tests; shutdown)."""
    while _link_mails:
        await asyncio.gather(*list(_link_mails), return_exceptions=True)


async def send_password_link(*, actor: User, user_id: int) -> bool:
    """Staff send a customer the link to choose a password (an invitation); admins may send it to anyone.
    Returns False when a link was mailed within the last few minutes already."""
    auth.require_staff(actor, 'send a password link to user', user_id)
    async with unit_of_work() as uow:
        user = await uow.session.get(User, user_id)
    if user is None or not user.is_active:
        raise ValidationError('No such active user.')
    if user.role != Role.CUSTOMER and actor.role != Role.ADMIN:
        raise auth.deny(actor, 'send a password link to staff user', user_id,
                        'Only an admin can send a password link to a member of staff.')
    return await _queue_link_mail(user, welcome=user.last_login_at is None)


async def user_for_token(token: str) -> User | None:
    """The user a link is for, or None when it is forged, expired, used already, the account is inactive, was
    deactivated or reactivated since, or has another address now than the one the link was mailed to."""
    try:
        user_id, fingerprint, address = _serializer().loads(token or '', max_age=get_settings().password_link_ttl_s)
        user_id = int(user_id)
    except (BadSignature, SignatureExpired, TypeError, ValueError):  # a link of the older form [id, stamp] too
        return None
    async with unit_of_work() as uow:
        user = await uow.session.get(User, user_id)
    if user is None or not user.is_active or auth.password_stamp(user) != fingerprint \
            or not hmac.compare_digest(_address_digest(user.email), str(address)):
        return None
    return user


async def reset_password(token: str, new_password: str, repeated: str) -> User:
    """Set the password chosen through a link; the link is spent by it."""
    if len(new_password or '') < MIN_NEW_PASSWORD:
        raise ValidationError(f'The password needs at least {MIN_NEW_PASSWORD} characters.')
    if len(new_password) > MAX_PASSWORD:
        raise ValidationError(f'The password may have at most {MAX_PASSWORD} characters.')
    if new_password != repeated:
        raise ValidationError('The two passwords differ.')
    user = await user_for_token(token)
    if user is None:
        raise ValidationError('This link is not valid any more (used already, or too old). Ask for a new one.')
    new_hash = await auth.hash_password(new_password)
    async with unit_of_work() as uow:
        # the link is spent by its first use, and ends with a deactivation or another address: the row is read
        # locked, so a second use at the same moment, or staff changing the account (customers.save_customer,
        # staff.set_active), are waited for and their committed row is what is checked. On PostgreSQL two uses were
        # both told "saved" before (only one password worked), and a reset that read the row while an agent's new
        # address was still uncommitted wrote its password over it: the old mailbox's owner signed in at the new one
        db_user = (await uow.session.execute(select(User).where(User.id == user.id).with_for_update(of=User)
                                             .execution_options(populate_existing=True))).scalar_one_or_none()
        if db_user is None or auth.password_stamp(db_user) != auth.password_stamp(user) \
                or db_user.email != user.email:  # spent meanwhile (a double submit), or the account changed
            raise ValidationError('This link is not valid any more (used already, or too old). Ask for a new one.')
        db_user.password_hash = new_hash
        # a reset is what someone does who fears their account was taken: tokens made with it end too (a token
        # made by an intruder kept working for up to a year after the owner took the account back)
        revoked = await api_tokens.revoke_all_of(uow.session, db_user.id, by_id=db_user.id)
        uow.publish_after_commit(AccountChanged(user_id=db_user.id))  # every open page and cached token ends
    await auth.throttle.clear_account(auth.normalise_email(user.email))
    security_log.info('password set through a link by user %s; %s API tokens revoked', user.id, revoked)
    return user
