"""Passwords, login and every permission check, in one place."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime, timedelta

from passlib.context import CryptContext
from sqlalchemy import ColumnElement, bindparam, delete, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from . import db, visibility
from .config import get_settings
from .errors import LoginRefused, PermissionDenied, ServiceError
from .models import LoginFailure, Role, TeamMember, Ticket, User, utcnow
from .ops import metrics

security_log = logging.getLogger('pulse_live.security')
_context = CryptContext(schemes=['argon2'], deprecated='auto')
_DUMMY_HASH = _context.hash('pulse-live-dummy-password')
GENERIC_LOGIN_ERROR = 'Email or password is not correct.'
THROTTLED_LOGIN_ERROR = 'Too many failed attempts. Please wait a few minutes and try again.'


def hash_password_sync(password: str) -> str:
    return _context.hash(password)


async def hash_password(password: str) -> str:
    """Hash off the event loop (argon2 takes ~0.1 s)."""
    return await asyncio.to_thread(_context.hash, password)


def password_stamp(user: User) -> str:
    """Changes whenever the password does, and whenever the account is deactivated, reactivated or given another
    sign-in address (``User.access_epoch``): kept in the browser session at login, so each of these signs out every
    other session (``components/session.py``), and password links made before stop working (``accounts.py``)."""
    epoch = user.access_epoch or 0
    material = user.password_hash if not epoch else f'{user.password_hash}\0{epoch}'  # 0: the stamp as it was
    return hashlib.sha256(material.encode()).hexdigest()[:20]


async def end_access(session: AsyncSession, user: User) -> None:
    """The account was deactivated, reactivated or given another sign-in address: its sessions and the password
    links made before end (the caller publishes ``AccountChanged`` after its commit, so open pages end at once).
    Counted up in SQL: two changes at once add 2 (the epoch read, plus 1, written back, rose by 1 on PostgreSQL, and a
    session started between the two changes outlived the second)."""
    user.access_epoch = User.access_epoch + 1
    await session.flush()
    await session.refresh(user, ['access_epoch'])


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(_context.verify, password, password_hash)


class _BudgetSpent(Exception):
    pass


class LoginThrottle:
    """Failed logins per account and per client address in a sliding window.

    The failures are rows in ``login_failures``, so all app processes (several on PostgreSQL) share one budget:
    spreading attempts over processes gains an attacker nothing. Rows older than the window are pruned as new
    failures come in."""

    @staticmethod
    def _keys(email: str, address: str) -> tuple[str, str]:
        return f'acct:{email}'[:320], f'addr:{address}'[:320]

    async def failures(self, email: str, address: str) -> tuple[int, int]:
        """Recent failures of the account and of the address, within the window."""
        account, client = self._keys(email, address)
        since = utcnow() - timedelta(seconds=get_settings().login_throttle_window_s)
        async with db.session() as session:
            counts = dict((await session.execute(
                select(LoginFailure.key, func.count()).where(LoginFailure.key.in_((account, client)),
                                                            LoginFailure.at > since)
                .group_by(LoginFailure.key))).all())
        return counts.get(account, 0), counts.get(client, 0)

    async def is_blocked(self, email: str, address: str) -> bool:
        return self.over_limit(*await self.failures(email, address))

    @staticmethod
    def over_limit(account_failures: int, address_failures: int) -> bool:
        s = get_settings()
        return (account_failures >= s.login_max_failures_per_account
                or address_failures >= s.login_max_failures_per_address)

    async def record_failure(self, email: str, address: str) -> None:
        now = utcnow()
        cutoff = now - timedelta(seconds=get_settings().login_throttle_window_s)
        async with db.write_lock(), db.session() as session, session.begin():
            await session.execute(delete(LoginFailure).where(LoginFailure.at <= cutoff))
            session.add_all([LoginFailure(key=key, at=now) for key in self._keys(email, address)])

    async def reserve(self, email: str, address: str) -> tuple[list[int], int] | None:
        """Count this attempt against the account and the address *before* the password is checked, atomically:
        the rows are written and the budget counted in one transaction that concurrent attempts — in this process
        or any other — cannot interleave with (PostgreSQL: an advisory lock per key; SQLite: the first statement
        writes, so the file's write lock is held until the commit). Returns the reserved rows' ids and the
        account's earlier failures, or None (nothing written) when the budget is spent. A wrong password leaves
        the rows as its failure; a right one removes them (``release``)."""
        account, client = self._keys(email, address)
        try:
            ids, counts = await self._reserve((account, client))
        except _BudgetSpent:
            return None  # rolled back: a refused attempt is not checked and does not extend the block
        return ids, counts[account]

    async def reserve_address(self, address: str) -> bool:
        """Count an attempt against the client address alone, atomically like ``reserve`` (asking for a password
        link: it must not lock the account it names, but one address cannot ask for links without end, nor pass its
        budget with a burst of parallel requests). False, nothing written, when the address's budget is spent."""
        _, client = self._keys('', address)
        try:
            await self._reserve((client,))
        except _BudgetSpent:
            return False
        return True

    async def _reserve(self, keys: tuple[str, ...]) -> tuple[list[int], dict[str, int]]:
        """Write one row per key, then count each key's earlier rows in the window, in one transaction; raises
        ``_BudgetSpent`` (rolled back) when an account key (``acct:``) or an address key (``addr:``) is over its
        limit."""
        now = utcnow()
        cutoff = now - timedelta(seconds=get_settings().login_throttle_window_s)
        async with db.write_lock(), db.session() as session, session.begin():
            if session.get_bind().dialect.name == 'postgresql':
                for key in sorted(keys):  # one order for everyone: no deadlock
                    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
            rows = [LoginFailure(key=key, at=now) for key in keys]
            session.add_all(rows)
            await session.flush()  # the write comes first: on SQLite it takes the write lock now
            found = dict((await session.execute(
                select(LoginFailure.key, func.count()).where(LoginFailure.key.in_(keys), LoginFailure.at > cutoff)
                .group_by(LoginFailure.key))).all())
            earlier = {key: found.get(key, 0) - 1 for key in keys}
            if self.over_limit(sum(n for k, n in earlier.items() if k.startswith('acct:')),
                               sum(n for k, n in earlier.items() if k.startswith('addr:'))):
                raise _BudgetSpent
            await session.execute(delete(LoginFailure).where(LoginFailure.at <= cutoff))
            return [r.id for r in rows], earlier

    async def release(self, row_ids: list[int], *, forget_account: str | None = None) -> None:
        """Remove a right password's reserved rows and, with ``forget_account``, that account's failures, in one
        transaction (no attempt of a burst can reserve in between, when only the reserved rows are gone)."""
        async with db.write_lock(), db.session() as session, session.begin():
            await session.execute(delete(LoginFailure).where(LoginFailure.id.in_(row_ids)))
            if forget_account is not None:
                account, _ = self._keys(forget_account, '')
                await session.execute(delete(LoginFailure).where(LoginFailure.key == account))

    async def clear_account(self, email: str) -> None:
        account, _ = self._keys(email, '')
        async with db.write_lock(), db.session() as session, session.begin():
            await session.execute(delete(LoginFailure).where(LoginFailure.key == account))


throttle = LoginThrottle()


def normalise_email(email: str) -> str:
    """The stored form of an address (lower case, domain in ASCII), so ``joerg@bücher.example`` logs in as stored."""
    from .contact import normalise_email as stored_form
    return stored_form(email)


async def authenticate(email: str, password: str, *, address: str = 'unknown') -> User:
    """Return the user or raise ``LoginRefused`` with the same message for unknown user and wrong password."""
    email = normalise_email(email)
    reservation = await throttle.reserve(email, address)  # before the (slow) check: a burst cannot slip past
    if reservation is None:
        metrics.login_failures.labels('throttled').inc()
        raise LoginRefused(THROTTLED_LOGIN_ERROR)
    reserved_rows, account_failures = reservation
    async with db.session() as s:
        user = (await s.execute(select(User).where(func.lower(User.email) == email))).scalar_one_or_none()
    # verify against a dummy hash for unknown users so both answers take the same time
    ok = await verify_password(password or '', user.password_hash if user else _DUMMY_HASH)
    if not ok or user is None or not user.is_active:
        metrics.login_failures.labels('refused').inc()
        raise LoginRefused(GENERIC_LOGIN_ERROR)  # the reserved rows stay: they are this failure
    # the success forgets the account's failures (a delete only when there is something to forget)
    await throttle.release(reserved_rows, forget_account=email if account_failures else None)
    async with db.write_lock(), db.session() as s, s.begin():
        db_user = await s.get(User, user.id)
        if db_user is not None:
            db_user.last_login_at = utcnow()
    return user


async def get_user(user_id: int | None) -> User | None:
    """The active user by id: every page build, every ticket opened in place and every session check asks it (a short
    read by key, so ``db.quick``: inline on SQLite, no hand-over to a reader's thread and back)."""
    if not user_id:
        return None
    async with db.quick() as s:
        user = await s.get(User, user_id)
    return user if user is not None and user.is_active else None


# --- permissions: the only place that says who may do what ---

SYSTEM_ACCOUNT_DOMAINS = ('@pulse-live.invalid', '@error-reports.invalid')
"""The accounts the desk acts through (mail intake, each error source): never active, no password, not staff to
manage — reactivated from the staff page, one became an agent everyone could assign tickets to."""


def is_system_account(email: str) -> bool:
    return email.lower().endswith(SYSTEM_ACCOUNT_DOMAINS)


def is_staff(user: User) -> bool:
    return user.role in (Role.AGENT, Role.MANAGER, Role.ADMIN)


def can_view_ticket(user: User, ticket: Ticket, *, on_team: bool = False) -> bool:
    """Staff see every ticket; a customer sees the requests they opened or are the customer of, those of their
    own organisation they were put on the team of (a colleague copied in), and an organisation admin every
    request of their organisation. Mirrored in SQL by ``visible_tickets``; ``may_view_ticket`` looks the team
    membership up."""
    if is_staff(user):
        return True
    if ticket.organisation_id != user.organisation_id:
        return False
    return bool(user.is_org_admin) or on_team or user.id in (ticket.customer_id, ticket.creator_id)


async def may_view_ticket(session: AsyncSession, user: User, ticket: Ticket) -> bool:
    """``can_view_ticket``, asking the database whether a customer colleague is on the ticket's team."""
    if can_view_ticket(user, ticket):
        return True
    if user.role != Role.CUSTOMER or ticket.organisation_id != user.organisation_id:
        return False
    return (await session.execute(_ON_TEAM, {'ticket_id': ticket.id, 'user_id': user.id})).first() is not None


# the checks of every read of a customer's, built once (what varies is bound at execution)
_ON_TEAM = select(TeamMember.id).where(TeamMember.ticket_id == bindparam('ticket_id'),
                                       TeamMember.user_id == bindparam('user_id'))
_TICKET = select(Ticket).where(Ticket.id == bindparam('ticket_id'))


def on_team_of(user: User) -> ColumnElement[bool]:
    """Tickets whose team the user is on."""
    return Ticket.id.in_(select(TeamMember.ticket_id).where(TeamMember.user_id == user.id))


def visible_tickets(user: User) -> ColumnElement[bool]:
    """``can_view_ticket`` as a WHERE clause for ticket lists."""
    if is_staff(user):
        return true()
    clause = Ticket.organisation_id == user.organisation_id
    if not user.is_org_admin:
        clause = clause & or_(Ticket.customer_id == user.id, Ticket.creator_id == user.id, on_team_of(user))
    return clause


def deny(user: User | None, action: str, target: object, message: str, *,
         error: type[ServiceError] = PermissionDenied) -> ServiceError:
    """The one way a service refuses: log the refused attempt and return the error to raise,
    ``raise auth.deny(user, 'see', 'the dashboard', 'Only managers …')``. ``error=NotFound`` for what the user may
    not even know exists (a ticket they may not see)."""
    refused(user, action, target)
    return error(message)


def refused(user: User | None, action: str, target: object = '') -> None:
    """Log a refused access attempt (a warning: somebody tried what the UI never offers them). Queries that answer
    "nothing" instead of raising log with this too."""
    who = f'user {user.id} ({user.role}, organisation {user.organisation_id})' if user is not None else 'anonymous'
    security_log.warning('refused: %s tried to %s %s', who, action, target)


async def may_read_ticket(session: AsyncSession, user: User, ticket_id: int, action: str) -> bool:
    """The access check of every read of a ticket's content: staff read every ticket; anybody else only a ticket
    ``may_view_ticket`` lets them see (a refusal is logged)."""
    if is_staff(user):
        return True
    ticket = (await session.execute(_TICKET, {'ticket_id': ticket_id})).scalar_one_or_none()
    if ticket is not None and await may_view_ticket(session, user, ticket):
        return True
    refused(user, action, ticket.reference if ticket is not None else f'#{ticket_id}')
    return False


def can_see_internal(user: User) -> bool:
    return is_staff(user)


CUSTOMER_EDITABLE_FIELDS = frozenset({'title', 'description', 'affected_components', 'attempted_solutions'})
# what a customer may fill in when opening a request (the portal's form, the API): the fields above, the type and
# the service, and who is affected / how urgent. Everything else a ticket has is the help desk's to fill in (the
# Work-around, Technical details, queue, assignee …), refused from a customer; the customer, channel and priority
# of a customer's request are set by ``services/tickets.py`` itself (themselves; portal or api; the rules).
# ``visibility.py`` says who *reads* a field's history, not who writes it: a customer writes the description,
# whose later changes only staff read
CUSTOMER_CREATE_FIELDS = CUSTOMER_EDITABLE_FIELDS | {'type_id', 'service_id', 'impact', 'urgency'}
# field changes a customer sees (in the portal's conversation and in their notifications): see visibility.py
CUSTOMER_HISTORY_FIELDS = visibility.CUSTOMER_FIELDS


def can_see_event(user: User, ticket: Ticket, kind: str, field: str | None, is_internal: bool, *,
                  on_team: bool = False) -> bool:
    """May the user read this chatter/history entry of a ticket? Staff read everything; a customer who may view
    the ticket reads what ``visibility.py`` gives customers (its public messages, its opening, some field changes)."""
    if is_staff(user):
        return True
    return can_view_ticket(user, ticket, on_team=on_team) and visibility.customer_reads(kind, field, is_internal)


def customer_may_set(field: str, *, opening: bool) -> bool:
    """May a customer give this field a value, opening a request (``opening``) or changing one of theirs?"""
    return field in (CUSTOMER_CREATE_FIELDS if opening else CUSTOMER_EDITABLE_FIELDS)


def can_edit_field(user: User, ticket: Ticket, field: str) -> bool:
    if not can_view_ticket(user, ticket):
        return False
    return is_staff(user) or customer_may_set(field, opening=False)


def require_staff(user: User, action: str = 'do what only agents do', target: object = '') -> None:
    if not is_staff(user):
        raise deny(user, action, target, 'Only agents can do this.')


def require_role(user: User, *roles: Role, action: str = 'do what their role does not allow',
                 target: object = '') -> None:
    if user.role not in roles:
        raise deny(user, action, target, 'You are not allowed to do this.')


# --- customers, organisations, services, configuration items; the portal ---

def can_see_organisation_requests(user: User) -> bool:
    """The portal's "Organisation" tab: customer organisation admins (staff see everything anyway)."""
    return user.role == Role.CUSTOMER and bool(user.is_org_admin)


def can_identify_customers(user: User) -> bool:
    """Search people and see their card, configuration items and ticket history (agents only)."""
    return is_staff(user)


def can_manage_customers(user: User) -> bool:
    """Create and edit customer accounts and their configuration items (any agent: an unknown caller)."""
    return is_staff(user)


def can_grant_org_admin(user: User) -> bool:
    """Making a customer an organisation admin widens what they see: managers and admins only."""
    return user.role in (Role.MANAGER, Role.ADMIN)


def can_manage_organisations(user: User) -> bool:
    """Create and edit organisations and their tier (the tier feeds prioritisation)."""
    return user.role in (Role.MANAGER, Role.ADMIN)


def can_manage_services(user: User) -> bool:
    return user.role == Role.ADMIN


def reopen_deadline(ticket: Ticket) -> datetime | None:
    """Until when the customer may reopen a resolved request (None: not resolved)."""
    if ticket.resolved_at is None:
        return None
    return ticket.resolved_at + timedelta(days=get_settings().reopen_days)


def customer_may_reopen(ticket: Ticket, now: datetime | None = None) -> bool:
    deadline = reopen_deadline(ticket)
    return deadline is not None and (now or utcnow()) <= deadline


# --- work management (queues, ownership, dashboard, configuration) ---

def can_see_dashboard(user: User) -> bool:
    return user.role in (Role.MANAGER, Role.ADMIN)


def can_configure_work(user: User) -> bool:
    """Queues, their members, routing and prioritisation rules."""
    return user.role == Role.ADMIN


def can_take_from_queue(user: User, queue_member_ids: set[int] | frozenset[int]) -> bool:
    """Staff take tickets; an agent only from a queue they work (or a queue without members, or no queue)."""
    if not is_staff(user):
        return False
    return user.role != Role.AGENT or not queue_member_ids or user.id in queue_member_ids
