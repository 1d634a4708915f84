"""``pulse-live backup FILE`` / ``restore FILE``: one archive with the database, the attachments and a manifest.

The archive (tar + gzip) holds
  ``database/pulse.db``    SQLite: a consistent online copy made with SQLite's backup API (in a thread), or
  ``database/pulse.dump``  PostgreSQL: ``pg_dump -Fc`` of the installation's schema, taken inside a snapshot that
                           the manifest's counts were read in (``pg_export_snapshot``), so both agree exactly;
  ``attachments/ab/cd/<sha256>``  every stored file (content-addressed: the name is the checksum): with the local
                           store every file of the folder, with object storage (S3) every file the database copy
                           refers to, read through the storage backend;
  ``manifest.json``        format, versions (app, database server, dump tool), migration head, row counts per table,
                           the database file's sha256 and size, the attachment files with their sizes.
The database is copied first, the files after: a file written meanwhile is one more file, never a reference
without its file (files are never changed in place).

Restore refuses an installation that has data unless forced, and checks the archive before replacing anything: the
manifest's structure (every field it uses, its type and form), every checksum, and the database copy itself — SQLite:
opened, ``PRAGMA integrity_check``, a migration revision this code knows, the row counts of the manifest; PostgreSQL:
a dump pg_restore can read, with the alembic_version table, holding only the entries and the SQL a Pulse Live backup
holds (checked on the file before any of it runs; only those entries restored), restored beside the installation's
schema and checked
(revision, row counts) before the installation's schema is dropped and the restored one takes its name. A refusal
leaves the installation as it was.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from .. import __version__
from ..config import get_settings
from ..models import Base

FORMAT = 1
DIGEST = re.compile(r'[0-9a-f]{64}')
ATTACHMENT_MEMBER = re.compile(r'attachments/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})')
DB_MEMBERS = {'sqlite': 'database/pulse.db', 'postgresql': 'database/pulse.dump'}
CHUNK = 1024 * 1024
# the largest manifest.json restore reads (about 150,000 attachment files' worth); backup refuses to write a larger one
MANIFEST_LIMIT = 16 * 1024 * 1024
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700  # archives, restored databases and files: their owner only, whatever the umask
SCHEMA_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_$]{0,62}')  # a PostgreSQL identifier we may put in double quotes
_REFERENCED = 'SELECT sha256 FROM attachments UNION SELECT sha256 FROM failed_imports'


class BackupError(Exception):
    """A backup or restore that cannot go on, with a message for the operator."""


@dataclass(frozen=True)
class Target:
    """The installation the settings name: its database and its attachment folder."""
    url: URL
    schema: str
    attachments: Path

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.database or '')


def current_target() -> Target:
    s = get_settings()
    return Target(url=make_url(s.resolved_database_url()), schema=s.database_schema, attachments=s.attachments_dir)


def table_names() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open('rb') as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def attachment_files(folder: Path) -> list[Path]:
    """The stored files (``ab/cd/<sha256>``), in name order; temporary and foreign files left out."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob('??/??/*') if p.is_file() and DIGEST.fullmatch(p.name)
                  and p.parent.name == p.name[2:4] and p.parent.parent.name == p.name[:2])


# --- the database -------------------------------------------------------------------------------------------------

def _sqlite_copy(source: Path, copy: Path) -> dict[str, Any]:
    """A consistent copy of a live SQLite database (the backup API copies a snapshot, WAL included)."""
    if not source.exists():
        raise BackupError(f'there is no database at {source}')
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst)  # in one step: a read transaction, which in WAL mode never blocks the app's writers
        dst.execute('PRAGMA journal_mode=DELETE')  # one self-contained file in the archive
        counts, head = _sqlite_counts(dst)
        referenced = sorted({r[0] for r in dst.execute(_REFERENCED)})
    finally:
        dst.close()
        src.close()
    return {'counts': counts, 'migration_head': head, 'server_version': sqlite3.sqlite_version,
            'tool': f'SQLite backup API {sqlite3.sqlite_version}', 'referenced': referenced}


def _sqlite_counts(conn: sqlite3.Connection) -> tuple[dict[str, int], str | None]:
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    counts = {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
              for name in table_names() if name in present}
    head = conn.execute('SELECT version_num FROM alembic_version').fetchone() if 'alembic_version' in present \
        else None
    return counts, head[0] if head else None


