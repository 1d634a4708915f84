"""Read models of the e-mail intake for the admin page: mailboxes (never their secret), failed imports, recent
imports, organisations' mail domains."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from .. import auth, db
from ..models import FailedImport, ImportedMail, Mailbox, Organisation, OrganisationMailDomain, Queue, Role, User


@dataclass(frozen=True)
class MailboxRow:
    id: int
    name: str
    host: str
    port: int
    security: str
    auth: str
    username: str
    folder: str
    queue_id: int | None
    queue_name: str
    active: bool
    last_uid: int
    last_error: str
    last_checked: datetime | None
    imported: int
    oauth_token_url: str = ''
    oauth_client_id: str = ''
    oauth_refreshable: bool = False


@dataclass(frozen=True)
class FailedRow:
    id: int
    mailbox_name: str
    sender: str
    subject: str
    size: int
    error: str
    created_at: datetime


def _admin(user: User, action: str) -> bool:
    if user.role != Role.ADMIN.value:
        auth.refused(user, action)
        return False
    return True


async def mailboxes(user: User) -> list[MailboxRow]:
    if not _admin(user, 'list mailboxes'):
        return []
    counts = (select(ImportedMail.mailbox_id, func.count(ImportedMail.id).label('n'))
              .where(ImportedMail.outcome.in_(['ticket', 'reply'])).group_by(ImportedMail.mailbox_id).subquery())
    async with db.session() as s:
        rows = await s.execute(select(Mailbox, Queue.name, counts.c.n).outerjoin(Queue, Queue.id == Mailbox.queue_id)
                               .outerjoin(counts, counts.c.mailbox_id == Mailbox.id).order_by(Mailbox.name))
        return [MailboxRow(id=m.id, name=m.name, host=m.host, port=m.port, security=m.security, auth=m.auth,
                           username=m.username, folder=m.folder, queue_id=m.queue_id, queue_name=q or '',
                           active=m.active, last_uid=m.last_uid, last_error=m.last_error, last_checked=m.last_checked,
                           imported=n or 0, oauth_token_url=m.oauth_token_url, oauth_client_id=m.oauth_client_id,
                           oauth_refreshable=bool(m.oauth_refresh_encrypted)) for m, q, n in rows]


async def failed_imports(user: User, *, limit: int = 200) -> list[FailedRow]:
    """The mails waiting for an admin (retry or discard), newest first."""
    if not _admin(user, 'list failed mail imports'):
        return []
    async with db.session() as s:
        rows = await s.execute(select(FailedImport, Mailbox.name)
                               .outerjoin(Mailbox, Mailbox.id == FailedImport.mailbox_id)
                               .where(FailedImport.status == 'open').order_by(FailedImport.id.desc()).limit(limit))
        return [FailedRow(id=f.id, mailbox_name=name or '(removed)', sender=f.sender, subject=f.subject, size=f.size,
                          error=f.error, created_at=f.created_at) for f, name in rows]


@dataclass(frozen=True)
class KeptMail:
    sha256: str
    filename: str


async def failed_mail_for_download(user: User | None, failed_id: int) -> KeptMail | None:
    """The raw mail kept for a failed import (admins only; None for anyone else or an unknown id): the file the
    admin page offers, as it came from the server."""
    if user is None or not _admin(user, 'download a mail that was not imported'):
        return None
    async with db.session() as s:
        row = await s.get(FailedImport, failed_id)
        if row is None:
            return None
        return KeptMail(sha256=row.sha256, filename=f'not-imported-{row.id}.eml')


async def queue_choices() -> dict[int, str]:
    async with db.session() as s:
        return dict((await s.execute(select(Queue.id, Queue.name).order_by(Queue.name))).all())


async def organisation_domains(user: User) -> list[tuple[int, str, list[str]]]:
    """Customer organisations with their mail domains."""
    if not _admin(user, 'list mail domains'):
        return []
    async with db.session() as s:
        orgs = (await s.execute(select(Organisation.id, Organisation.name).where(Organisation.is_provider.is_(False))
                                .order_by(Organisation.name))).all()
        domains: dict[int, list[str]] = {}
        for org_id, domain in (await s.execute(select(OrganisationMailDomain.organisation_id,
                                                      OrganisationMailDomain.domain).order_by(
                OrganisationMailDomain.domain))).all():
            domains.setdefault(org_id, []).append(domain)
        return [(org_id, name, domains.get(org_id, [])) for org_id, name in orgs]
