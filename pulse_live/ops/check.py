"""``pulse-live check``: database integrity, migrations current, every referenced attachment present (and intact
with ``--deep``), orphan files reported. Problems make the command exit non-zero; orphans are only reported."""
from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from .. import db
from ..config import get_settings
from ..models import Attachment
from ..models.mail_intake import FailedImport
from . import schema
from .backup import attachment_files, table_names


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def _integrity(report: Report) -> None:
    if db.is_sqlite():
        async with db.engine().connect() as conn:
            result = [r[0] for r in (await conn.execute(text('PRAGMA integrity_check'))).all()]
            if result != ['ok']:
                report.problems.extend(f'integrity: {line}' for line in result[:50])
            else:
                report.notes.append('integrity_check: ok')
            broken = (await conn.execute(text('PRAGMA foreign_key_check'))).all()
            for table, rowid, parent, _ in broken[:50]:
                report.problems.append(f'foreign key: {table} row {rowid} points to a missing {parent} row')
            if len(broken) > 50:
                report.problems.append(f'foreign key: … {len(broken) - 50} more broken references')
            if not broken:
                report.notes.append('foreign_key_check: ok')
    else:
        async with db.engine().connect() as conn:  # PostgreSQL enforces keys itself; invalid indexes can remain
            invalid = (await conn.execute(text(
                'SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid '
                'JOIN pg_namespace n ON n.oid = c.relnamespace '
                'WHERE NOT i.indisvalid AND n.nspname = current_schema()'))).scalars().all()
        report.problems.extend(f'index {name} is invalid (rebuild it with REINDEX)' for name in invalid)
        if not invalid:
            report.notes.append('PostgreSQL: foreign keys enforced by the server, every index valid')


async def _migrations(report: Report) -> None:
    state = await schema.state()
    if state.up_to_date:
        report.notes.append(f'migrations: current ({state.head})')
        async with db.engine().connect() as conn:
            present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        missing = [name for name in table_names() if name not in present]
        if missing:
            report.problems.append(f'tables missing though the migrations are current: {", ".join(missing[:10])}'
                                   f'{" …" if len(missing) > 10 else ""} (restore a backup)')
    else:
        names = ', '.join(rev for rev, _ in state.pending)
        report.problems.append(f'migrations pending: {names} (at {state.current or "none"}, head {state.head}); '
                               f'run pulse-live migrate')


def _file_state(digests: dict[str, str], deep: bool) -> tuple[list[str], list[str], list[str]]:
    folder = get_settings().attachments_dir
    on_disk = {p.name: p for p in attachment_files(folder)}
    missing, damaged = [], []
    for digest, what in sorted(digests.items()):
        path = on_disk.get(digest)
        if path is None:
            missing.append(f'{what}: file {digest} is missing')
        elif deep:
            h = hashlib.sha256()
            with path.open('rb') as f:
                while chunk := f.read(1024 * 1024):
                    h.update(chunk)
            if h.hexdigest() != digest:
                damaged.append(f'{what}: file {digest} is damaged (its content does not match its checksum)')
    orphans = sorted(str(p.relative_to(folder)) for name, p in on_disk.items() if name not in digests)
    return missing, damaged, orphans


async def _store_state(digests: dict[str, str], deep: bool) -> tuple[list[str], list[str], list[str]]:
    """Object storage (S3): each referenced file asked for (``--deep``: read and hashed) through the backend."""
    from .. import storage
    backend = storage.backend()
    missing, damaged = [], []
    for digest, what in sorted(digests.items()):
        if not deep:
            if not await backend.exists(digest):
                missing.append(f'{what}: file {digest} is missing')
            continue
        try:
            data = await backend.read(digest)
        except storage.MissingFile:
            missing.append(f'{what}: file {digest} is missing')
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            damaged.append(f'{what}: file {digest} is damaged (its content does not match its checksum)')
    return missing, damaged, []


async def _attachments(report: Report, deep: bool) -> None:
    digests: dict[str, str] = {}
    async with db.session() as s:
        for attachment_id, digest in (await s.execute(select(Attachment.id, Attachment.sha256))).all():
            digests.setdefault(digest, f'attachment {attachment_id}')
        for failed_id, digest in (await s.execute(select(FailedImport.id, FailedImport.sha256))).all():
            digests.setdefault(digest, f'failed mail import {failed_id}')
    if get_settings().storage_backend == 'local':
        missing, damaged, orphans = await asyncio.to_thread(_file_state, digests, deep)
    else:
        missing, damaged, orphans = await _store_state(digests, deep)
        report.notes.append('orphan files are not listed for object storage')
    report.problems.extend(missing + damaged)
    report.orphans.extend(orphans)
    report.notes.append(f'attachments: {len(digests)} referenced, {len(missing)} missing'
                        + (f', {len(damaged)} damaged' if deep else '') + f', {len(orphans)} orphan file(s)')


async def run(*, deep: bool = False) -> Report:
    """Each part reports what it finds; a database the checks cannot read (not a database, damaged, tables missing)
    is reported as a problem, not raised: those are the installations this command is for."""
    report = Report()
    for part in (_integrity, _migrations):
        try:
            await part(report)
        except DBAPIError as e:
            report.problems.append(f'{part.__name__.strip("_")}: the database cannot be read: {_reason(e)}')
            return report
    try:
        if (await schema.current_revision()) is not None:
            await _attachments(report, deep)
    except DBAPIError as e:
        report.problems.append(f'attachments: the database cannot be read: {_reason(e)}')
    return report


def _reason(e: DBAPIError) -> str:
    return str(e.orig).splitlines()[0] if e.orig is not None else str(e).splitlines()[0]