def _libpq(target: Target) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump / pg_restore / asyncpg, and the environment (password) they need."""
    url = target.url
    args = ['-h', url.host or '127.0.0.1', '-p', str(url.port or 5432), '-U', url.username or 'postgres']
    env = dict(os.environ)
    if url.password:
        env['PGPASSWORD'] = str(url.password)
    return args, env


def _dsn(target: Target) -> str:
    return target.url.set(drivername='postgresql').render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f'{name} is not installed: install the PostgreSQL client tools of your server\'s '
                          f'version (Debian: apt-get install postgresql-client)')
    return path


async def _run_tool(*args: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f'{Path(args[0]).name} failed ({process.returncode}): {err.decode(errors="replace")[-2000:]}')
    return out.decode(errors='replace')


async def _pg_dump(target: Target, copy: Path) -> dict[str, Any]:
    import asyncpg
    pg_dump = _pg_tool('pg_dump')
    schema = target.schema or 'public'
    conn = await asyncpg.connect(_dsn(target), server_settings={'search_path': schema})
    try:
        async with conn.transaction(isolation='repeatable_read', readonly=True):
            snapshot = await conn.fetchval('SELECT pg_export_snapshot()')
            head, counts = await _pg_head_and_counts(conn, schema)
            server = await conn.fetchval('SHOW server_version')
            referenced = sorted({r[0] for r in await conn.fetch(
                f'SELECT sha256 FROM "{schema}".attachments UNION SELECT sha256 FROM "{schema}".failed_imports')})
            args, env = _libpq(target)
            await _run_tool(pg_dump, *args, '--snapshot', snapshot, '-n', schema, '-Fc', '--no-owner',
                            '--no-privileges', '-f', str(copy), target.url.database or 'postgres', env=env)
            version = (await _run_tool(pg_dump, '--version', env=env)).strip()
    finally:
        await conn.close()
    return {'counts': counts, 'migration_head': head, 'server_version': server, 'tool': version, 'schema': schema,
            'referenced': referenced}


# --- backup -------------------------------------------------------------------------------------------------------

async def backup(archive: Path, target: Target | None = None) -> dict[str, Any]:
    """Write the archive; return its manifest (with ``seconds`` and ``archive_bytes`` added)."""
    target = target or current_target()
    if target.dialect not in DB_MEMBERS:
        raise BackupError(f'cannot back up a {target.dialect} database')
    started = time.perf_counter()
    archive.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix='.pulse-backup-') as tmp:
        copy = Path(tmp) / Path(DB_MEMBERS[target.dialect]).name
        if target.dialect == 'sqlite':
            info = await asyncio.to_thread(_sqlite_copy, target.sqlite_path, copy)
        else:
            info = await _pg_dump(target, copy)
        files, missing = await _files_to_archive(info['referenced'], Path(tmp) / 'files')
        manifest = await asyncio.to_thread(_write_archive, archive, target, copy, info, files, missing)
    manifest['seconds'] = round(time.perf_counter() - started, 3)
    manifest['archive_bytes'] = archive.stat().st_size
    return manifest


async def _files_to_archive(referenced: list[str], spool: Path) -> tuple[list[Path], list[str]]:
    """The files to put in the archive, and the referenced ones the store lacks. The local store: every file of the
    folder (read in place). Another store (S3): each referenced file, fetched through the backend into ``spool``."""
    from .. import storage
    backend = storage.backend()
    if backend.name == 'local':
        files = await asyncio.to_thread(attachment_files, get_settings().attachments_dir)
        names = {p.name for p in files}
        return files, [d for d in referenced if d not in names]
    spool.mkdir(parents=True, exist_ok=True)
    files, missing = [], []
    for digest in referenced:
        try:
            _, chunks = await backend.open(digest)
        except storage.MissingFile:
            missing.append(digest)
            continue
        path = spool / digest
        with path.open('wb') as f:
            async for chunk in chunks:
                await asyncio.to_thread(f.write, chunk)
        files.append(path)
    return files, missing


def _write_archive(archive: Path, target: Target, copy: Path, info: dict[str, Any], paths: list[Path],
                   missing: list[str]) -> dict[str, Any]:
    partial = archive.with_name(archive.name + '.partial')
    files: list[list[Any]] = []
    with _private_file(partial) as out, tarfile.open(fileobj=out, mode='w:gz', compresslevel=6) as tar:
        tar.add(copy, arcname=DB_MEMBERS[target.dialect])
        for path in paths:
            size = path.stat().st_size
            tar.add(path, arcname=f'attachments/{path.name[:2]}/{path.name[2:4]}/{path.name}')
            files.append([path.name, size])
        manifest = {
            'format': FORMAT, 'app': 'pulse-live', 'app_version': __version__,
            'created_at': datetime.now(UTC).isoformat(timespec='seconds'),
            'python': platform.python_version(), 'migration_head': info['migration_head'],
            'database': {'dialect': target.dialect, 'member': DB_MEMBERS[target.dialect],
                         'sha256': _sha256_file(copy), 'bytes': copy.stat().st_size,
                         'server_version': info['server_version'], 'tool': info['tool'],
                         'schema': info.get('schema', '')},
            'counts': info['counts'],
            'attachments': {'count': len(files), 'bytes': sum(size for _, size in files), 'files': files,
                            'missing': missing},
        }
        data = json.dumps(manifest, indent=1).encode()
        if len(data) > MANIFEST_LIMIT:  # restore would refuse it: say so now, not on the day it is needed
            raise BackupError(f'the manifest would have {len(data):,} bytes, more than restore reads '
                              f'({MANIFEST_LIMIT:,}): too many attachment files for one archive')
        member = tarfile.TarInfo('manifest.json')
        member.size, member.mtime = len(data), int(time.time())
        tar.addfile(member, io.BytesIO(data))
    os.replace(partial, archive)
    return manifest


def _private_file(path: Path) -> Any:
    """``path`` opened for writing (truncated), readable and writable by its owner only (0600) whatever the umask:
    an archive holds every password hash, webhook signing secret and ticket; a restored database the same."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, 'O_NOFOLLOW', 0), PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # a file that was there already keeps its mode through os.open
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, 'wb')


# --- restore ------------------------------------------------------------------------------------------------------

def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, 'r:gz') as tar:
            member = tar.getmember('manifest.json')
            # its declared size before a byte is read, and never more than that read: 400 MB of spaces in a 408 KB
            # archive once took 906 MB of memory
            if member.size > MANIFEST_LIMIT:
                raise BackupError(f'{archive} is not a Pulse Live backup: its manifest.json has {member.size:,} '
                                  f'bytes (more than {MANIFEST_LIMIT:,}); nothing was changed')
            reader = tar.extractfile(member)
            data = reader.read(MANIFEST_LIMIT + 1) if reader else b''
            if len(data) > MANIFEST_LIMIT:
                raise BackupError(f'{archive} is not a Pulse Live backup: its manifest.json is larger than '
                                  f'{MANIFEST_LIMIT:,} bytes; nothing was changed')
            manifest = json.loads(data)
    except (OSError, EOFError, zlib.error, tarfile.TarError, KeyError, ValueError, RecursionError) as e:
        raise BackupError(f'{archive} is not a Pulse Live backup: {type(e).__name__}: {e}') from e
    if not isinstance(manifest, dict) or manifest.get('app') != 'pulse-live':
        raise BackupError(f'{archive} is not a Pulse Live backup (no manifest of ours)')
    if manifest.get('format') != FORMAT:
        raise BackupError(f'{archive} has backup format {manifest.get("format")!r}; this version reads {FORMAT}')
    try:
        check_manifest(manifest)
    except BackupError as e:
        raise BackupError(f'{archive} has a malformed manifest: {e}') from None
    return manifest


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _get(parent: dict[str, Any], key: str, where: str) -> Any:
    if key not in parent:
        raise BackupError(f'{where} is missing')
    return parent[key]


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _need(ok: bool, where: str, want: str, value: Any) -> None:
    if not ok:
        raise BackupError(f'{where} should be {want}, not {_show(value)}')


def check_manifest(manifest: dict[str, Any]) -> None:
    """Every field backup writes and restore (or the command) uses, with its type and form; a ``BackupError``
    naming the first one that is wrong."""
    created = _get(manifest, 'created_at', 'created_at')
    _need(isinstance(created, str), 'created_at', 'a date (text)', created)
    head = _get(manifest, 'migration_head', 'migration_head')
    _need(head is None or (isinstance(head, str) and bool(head)), 'migration_head', 'a revision (text) or null', head)
    database = _get(manifest, 'database', 'database')
    _need(isinstance(database, dict), 'database', 'an object', database)
    dialect = _get(database, 'dialect', 'database.dialect')
    _need(isinstance(dialect, str) and dialect in DB_MEMBERS, 'database.dialect', f'one of {sorted(DB_MEMBERS)}',
          dialect)
    member = _get(database, 'member', 'database.member')
    _need(member == DB_MEMBERS[dialect], 'database.member', _show(DB_MEMBERS[dialect]), member)
    digest = _get(database, 'sha256', 'database.sha256')
    _need(isinstance(digest, str) and bool(DIGEST.fullmatch(digest)), 'database.sha256', 'a sha256 (64 hex digits)',
          digest)
    size = _get(database, 'bytes', 'database.bytes')
    _need(_is_count(size), 'database.bytes', 'a size (a whole number >= 0)', size)
    schema = database.get('schema', '')
    _need(isinstance(schema, str) and (schema == '' if dialect == 'sqlite' else
                                       schema == '' or bool(SCHEMA_NAME.fullmatch(schema))),
          'database.schema', 'a schema name (letters, digits, _ or $, at most 63)' if dialect == 'postgresql'
          else 'empty', schema)
    counts = _get(manifest, 'counts', 'counts')
    _need(isinstance(counts, dict), 'counts', 'an object of table: rows', counts)
    for table, rows in counts.items():
        _need(_is_count(rows), f'counts.{table}', 'a row count (a whole number >= 0)', rows)
    attachments = _get(manifest, 'attachments', 'attachments')
    _need(isinstance(attachments, dict), 'attachments', 'an object', attachments)
    files = _get(attachments, 'files', 'attachments.files')
    _need(isinstance(files, list), 'attachments.files', 'a list of [sha256, size] pairs', files)
    for i, item in enumerate(files):
        _need(isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
              and bool(DIGEST.fullmatch(item[0])) and _is_count(item[1]),
              f'attachments.files[{i}]', 'a [sha256, size] pair', item)
    for key in ('count', 'bytes'):
        value = _get(attachments, key, f'attachments.{key}')
        _need(_is_count(value), f'attachments.{key}', 'a whole number >= 0', value)
    _need(attachments['count'] == len(files), 'attachments.count', f'the number of files listed ({len(files)})',
          attachments['count'])
    missing = attachments.get('missing', [])
    _need(isinstance(missing, list) and all(isinstance(d, str) for d in missing), 'attachments.missing',
          'a list of sha256s', missing)


async def existing_data(target: Target) -> dict[str, int]:
    """What the installation already holds: rows in the tables people create, and stored files."""
    found: dict[str, int] = {}
    if target.dialect == 'sqlite':
        if target.sqlite_path.exists():
            def count() -> dict[str, int]:
                conn = sqlite3.connect(target.sqlite_path)
                try:
                    counts, _ = _sqlite_counts(conn)
                finally:
                    conn.close()
                return counts
            counts = await asyncio.to_thread(count)
            found.update({k: v for k, v in counts.items() if k in ('users', 'tickets') and v})
    else:
        import asyncpg
        conn = await asyncpg.connect(_dsn(target))
        try:
            schema = target.schema or 'public'
            present = {r['tablename'] for r in await conn.fetch(
                'SELECT tablename FROM pg_tables WHERE schemaname = $1', schema)}
            for name in ('users', 'tickets'):
                if name in present and (n := await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{name}"')):
                    found[name] = n
        finally:
            await conn.close()
    files = len(attachment_files(target.attachments)) if _local_store() else 0
    if files:
        found['attachment files'] = files
    return found


def _extract_verified(archive: Path, manifest: dict[str, Any], into: Path) -> tuple[Path, list[Path]]:
    """Extract the database and the files into ``into``, each checked against its checksum; nothing else is
    taken from the archive (names are matched, never used as paths as given)."""
    expected = dict(manifest['attachments']['files'])
    db_member = manifest['database']['member']
    if db_member not in DB_MEMBERS.values():
        raise BackupError(f'unexpected database member {db_member!r} in the manifest')
    db_copy = into / Path(db_member).name
    files: list[Path] = []
    seen_db = False
    names: set[str] = set()
    with tarfile.open(archive, 'r:gz') as tar:
        for member in tar:
            if member.name == 'manifest.json':
                continue
            if member.name in names:  # the second copy would be moved in after the first was, and fail then
                raise BackupError(f'the archive holds {member.name!r} twice')
            names.add(member.name)
            source = tar.extractfile(member) if member.isfile() else None
            if source is None:
                raise BackupError(f'unexpected entry {member.name!r} in the archive')
            if member.name == db_member:
                out, want, size = db_copy, manifest['database']['sha256'], manifest['database']['bytes']
                seen_db = True
            else:
                match = ATTACHMENT_MEMBER.fullmatch(member.name)
                if not match or match[3][:2] != match[1] or match[3][2:4] != match[2] or match[3] not in expected:
                    raise BackupError(f'unexpected entry {member.name!r} in the archive')
                out, want, size = into / 'attachments' / match[3], match[3], expected[match[3]]
            # the size the entry declares, before a byte is written: a small archive unpacking to far more than its
            # manifest says (a 306 KB archive held 300 MB of zeros) never reaches the disk
            if member.size != size:
                raise BackupError(f'{member.name} is damaged: its size ({member.size} bytes) does not match the '
                                  f'manifest ({size} bytes)')
            if out is not db_copy:
                out.parent.mkdir(mode=PRIVATE_DIR, exist_ok=True)
                files.append(out)
            digest = hashlib.sha256()
            with _private_file(out) as f:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    f.write(chunk)
            if digest.hexdigest() != want:
                raise BackupError(f'{member.name} is damaged: its checksum does not match the manifest')
    if not seen_db:
        raise BackupError('the archive holds no database')
    if db_copy.stat().st_size != manifest['database']['bytes']:
        raise BackupError(f'{db_member} is damaged: its size does not match the manifest')
    missing = set(expected) - {p.name for p in files}
    if missing:
        raise BackupError(f'the archive lacks {len(missing)} attachment file(s) its manifest lists')
    return db_copy, files


def _known_revision(revision: str) -> bool:
    from .schema import script
    return any(rev.revision == revision for rev in script().walk_revisions())


# tables every revision of the schema has (0001 made them): a database without them is no Pulse Live database
CORE_TABLES = frozenset({'organisations', 'users', 'tickets', 'ticket_events'})


def _check_tables(manifest: dict[str, Any], head: str, counts: dict[str, int]) -> None:
    """The copy holds the tables of its revision: the core ones always, every table of this code's schema when it
    is at this code's head; and its manifest lists the very tables it holds (a database holding only
    ``alembic_version`` and a manifest without counts passed every other check and replaced the installation)."""
    from .schema import head as code_head
    wanted = set(table_names()) if head == code_head() else set(CORE_TABLES)
    missing = sorted(wanted - set(counts))
    if missing:
        raise BackupError(f'the archive\'s database lacks table(s) {", ".join(missing[:10])}'
                          f'{" …" if len(missing) > 10 else ""} of migration {head}: it is no complete Pulse Live '
                          f'database; nothing was changed')
    listed = set(manifest['counts'])
    if listed != set(counts):
        odd = sorted(listed ^ set(counts))
        raise BackupError(f'the archive\'s manifest and its database disagree about the tables ({", ".join(odd[:10])})'
                          f'; nothing was changed')


def _check_database(manifest: dict[str, Any], head: str | None, counts: dict[str, int]) -> None:
    """The database copy against its manifest and this code: a migration revision we know, its tables, the same row
    counts."""
    if head is None:
        raise BackupError('the archive\'s database has no migration revision (no alembic_version table, or an '
                          'empty one): it is no Pulse Live database; nothing was changed')
    if head != manifest['migration_head']:
        raise BackupError(f'the archive\'s database is at migration {head}, its manifest says '
                          f'{manifest["migration_head"]}; nothing was changed')
    if not _known_revision(head):
        raise BackupError(f'the archive\'s database is at migration {head}, which this version of Pulse Live does '
                          f'not know (a backup of a newer version?): restore it with that version or a newer one; '
                          f'nothing was changed')
    _check_tables(manifest, head, counts)
    wrong = {k: (v, counts.get(k)) for k, v in manifest['counts'].items() if counts.get(k) != v}
    if wrong:
        raise BackupError(f'the archive\'s database does not match its manifest\'s row counts ((manifest, database) '
                          f'per table: {wrong}); nothing was changed')


def _verify_sqlite_copy(copy: Path, manifest: dict[str, Any]) -> None:
    """Open the extracted copy (never the installation's file): a SQLite database, intact, of a migration we know,
    with the manifest's row counts."""
    try:
        conn = sqlite3.connect(copy)
        try:
            problems = [r[0] for r in conn.execute('PRAGMA integrity_check').fetchall()]
            if problems != ['ok']:
                raise BackupError(f'the archive\'s database fails SQLite\'s integrity check '
                                  f'({"; ".join(map(str, problems[:5]))}); nothing was changed')
            counts, head = _sqlite_counts(conn)
            columns = {name: {r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')} for name in counts}
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise BackupError(f'the archive\'s database is not a SQLite database SQLite can read ({e}); '
                          f'nothing was changed') from e
    _check_database(manifest, head, counts)
    from .schema import head as code_head
    if head == code_head():  # at this code's revision: every column the code reads is there
        lacking = [f'{table.name}.{column.name}' for table in Base.metadata.sorted_tables
                   for column in table.columns if column.name not in columns.get(table.name, ())]
        if lacking:
            raise BackupError(f'the archive\'s database lacks column(s) {", ".join(lacking[:10])} of migration {head}; '
                              f'nothing was changed')


# --- what a PostgreSQL dump may hold and run ----------------------------------------------------------------------
# pg_restore runs the SQL an archive holds: a dump made by hand (a FUNCTION called from a CHECK, a statement hidden in
# an entry's definition) dropped another schema and made a customer an admin during a restore that then said
# "nothing was changed". Before anything runs, the dump's table of contents must list only the entries
# ``pulse-live backup`` writes, all in the backup's one schema; the SQL of exactly those entries (pg_restore -f -,
# no database) must be statements of the forms pg_dump writes for them, calling only the functions a Pulse Live
# schema uses; and only those entries are restored (pg_restore -L). The search index's trigger function is never
# taken from the archive: it is made again from this code (search/schema.py) in the restored schema.

PG_ENTRY = re.compile(r'(?P<id>\d+); \d+ \d+ (?P<type>FK CONSTRAINT|SEQUENCE OWNED BY|SEQUENCE SET|TABLE DATA|SCHEMA|'
                      r'TABLE|SEQUENCE|DEFAULT|CONSTRAINT|INDEX|FUNCTION|TRIGGER) (?P<schema>\S+) (?P<rest>.+)')
PG_RESTORED_TYPES = frozenset({'SCHEMA', 'TABLE', 'TABLE DATA', 'SEQUENCE', 'SEQUENCE SET', 'SEQUENCE OWNED BY',
                               'DEFAULT', 'CONSTRAINT', 'FK CONSTRAINT', 'INDEX'})
# entries restored from this code instead (type: how the entry's name and owner start)
PG_OURS = {'FUNCTION': 'search_documents_tsv() ', 'TRIGGER': 'search_documents search_documents_tsv '}
# the settings pg_restore's own preamble makes (client_encoding and standard_conforming_strings: only as it sets
# them, since another encoding or backslash escapes would read the rest of the script differently)
PG_SETTINGS = {'statement_timeout': None, 'lock_timeout': None, 'idle_in_transaction_session_timeout': None,
               'client_encoding': "'UTF8'", 'standard_conforming_strings': 'on', 'check_function_bodies': None,
               'xmloption': None, 'client_min_messages': None, 'row_security': None, 'default_tablespace': None,
               'default_table_access_method': None}
# what may stand before "(" in the DDL of a Pulse Live schema: keywords, types, index methods, the few functions
# of its defaults, indexes and checks
PG_CALLS = frozenset({'key', 'unique', 'where', 'and', 'or', 'not', 'in', 'check', 'any', 'all', 'array', 'on',
                      'using', 'btree', 'gin', 'gist', 'hash', 'brin', 'include', 'with', 'varying', 'numeric',
                      'decimal', 'timestamp', 'time', 'character', 'char', 'varchar', 'bit', 'interval', 'float',
                      'coalesce', 'nextval', 'lower', 'upper', 'now', 'length', 'char_length', 'to_tsvector',
                      'setweight', 'regexp_replace', 'references'})
PG_SCRIPT_LINE = re.compile(r'\\(?:un)?restrict [A-Za-z0-9]+')  # psql's guard lines in pg_restore's script output
_IDENT = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_DOLLAR = re.compile(r'\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$')
PG_STATEMENT_LIMIT = 1024 * 1024


def _refuse_dump(why: str) -> BackupError:
    return BackupError(f'the archive\'s dump {why}: it is not a Pulse Live backup, and nothing of it was run; '
                       f'nothing was changed')


def pg_restore_plan(toc: str, source_schema: str) -> tuple[str, set[str]]:
    """The entries of ``pg_restore --list`` to restore (a list for ``pg_restore -L``) and the types of ours to make
    again; a ``BackupError`` naming the first entry a Pulse Live backup never holds."""
    keep: list[str] = []
    ours: set[str] = set()
    for line in toc.splitlines():
        if not line.strip() or line.startswith(';'):
            continue
        entry = PG_ENTRY.fullmatch(line)
        if entry is None:
            what = line.split(' ', 3)[3] if line.count(' ') >= 3 else line
            raise _refuse_dump(f'holds an entry a Pulse Live backup never has ({what[:100]!r})')
        kind, schema, rest = entry['type'], entry['schema'], entry['rest']
        if kind == 'SCHEMA':
            if schema != '-' or not rest.startswith(f'{source_schema} '):
                raise _refuse_dump(f'creates schema {rest.split(" ")[0]!r}, not the backup\'s {source_schema!r}')
        elif schema != source_schema:
            raise _refuse_dump(f'holds a {kind} in schema {schema!r}, not the backup\'s {source_schema!r}')
        if kind in PG_OURS:
            if not rest.startswith(PG_OURS[kind]):
                raise _refuse_dump(f'holds a {kind} ({rest[:100]!r}) a Pulse Live backup never has')
            ours.add(kind)
            continue
        keep.append(line)
    if not any(PG_ENTRY.fullmatch(line)['type'] == 'TABLE DATA'  # type: ignore[index]
               and PG_ENTRY.fullmatch(line)['rest'].startswith('alembic_version ') for line in keep):  # type: ignore[index]
        raise BackupError(f'the archive\'s dump has no alembic_version table in schema {source_schema!r}: it is '
                          f'no Pulse Live database; nothing was changed')
    return '\n'.join(keep) + '\n', ours


def _sql_statements(text: str) -> tuple[list[tuple[str, str]], str]:
    """The complete statements at the start of ``text`` — each as (its text, its code: literals emptied, comments
    left out) — and the rest. Reads as PostgreSQL's lexer does: '…' (E'…' with backslash escapes), "…", $tag$…$tag$,
    -- and nested /* */ comments."""
    statements: list[tuple[str, str]] = []
    code: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "'":
            escapes = i > 0 and text[i - 1] in 'eE' and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] in '_$'))
            j = i + 1
            while j < n:
                if escapes and text[j] == '\\':
                    j += 2
                    continue
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            if j >= n:
                break  # the literal goes on past what was read
            code.append("''")
            i = j + 1
        elif c == '"':
            j = text.find('"', i + 1)
            while j != -1 and j + 1 < n and text[j + 1] == '"':
                j = text.find('"', j + 2)
            if j == -1:
                break
            code.append(text[i:j + 1])
            i = j + 1
        elif c == '$' and (dollar := _DOLLAR.match(text, i)) and not (i > 0 and (text[i - 1].isalnum()
                                                                                 or text[i - 1] in '_$')):
            end = text.find(dollar.group(), dollar.end())
            if end == -1:
                break
            code.append('$$')
            i = end + len(dollar.group())
        elif text.startswith('--', i):
            j = text.find('\n', i)
            if j == -1:
                break
            code.append(' ')
            i = j + 1
        elif text.startswith('/*', i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith('/*', j):
                    depth, j = depth + 1, j + 2
                elif text.startswith('*/', j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                break
            code.append(' ')
            i = j
        elif c == ';':
            code.append(';')
            statements.append((text[start:i + 1], ' '.join(''.join(code).split())))
            code = []
            start = i = i + 1
        else:
            code.append(c)
            i += 1
    return statements, text[start:]


def _check_pg_statement(text: str, code: str, schema: str) -> bool:
    """One statement of the script: of a form pg_dump writes for the entries we restore, in the backup's schema,
    calling only the functions our schema uses (a ``BackupError`` otherwise). True for a COPY (its data follows)."""
    flat = ' '.join(text.split())
    s = rf'(?:{re.escape(schema)}|"{re.escape(schema)}")'
    setting = re.fullmatch(r"SET ([a-z_]+) = ([^;]*);", flat)
    if setting:
        if setting[1] not in PG_SETTINGS or PG_SETTINGS[setting[1]] not in (None, setting[2]):
            raise _refuse_dump(f'sets {setting[1]} = {setting[2][:40]}')
        return False
    if flat == "SELECT pg_catalog.set_config('search_path', '', false);" \
            or re.fullmatch(rf"SELECT pg_catalog\.setval\('{s}\.[A-Za-z_][A-Za-z0-9_$]*', \d+, (?:true|false)\);",
                            flat):
        return False
    if re.fullmatch(rf'COPY {s}\.{_IDENT} \((?:{_IDENT}(?:, )?)*\) FROM stdin;', code):
        return True
    if not (re.fullmatch(rf'CREATE SCHEMA {s};', code)
            or re.match(rf'(?:CREATE (?:TABLE|SEQUENCE)|ALTER (?:TABLE (?:ONLY )?|SEQUENCE )) ?{s}\.', code)
            or re.match(rf'CREATE (?:UNIQUE )?INDEX {_IDENT} ON (?:ONLY )?{s}\.', code)):
        raise _refuse_dump(f'would run a statement a Pulse Live backup never has ({flat[:100]!r})')
    lowered = code.lower()
    for word in ('select', 'execute', 'inherits', 'tablespace', 'extension'):  # queries, inherited tables
        if re.search(rf'(?<![\w$"]){word}(?![\w$"])', lowered):
            raise _refuse_dump(f'would run a statement a Pulse Live backup never has ({flat[:100]!r})')
    for chain in re.finditer(rf'(?<![\w$".]){_IDENT}(?:\s*\.\s*{_IDENT})+', code):
        if not re.match(rf'(?:{s}|pg_catalog)\s*\.', chain.group()):
            raise _refuse_dump(f'refers to {chain.group()[:60]!r} outside the backup\'s schema')
    for call in re.finditer(rf'(?<![\w$"])((?:{_IDENT}\s*\.\s*)*)({_IDENT})\s*\(', code):
        qualifier, name = call[1], call[2]
        if re.match(rf'{s}\s*\.', qualifier or '') and qualifier.count('.') == 1:
            continue  # a table of the schema and its columns (REFERENCES, CREATE TABLE, ON … USING)
        if name.lower() not in PG_CALLS or (qualifier and not qualifier.startswith('pg_catalog')):
            raise _refuse_dump(f'calls {qualifier}{name}(), which a Pulse Live schema never does')
    return False


def scan_pg_script(lines: Any, schema: str) -> None:
    """Check every statement of pg_restore's script (``lines``: its bytes, line by line) for the entries we
    restore; a ``BackupError`` at the first one that is not of a Pulse Live backup."""
    pending = ''
    in_copy = False
    for raw in lines:
        line = raw.decode('utf-8', errors='replace') if isinstance(raw, bytes) else raw
        if in_copy:
            if line.rstrip('\r\n') == '\\.':
                in_copy = False
            continue
        if not pending.strip():
            stripped = line.strip()
            if not stripped or stripped.startswith('--'):
                pending = ''
                continue
            if stripped.startswith('\\'):
                if not PG_SCRIPT_LINE.fullmatch(stripped):
                    raise _refuse_dump(f'would run a psql command ({stripped[:60]!r})')
                continue
        pending += line
        if len(pending) > PG_STATEMENT_LIMIT:
            raise _refuse_dump(f'holds a statement longer than {PG_STATEMENT_LIMIT:,} characters')
        statements, pending = _sql_statements(pending)
        for text, code in statements:
            if in_copy:
                raise _refuse_dump('runs SQL on the line of a COPY')
            in_copy = _check_pg_statement(text, code, schema)
        if in_copy and pending.strip():
            raise _refuse_dump('runs SQL on the line of a COPY')
        if in_copy:
            pending = ''
    if pending.strip() or in_copy:
        raise _refuse_dump('ends in the middle of a statement')


def _scan_pg_dump(pg_restore: str, dump: Path, plan: Path, schema: str, env: dict[str, str]) -> None:
    """The SQL pg_restore would run for the planned entries, written out (no database) and checked as it comes."""
    import subprocess
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([pg_restore, '--no-owner', '--no-privileges', '-L', str(plan), '-f', '-',
                                    str(dump)], stdout=subprocess.PIPE, stderr=errors, env=env)
        assert process.stdout is not None
        try:
            scan_pg_script(process.stdout, schema)
        finally:
            process.stdout.close()
            if process.poll() is None:
                process.kill()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            raise BackupError(f'the archive\'s database is not a PostgreSQL dump pg_restore can read '
                              f'({errors.read().decode(errors="replace")[-2000:]}); nothing was changed')


async def _check_pg_dump(pg_restore: str, dump: Path, source_schema: str, env: dict[str, str]) -> set[str]:
    """Read the dump (the file only, no database): a pg_dump custom-format archive of the backup's schema holding
    only what a Pulse Live backup holds (``pg_restore_plan``, ``scan_pg_script``), with the alembic_version table
    and its data. Writes the entries to restore to ``<dump>.list`` (for ``pg_restore -L``); returns the types of
    ours to make again after the restore."""
    with dump.open('rb') as f:
        magic = f.read(5)
    if magic != b'PGDMP':
        raise BackupError('the archive\'s database is not a PostgreSQL dump in pg_dump\'s custom format; '
                          'nothing was changed')
    try:
        toc = await _run_tool(pg_restore, '--list', str(dump), env=env)
    except BackupError as e:
        raise BackupError(f'the archive\'s database is not a PostgreSQL dump pg_restore can read ({e}); '
                          f'nothing was changed') from e
    keep, ours = pg_restore_plan(toc, source_schema)
    plan = _plan_path(dump)
    plan.write_text(keep)
    await asyncio.to_thread(_scan_pg_dump, pg_restore, dump, plan, source_schema, env)
    return ours


def _plan_path(dump: Path) -> Path:
    return dump.with_name(dump.name + '.list')


async def _pg_restore(target: Target, dump: Path, manifest: dict[str, Any]) -> None:
    """Restore the dump beside the installation's schema, check it, and only then put it in the schema's place.

    The dump's schema differs from the installation's: it is restored under its own name (which must not exist),
    then, in one transaction, the installation's schema is dropped and the restored one renamed. The same name: the
    installation's schema is first renamed aside, and put back if anything fails. On a refusal the restored schema
    is dropped: the installation's is as it was."""
    import asyncpg
    pg_restore = _pg_tool('pg_restore')
    args, env = _libpq(target)
    source_schema = manifest['database'].get('schema') or 'public'
    schema = target.schema or 'public'
    ours = await _check_pg_dump(pg_restore, dump, source_schema, env)  # before anything of it runs
    conn = await asyncpg.connect(_dsn(target))
    try:
        async def exists(name: str) -> bool:
            return bool(await conn.fetchval('SELECT 1 FROM pg_namespace WHERE nspname = $1', name))
        aside = None
        if source_schema != schema:
            if await exists(source_schema):
                raise BackupError(f'the backup\'s schema {source_schema!r} exists in the target database already: '
                                  f'restore into another database, or set PULSE_DATABASE_SCHEMA={source_schema}')
        elif await exists(schema):
            aside = f'{schema[:40]}_before_restore_{secrets.token_hex(4)}'
            # said before it is done: if this process dies before it renames it back, the data is found there
            print(f'restore: the installation\'s schema {schema!r} is set aside as {aside!r} until the backup is '
                  'checked', file=sys.stderr, flush=True)
            await conn.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{aside}"')
        try:
            await _run_tool(pg_restore, *args, '--no-owner', '--no-privileges', '--exit-on-error',
                            '-L', str(_plan_path(dump)), '-d', target.url.database or 'postgres', str(dump), env=env)
            await _make_search_trigger(conn, source_schema, ours)
            head, counts = await _pg_head_and_counts(conn, source_schema)
            _check_database(manifest, head, counts)
        except BaseException as failure:
            try:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{source_schema}" CASCADE')
                if aside:
                    await conn.execute(f'ALTER SCHEMA "{aside}" RENAME TO "{schema}"')
            except Exception as cleanup:  # the connection went with it: say where the data is
                raise BackupError(f'the restore failed ({failure}) and putting the installation back failed too '
                                  f'({cleanup}): its data is in schema {aside or schema!r}; rename it to {schema!r}'
                                  ) from failure
            raise
        async with conn.transaction():  # checked: the installation's data goes only now
            if aside:
                await conn.execute(f'DROP SCHEMA "{aside}" CASCADE')
            elif source_schema != schema:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                await conn.execute(f'ALTER SCHEMA "{source_schema}" RENAME TO "{schema}"')
    finally:
        await conn.close()


async def _make_search_trigger(conn: Any, schema: str, ours: set[str]) -> None:
    """The search index's trigger function and trigger, made from this code (never taken from an archive) in the
    restored schema when the backup had them."""
    if not ours:
        return
    from ..search.schema import language, pg_function
    async with conn.transaction():
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        await conn.execute(pg_function(language()))
        if 'TRIGGER' in ours:
            await conn.execute('CREATE TRIGGER search_documents_tsv BEFORE INSERT OR UPDATE ON search_documents '
                               'FOR EACH ROW EXECUTE FUNCTION search_documents_tsv()')


async def _pg_head_and_counts(conn: Any, schema: str) -> tuple[str | None, dict[str, int]]:
    """A PostgreSQL schema's migration revision (None without one) and the row count of each of our tables in it."""
    present = {r['tablename'] for r in await conn.fetch(
        'SELECT tablename FROM pg_tables WHERE schemaname = $1', schema)}
    counts = {name: await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{name}"')
              for name in table_names() if name in present}
    head = await conn.fetchval(f'SELECT version_num FROM "{schema}".alembic_version') \
        if 'alembic_version' in present else None
    return head, counts


async def restore(archive: Path, *, force: bool = False, target: Target | None = None) -> dict[str, Any]:
    """Restore the archive into the installation; return the manifest with the restored counts added."""
    target = target or current_target()
    manifest = read_manifest(archive)
    dialect = manifest['database']['dialect']
    if dialect != target.dialect:
        raise BackupError(f'this is a {dialect} backup; the installation uses {target.dialect} '
                          f'(restore it into a {dialect} installation)')
    existing = await existing_data(target)
    if existing and not force:
        what = ', '.join(f'{n} {k}' for k, n in existing.items())
        raise BackupError(f'the installation has data ({what}); refusing to overwrite it. Restore into an empty '
                          f'installation, or pass --force to replace it.')
    started = time.perf_counter()
    target.attachments.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.attachments.parent, prefix='.pulse-restore-') as tmp:
        needed = manifest['database']['bytes'] + sum(size for _, size in manifest['attachments']['files'])
        free = shutil.disk_usage(tmp).free
        if needed > free:
            raise BackupError(f'the archive unpacks to {needed:,} bytes; the disk holding {target.attachments.parent} '
                              f'has {free:,} free; nothing was changed')
        try:
            db_copy, files = await asyncio.to_thread(_extract_verified, archive, manifest, Path(tmp))
        except (OSError, EOFError, zlib.error, tarfile.TarError) as e:  # a stream damaged past its manifest
            raise BackupError(f'{archive} could not be unpacked ({type(e).__name__}: {e}); nothing was changed') from e
        if dialect == 'sqlite':  # the copy checked first; the installation's file replaced only after
            await asyncio.to_thread(_verify_sqlite_copy, db_copy, manifest)
            await asyncio.to_thread(_replace_sqlite, target.sqlite_path, db_copy)
        else:  # restored beside the installation's schema, checked, swapped
            await _pg_restore(target, db_copy, manifest)
        if _local_store():
            await asyncio.to_thread(_replace_attachments, target.attachments, files)
        else:  # object storage: put each file (same name, same bytes: one that is there already stays as it is)
            from .. import storage
            for path in files:
                await storage.backend().put(path.name, await asyncio.to_thread(path.read_bytes))
    await _new_config_version(target)
    counts = await restored_counts(target)
    wrong = {k: (v, counts.get(k)) for k, v in manifest['counts'].items() if counts.get(k) != v}
    if wrong:
        raise BackupError(f'restored, but the row counts differ from the manifest: {wrong}')
    return {**manifest, 'restored_counts': counts, 'seconds': round(time.perf_counter() - started, 3)}


def _local_store() -> bool:
    return get_settings().storage_backend == 'local'


def _replace_sqlite(path: Path, copy: Path) -> None:
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for suffix in ('-wal', '-shm'):
        Path(f'{path}{suffix}').unlink(missing_ok=True)
    os.chmod(copy, PRIVATE_FILE)
    os.replace(copy, path)


def _replace_attachments(folder: Path, files: list[Path]) -> None:
    for old in attachment_files(folder):
        old.unlink()
    folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for path in files:
        final = folder / path.name[:2] / path.name[2:4] / path.name
        for level in (final.parent.parent, final.parent):  # each made by us is its owner's only
            level.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(path, PRIVATE_FILE)
        os.replace(path, final)


async def _new_config_version(target: Target) -> None:
    """A fresh, random configuration version after a restore: running processes hold versions of the replaced
    timeline, and the backup's own version could meet one of them again after a change (models/config_version)."""
    from ..models.config_version import ConfigVersion, first_version
    table, version = ConfigVersion.__tablename__, first_version()
    if target.dialect == 'sqlite':
        def write() -> None:
            conn = sqlite3.connect(target.sqlite_path)
            try:
                if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
                    conn.execute(f'UPDATE {table} SET version = ?', (version,))
                    conn.commit()
            finally:
                conn.close()
        await asyncio.to_thread(write)
        return
    import asyncpg
    conn = await asyncpg.connect(_dsn(target))
    try:
        schema = target.schema or 'public'
        if await conn.fetchval('SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2', schema, table):
            await conn.execute(f'UPDATE "{schema}"."{table}" SET version = $1', version)
    finally:
        await conn.close()


async def restored_counts(target: Target) -> dict[str, int]:
    if target.dialect == 'sqlite':
        def count() -> dict[str, int]:
            conn = sqlite3.connect(target.sqlite_path)
            try:
                return _sqlite_counts(conn)[0]
            finally:
                conn.close()
        return await asyncio.to_thread(count)
    import asyncpg
    conn = await asyncpg.connect(_dsn(target))
    try:
        schema = target.schema or 'public'
        present = {r['tablename'] for r in await conn.fetch(
            'SELECT tablename FROM pg_tables WHERE schemaname = $1', schema)}
        return {name: await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{name}"')
                for name in table_names() if name in present}
    finally:
        await conn.close()
