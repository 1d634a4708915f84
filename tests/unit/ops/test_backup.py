"""``pulse-live backup`` / ``restore`` / ``check`` (pulse_live/ops): demo data with files → backup → restore into
another, empty installation → the same tickets, history and files; on SQLite and on PostgreSQL (a fresh schema per
test, restored into a fresh database under another schema name)."""
import asyncio
import io
import os
import re
import tarfile
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select

from pulse_live import cli, db, storage
from pulse_live.bus import MemoryBus, set_bus
from pulse_live.config import get_settings, reset_settings
from pulse_live.models import Attachment, Ticket, TicketEvent, User
from pulse_live.ops import backup, check
from pulse_live.seed.demo import seed_demo
from pulse_live.services import chatter
from tests.conftest import PG_URL, pg_available

KEPT = (Ticket, TicketEvent, Attachment, User)
FILES = [('screenshot.png', 'image/png', b'\x89PNG\r\n\x1a\n' + bytes(range(256)) * 40),
         ('notes.txt', 'text/plain', b'Printer log: paper jam at tray 2\n' * 100)]


def _pg_admin_dsn(database: str = 'test') -> str:
    return PG_URL.replace('postgresql+asyncpg', 'postgresql').rsplit('/', 1)[0] + f'/{database}'


class Installation:
    """One installation's settings (environment), switched to before acting as it."""

    def __init__(self, monkeypatch, data_dir: Path, url: str, schema: str = '') -> None:
        self.monkeypatch, self.data_dir, self.url, self.schema = monkeypatch, data_dir, url, schema

    async def use(self) -> None:
        await db.dispose()
        self.monkeypatch.setenv('PULSE_DATA_DIR', str(self.data_dir))
        self.monkeypatch.setenv('PULSE_DATABASE_URL', self.url)
        self.monkeypatch.setenv('PULSE_DATABASE_SCHEMA', self.schema)
        reset_settings()
        db.init(self.url, schema=self.schema)


@pytest.fixture(params=['sqlite', 'postgresql'])
async def two_installations(request, tmp_path, monkeypatch):
    """(source, target): the source migrated to head, the target empty (no database file / an empty database)."""
    set_bus(MemoryBus())
    made: list[str] = []
    if request.param == 'sqlite':
        source = Installation(monkeypatch, tmp_path / 'source', f'sqlite+aiosqlite:///{tmp_path / "source/pulse.db"}')
        target = Installation(monkeypatch, tmp_path / 'target', f'sqlite+aiosqlite:///{tmp_path / "target/pulse.db"}')
    else:
        if not pg_available():
            pytest.skip('PostgreSQL is not answering on 127.0.0.1:5432')
        tag = f'{os.getpid()}_{uuid.uuid4().hex[:8]}'
        target_db = f'pulse_restore_{tag}'
        conn = await asyncpg.connect(_pg_admin_dsn())
        try:
            await conn.execute(f'CREATE DATABASE {target_db}')
        finally:
            await conn.close()
        made.append(target_db)
        source = Installation(monkeypatch, tmp_path / 'source', PG_URL, f'pulse_backup_{tag}')
        target = Installation(monkeypatch, tmp_path / 'target', PG_URL.rsplit('/', 1)[0] + f'/{target_db}',
                              f'pulse_restored_{tag}')
    await source.use()
    await asyncio.to_thread(cli._migrate_sync)
    yield source, target
    await db.dispose()
    if made:
        conn = await asyncpg.connect(_pg_admin_dsn())
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS {source.schema} CASCADE')
            for name in made:
                await conn.execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        finally:
            await conn.close()


async def _demo_with_files() -> None:
    demo = await seed_demo(tickets_count=8)
    async with db.session() as s:
        ticket_ids = list((await s.execute(select(Ticket.id).order_by(Ticket.id).limit(2))).scalars())
    anna = demo.users['anna@pulse.demo'] if hasattr(demo, 'users') else None
    async with db.session() as s:
        anna = anna or (await s.execute(select(User).where(User.email == 'anna@pulse.demo'))).scalar_one()
    for ticket_id in ticket_ids:
        await chatter.post_message(actor=anna, ticket_id=ticket_id, body='Logs attached',
                                   files=[storage.UploadedFile(*f) for f in FILES])


async def _contents() -> dict:
    """Every row of the kept tables, and every stored file's bytes."""
    rows = {}
    async with db.session() as s:
        for model in KEPT:
            rows[model.__tablename__] = [tuple(r) for r in (await s.execute(
                select(*model.__table__.columns).order_by(model.__table__.c.id))).all()]
    files = {p.name: p.read_bytes() for p in backup.attachment_files(get_settings().attachments_dir)}
    return {'rows': rows, 'files': files}


async def test_backup_and_restore_elsewhere_give_the_same_tickets_history_and_files(two_installations, tmp_path):
    source, target = two_installations
    await _demo_with_files()
    before = await _contents()
    assert len(before['rows']['tickets']) >= 8 and len(before['rows']['attachments']) == 4 and len(before['files']) == 2
    version_before = await _config_version()
    archive = tmp_path / 'backups' / 'pulse.tar.gz'
    manifest = await backup.backup(archive)
    assert manifest['counts']['tickets'] == len(before['rows']['tickets'])
    assert manifest['counts']['ticket_events'] == len(before['rows']['ticket_events'])
    assert manifest['attachments']['count'] == 2 and manifest['migration_head'] == cli_head()
    assert backup.read_manifest(archive)['database']['sha256'] == manifest['database']['sha256']

    await target.use()
    restored = await backup.restore(archive)
    assert restored['restored_counts'] == manifest['counts']
    await target.use()
    after = await _contents()
    assert after == before
    if not db.is_sqlite():  # the search trigger, never taken from the archive, is made again from the code
        conn = await asyncpg.connect(_pg_admin_dsn(target.url.rsplit('/', 1)[1]))
        try:
            assert await conn.fetchval(
                'SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON '
                "n.oid = c.relnamespace WHERE t.tgname = 'search_documents_tsv' AND n.nspname = $1", target.schema) == 1
            await conn.execute(f"UPDATE {target.schema}.search_documents SET title = 'Zebra crossing' WHERE id = "
                               f'(SELECT min(id) FROM {target.schema}.search_documents)')
            assert await conn.fetchval(f"SELECT count(*) FROM {target.schema}.search_documents WHERE "
                                       f"title_tsv @@ to_tsquery('simple', 'zebra')") == 1
        finally:
            await conn.close()
    # a fresh configuration version: a process that kept the old timeline's configuration reads it again
    assert await _config_version() != version_before
    report = await check.run(deep=True)
    assert report.ok and report.orphans == [], report.problems

    with pytest.raises(backup.BackupError, match='refusing to overwrite'):  # the target has data now
        await backup.restore(archive)
    await backup.restore(archive, force=True)
    await target.use()
    assert await _contents() == before


async def _config_version() -> int:
    from pulse_live.models.config_version import ConfigVersion
    async with db.session() as s:
        return (await s.execute(select(ConfigVersion.version))).scalar_one()


def cli_head() -> str:
    from pulse_live.ops.schema import head
    return head()


def _tampered(archive: Path, out: Path, member_prefix: str) -> Path:
    """A copy of the archive whose first member under ``member_prefix`` has one byte changed."""
    done = False
    with tarfile.open(archive, 'r:gz') as src, tarfile.open(out, 'w:gz') as dst:
        for member in src:
            data = (src.extractfile(member) or io.BytesIO()).read()
            if not done and member.name.startswith(member_prefix):
                data = bytes([data[0] ^ 1]) + data[1:]
                done = True
            dst.addfile(member, io.BytesIO(data))
    return out


async def test_a_damaged_or_foreign_archive_is_refused_and_nothing_is_touched(two_installations, tmp_path):
    source, target = two_installations
    await _demo_with_files()
    archive = tmp_path / 'pulse.tar.gz'
    await backup.backup(archive)
    await target.use()
    for prefix in ('attachments/', 'database/'):
        with pytest.raises(backup.BackupError, match='damaged'):
            await backup.restore(_tampered(archive, tmp_path / f'bad-{prefix[:-1]}.tar.gz', prefix))
    not_ours = tmp_path / 'other.tar.gz'
    with tarfile.open(not_ours, 'w:gz') as tar:
        tar.addfile(tarfile.TarInfo('etc/passwd'), io.BytesIO(b''))
    with pytest.raises(backup.BackupError, match='not a Pulse Live backup'):
        await backup.restore(not_ours)
    assert await backup.existing_data(backup.current_target()) == {}
    assert not target.data_dir.joinpath('attachments').exists() or not any(
        target.data_dir.joinpath('attachments').rglob('*'))


async def test_check_reports_missing_files_orphans_and_pending_migrations(two_installations):
    source, _ = two_installations
    await _demo_with_files()
    report = await check.run()
    assert report.ok and report.orphans == []
    files = backup.attachment_files(get_settings().attachments_dir)
    files[0].unlink()  # a referenced file is gone
    orphan = get_settings().attachments_dir / 'ab' / 'cd' / ('abcd' + '0' * 60)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b'nobody refers to me')
    report = await check.run()
    assert not report.ok and any(files[0].name in p and 'missing' in p for p in report.problems)
    assert report.orphans == [f'ab/cd/{orphan.name}']
    files[1].write_bytes(b'changed in place')
    assert any('damaged' in p for p in (await check.run(deep=True)).problems)


async def test_check_finds_a_broken_reference_on_sqlite(two_installations):
    source, _ = two_installations
    if not db.is_sqlite():
        pytest.skip('PostgreSQL enforces foreign keys itself')
    await _demo_with_files()
    await db.dispose()
    import sqlite3
    conn = sqlite3.connect(source.url.split(':///', 1)[1])
    conn.execute('PRAGMA foreign_keys=OFF')
    conn.execute('UPDATE ticket_events SET ticket_id = 999999 WHERE id = (SELECT min(id) FROM ticket_events)')
    conn.commit()
    conn.close()
    await source.use()
    report = await check.run()
    assert any('foreign key: ticket_events' in p and 'tickets' in p for p in report.problems)


async def test_with_object_storage_the_referenced_files_travel_through_the_backend(tmp_path, monkeypatch):
    """Attachments in S3 (moto on loopback): the backup fetches every referenced file through the storage backend,
    restore puts them into the target's bucket, check asks the store (a missing object is a problem)."""
    from tests import s3
    set_bus(MemoryBus())
    with s3.moto_server(tmp_path) as endpoint:
        for bucket in ('source-files', 'target-files'):
            s3.make_bucket(endpoint, bucket)
        source = Installation(monkeypatch, tmp_path / 'source', f'sqlite+aiosqlite:///{tmp_path / "source/pulse.db"}')
        target = Installation(monkeypatch, tmp_path / 'target', f'sqlite+aiosqlite:///{tmp_path / "target/pulse.db"}')
        for name, value in s3.settings_env(endpoint, 'source-files').items():
            monkeypatch.setenv(name, value)
        await source.use()
        await asyncio.to_thread(cli._migrate_sync)
        await _demo_with_files()
        digests = sorted({await storage.store(f[2]) for f in FILES})
        assert not (tmp_path / 'source' / 'attachments').exists()  # nothing on the local disk
        archive = tmp_path / 'pulse.tar.gz'
        manifest = await backup.backup(archive)
        assert sorted(name for name, _ in manifest['attachments']['files']) == digests
        assert manifest['attachments']['missing'] == []

        monkeypatch.setenv('PULSE_S3_BUCKET', 'target-files')
        await target.use()
        await backup.restore(archive)
        await target.use()
        for digest, (_, _, data) in zip(digests, sorted(FILES, key=lambda f: hashlib_hex(f[2])), strict=True):
            assert await storage.read(digest) == data
        report = await check.run(deep=True)
        assert report.ok, report.problems
        await storage.delete(digests[0])
        report = await check.run()
        assert any(digests[0] in p and 'missing' in p for p in report.problems)
        await db.dispose()


def hashlib_hex(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()


# --- a bad archive is refused before anything of the installation is replaced (force or not) ----------------------

def _rebuilt(archive: Path, out: Path, *, manifest_edit=None, database: bytes | None = None) -> Path:
    """A copy of the archive with the manifest edited (``manifest_edit(manifest)``) and/or the database member's
    bytes replaced — the manifest's checksum and size made to match the new bytes, so only deeper checks see it."""
    import hashlib
    import json
    with tarfile.open(archive, 'r:gz') as src:
        members = [(m, (src.extractfile(m) or io.BytesIO()).read()) for m in src]
    manifest = json.loads(next(data for m, data in members if m.name == 'manifest.json'))
    if database is not None:
        manifest['database']['sha256'] = hashlib.sha256(database).hexdigest()
        manifest['database']['bytes'] = len(database)
    if manifest_edit is not None:
        manifest_edit(manifest)
    with tarfile.open(out, 'w:gz') as dst:
        for member, data in members:
            if member.name.startswith('database/') and database is not None:
                data = database
            elif member.name == 'manifest.json':
                data = json.dumps(manifest).encode()
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


async def _archive_and_an_installation_with_other_data(two_installations, tmp_path) -> tuple[Path, dict]:
    """A good archive of the source (8 tickets, 2 files), and the target migrated and holding data of its own
    (3 tickets, 1 file); returns the archive and the target's contents."""
    source, target = two_installations
    await _demo_with_files()
    archive = tmp_path / 'pulse.tar.gz'
    await backup.backup(archive)
    await target.use()
    await asyncio.to_thread(cli._migrate_sync)
    await seed_demo(tickets_count=3)
    async with db.session() as s:
        anna = (await s.execute(select(User).where(User.email == 'anna@pulse.demo'))).scalar_one()
        ticket_id = (await s.execute(select(Ticket.id).order_by(Ticket.id).limit(1))).scalar_one()
    await chatter.post_message(actor=anna, ticket_id=ticket_id, body='Only here',
                               files=[storage.UploadedFile('mine.txt', 'text/plain', b'the target\'s own file\n')])
    before = await _contents()
    assert len(before['rows']['tickets']) == 3 and len(before['files']) == 1
    return archive, before


async def _refused_and_untouched(target: Installation, archive: Path, match: str, before: dict) -> None:
    await target.use()
    with pytest.raises(backup.BackupError, match=match):
        await backup.restore(archive, force=True)
    await target.use()
    assert await _contents() == before
    assert not [p for p in target.data_dir.iterdir() if p.name.startswith('.pulse-restore-')]


def _set(path: str, value):
    def edit(manifest: dict) -> None:
        *parents, last = path.split('.')
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value
    return edit


async def test_a_manifest_of_the_wrong_structure_is_refused_naming_the_field(two_installations, tmp_path):
    _, target = two_installations
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    for n, (field, value, named) in enumerate([
            ('attachments.files', [1, 2], r'attachments\.files\[0\]'),
            ('attachments.files', {'a': 1}, r'attachments\.files'),
            ('attachments', None, r'attachments'),
            ('database', [], r'database'),
            ('database.dialect', ['sqlite'], r'database\.dialect'),
            ('database.member', '../../pulse.db', r'database\.member'),
            ('database.sha256', 12, r'database\.sha256'),
            ('database.schema', 'x"; DROP SCHEMA public CASCADE; --', r'database\.schema'),
            ('counts', ['tickets'], r'counts'),
            ('counts.tickets', '8', r'counts\.tickets'),
            ('migration_head', 7, r'migration_head')]):
        bad = _rebuilt(archive, tmp_path / f'bad-manifest-{n}.tar.gz', manifest_edit=_set(field, value))
        await _refused_and_untouched(target, bad, rf'malformed manifest.*{named}', before)


async def test_a_database_member_that_is_no_database_is_refused_before_replacing_anything(two_installations,
                                                                                            tmp_path):
    """Its checksum matches its own manifest: only opening it shows it is no database. The installation (restore
    forced) keeps its database, rows and files."""
    _, target = two_installations
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    bad = _rebuilt(archive, tmp_path / 'not-a-database.tar.gz', database=b'definitely not a database\n' * 300)
    await _refused_and_untouched(target, bad, r'not a (SQLite database|PostgreSQL dump)', before)


async def test_row_counts_that_disagree_with_the_manifest_are_refused_before_replacing_anything(two_installations,
                                                                                                 tmp_path):
    _, target = two_installations
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    manifest = backup.read_manifest(archive)
    bad = _rebuilt(archive, tmp_path / 'bad-counts.tar.gz',
                   manifest_edit=_set('counts.tickets', manifest['counts']['tickets'] + 1))
    await _refused_and_untouched(target, bad, r'row counts.*tickets', before)


async def test_a_sqlite_database_without_a_known_migration_is_refused(two_installations, tmp_path):
    """A real SQLite file, but no Pulse Live database: no alembic_version, or a revision this code does not know."""
    source, target = two_installations
    if not db.is_sqlite():
        pytest.skip('SQLite files only')
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    import sqlite3
    with tarfile.open(archive, 'r:gz') as tar:
        good = tar.extractfile('database/pulse.db').read()
    for n, (sql, match) in enumerate([('DROP TABLE alembic_version', r'alembic_version'),
                                      ("UPDATE alembic_version SET version_num = 'ffffffffffff'",
                                       r'ffffffffffff.*not know')]):
        path = tmp_path / f'edited-{n}.db'
        path.write_bytes(good)
        conn = sqlite3.connect(path)
        conn.execute(sql)
        conn.commit()
        conn.close()
        edit = _set('migration_head', None if n == 0 else 'ffffffffffff')
        bad = _rebuilt(archive, tmp_path / f'no-migration-{n}.tar.gz', database=path.read_bytes(), manifest_edit=edit)
        await _refused_and_untouched(target, bad, match, before)


async def test_postgresql_under_the_same_schema_name_a_refusal_puts_the_installation_back(two_installations,
                                                                                           tmp_path, monkeypatch):
    """The target's schema has the backup's name: it is renamed aside while the dump is restored and checked — put
    back on a refusal, dropped after a good restore."""
    source, target = two_installations
    if db.is_sqlite():
        pytest.skip('PostgreSQL schemas')
    await _demo_with_files()
    wanted = await _contents()
    archive = tmp_path / 'pulse.tar.gz'
    await backup.backup(archive)
    same = Installation(monkeypatch, tmp_path / 'same', target.url, source.schema)
    await same.use()
    await asyncio.to_thread(cli._migrate_sync)
    await seed_demo(tickets_count=3)
    before = await _contents()
    manifest = backup.read_manifest(archive)
    bad = _rebuilt(archive, tmp_path / 'bad-counts.tar.gz',
                   manifest_edit=_set('counts.tickets', manifest['counts']['tickets'] + 1))
    await _refused_and_untouched(same, bad, r'row counts.*tickets', before)
    await same.use()
    await backup.restore(archive, force=True)
    await same.use()
    assert (await _contents())['rows'] == wanted['rows']
    conn = await asyncpg.connect(_pg_admin_dsn(target.url.rsplit('/', 1)[1]))
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%before_restore%'") == 0
    finally:
        await conn.close()


async def test_an_archive_holding_a_file_twice_is_refused_before_replacing_anything(two_installations, tmp_path):
    """Every check passed, the database and the old files went, then moving the second copy in failed: the files
    listed after it were lost."""
    _, target = two_installations
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    doubled = tmp_path / 'doubled.tar.gz'
    with tarfile.open(archive, 'r:gz') as src:
        members = [(m, (src.extractfile(m) or io.BytesIO()).read()) for m in src]
    with tarfile.open(doubled, 'w:gz') as dst:
        for member, data in members:
            dst.addfile(member, io.BytesIO(data))
            if member.name.startswith('attachments/'):
                dst.addfile(member, io.BytesIO(data))
    await _refused_and_untouched(target, doubled, 'twice', before)


# --- from an attack sweep: archives that passed every check, or were unpacked before they were refused -------------

def _sqlite_member(archive: Path) -> bytes:
    with tarfile.open(archive, 'r:gz') as tar:
        return tar.extractfile('database/pulse.db').read()


async def test_a_database_lacking_our_tables_or_columns_is_refused_even_forced(two_installations, tmp_path):
    """A SQLite file holding only ``alembic_version`` at this code's head, with a manifest listing no counts, passed
    every check and replaced the installation (forced): all of its data gone, migrate and check crashing after.
    Missing tables and missing columns are refused now, and the installation stays as it was."""
    if not db.is_sqlite():
        pytest.skip('SQLite files only')
    _, target = two_installations
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    import sqlite3
    head = backup.read_manifest(archive)['migration_head']
    empty = tmp_path / 'only-alembic.db'
    conn = sqlite3.connect(empty)
    conn.execute('CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)')
    conn.execute('INSERT INTO alembic_version VALUES (?)', (head,))
    conn.commit()
    conn.close()
    bad = _rebuilt(archive, tmp_path / 'only-alembic.tar.gz', database=empty.read_bytes(),
                   manifest_edit=_set('counts', {}))
    await _refused_and_untouched(target, bad, r'lacks table\(s\) api_tokens, attachments, .* of migration', before)

    without_column = tmp_path / 'no-workaround.db'
    without_column.write_bytes(_sqlite_member(archive))
    conn = sqlite3.connect(without_column)
    conn.execute('ALTER TABLE tickets DROP COLUMN workaround')
    conn.commit()
    conn.close()
    bad = _rebuilt(archive, tmp_path / 'no-column.tar.gz', database=without_column.read_bytes())
    await _refused_and_untouched(target, bad, r'lacks column\(s\) tickets\.workaround', before)

    fewer = _rebuilt(archive, tmp_path / 'fewer-counts.tar.gz',
                     manifest_edit=lambda m: m['counts'].pop('saved_views'))
    await _refused_and_untouched(target, fewer, r'manifest and its database disagree about the tables.*saved_views',
                                 before)


async def test_an_entry_larger_than_its_manifest_says_is_refused_before_it_is_written(two_installations, tmp_path,
                                                                                      monkeypatch):
    """A 300 KB archive held 300 MB of zeros as its database; the size was compared only after all of it had been
    written next to the installation. The size an entry declares is compared first now: nothing is written."""
    _, target = two_installations
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    manifest = backup.read_manifest(archive)
    member = manifest['database']['member']
    zeros = b'\0' * (8 * 1024 * 1024)

    def as_before(m: dict) -> None:  # the manifest's own size and checksum, not the zeros'
        m['database'].update(bytes=manifest['database']['bytes'], sha256=manifest['database']['sha256'])
    bomb = _rebuilt(archive, tmp_path / 'bomb.tar.gz', database=zeros, manifest_edit=as_before)
    assert bomb.stat().st_size < 200_000
    written: list[int] = []
    original_open = Path.open

    def watching_open(self, mode='r', *args, **kwargs):
        if 'w' in mode and member.rsplit('/', 1)[-1] == self.name:
            written.append(1)
        return original_open(self, mode, *args, **kwargs)
    monkeypatch.setattr(Path, 'open', watching_open)
    await _refused_and_untouched(target, bomb, rf'{member} is damaged: its size \({len(zeros)} bytes\) does not '
                                               rf'match the manifest', before)
    assert written == []


async def test_an_archive_needing_more_space_than_the_disk_has_is_refused(two_installations, tmp_path,
                                                                          monkeypatch):
    _, target = two_installations
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    import shutil
    monkeypatch.setattr(shutil, 'disk_usage', lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    await _refused_and_untouched(target, archive, r'unpacks to [\d,]+ bytes.*has 1,000 free', before)


@pytest.mark.parametrize('damage', ['truncated', 'nested manifest'])
async def test_a_damaged_stream_or_manifest_is_refused_with_a_message_not_a_traceback(two_installations, tmp_path,
                                                                                      damage):
    _, target = two_installations
    archive, before = await _archive_and_an_installation_with_other_data(two_installations, tmp_path)
    bad = tmp_path / 'bad.tar.gz'
    if damage == 'truncated':
        data = archive.read_bytes()
        bad.write_bytes(data[:len(data) * 2 // 3])
    else:
        manifest = b'[' * 100_000 + b']' * 100_000
        with tarfile.open(bad, 'w:gz') as tar:
            info = tarfile.TarInfo('manifest.json')
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
    await _refused_and_untouched(target, bad, r'is not a Pulse Live backup', before)


async def test_check_reports_a_database_it_cannot_read_instead_of_crashing(two_installations):
    """The installations ``check`` is for: a file that is no database, a database cut short, one without our tables
    (at the head revision). Each is a problem in the report; nothing raises."""
    source, _ = two_installations
    if not db.is_sqlite():
        pytest.skip('SQLite files only')
    await _demo_with_files()
    path = Path(source.url.split(':///', 1)[1])
    good = path.read_bytes()
    import sqlite3
    for damage in ('not a database', 'cut short', 'tables dropped'):
        await db.dispose()
        if damage == 'not a database':
            path.write_bytes(b'garbage' * 1000)
        elif damage == 'cut short':
            path.write_bytes(good[:50_000])
        else:
            path.write_bytes(good)
            conn = sqlite3.connect(path)
            conn.execute('PRAGMA foreign_keys=OFF')
            conn.execute('DROP TABLE attachments')
            conn.commit()
            conn.close()
        for suffix in ('-wal', '-shm'):
            Path(str(path) + suffix).unlink(missing_ok=True)
        await source.use()
        report = await check.run()
        assert not report.ok, damage
        if damage == 'tables dropped':
            assert any('tables missing' in p and 'attachments' in p for p in report.problems), report.problems
        else:
            assert any('cannot be read' in p or 'integrity' in p for p in report.problems), report.problems


def test_a_huge_manifest_is_refused_before_it_is_read(tmp_path):
    """manifest.json was read whole: 400 MB of spaces (valid JSON around a real manifest) in a 408 KB archive took
    906 MB of memory. Its declared size is checked first; nothing of it is read."""
    import json
    import tracemalloc
    manifest = {'format': backup.FORMAT, 'app': 'pulse-live', 'app_version': 'x', 'created_at': '2026-01-01',
                'python': '3', 'migration_head': '0001',
                'database': {'dialect': 'sqlite', 'member': 'database/pulse.db', 'sha256': '0' * 64, 'bytes': 0,
                             'server_version': '3', 'tool': 'x', 'schema': ''},
                'counts': {}, 'attachments': {'count': 0, 'bytes': 0, 'files': [], 'missing': []}}
    padded = b' ' * (40 * 1024 * 1024) + json.dumps(manifest).encode()
    bomb = tmp_path / 'bomb.tar.gz'
    with tarfile.open(bomb, 'w:gz') as tar:
        info = tarfile.TarInfo('manifest.json')
        info.size = len(padded)
        tar.addfile(info, io.BytesIO(padded))
    del padded
    assert bomb.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(backup.BackupError, match=r'manifest\.json has [\d,]+ bytes'):
            backup.read_manifest(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak
    small = tmp_path / 'small.tar.gz'  # the same manifest at its own size is read
    with tarfile.open(small, 'w:gz') as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo('manifest.json')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert backup.read_manifest(small)['migration_head'] == '0001'


async def test_archives_and_restored_data_are_their_owners_only_whatever_the_umask(two_installations, tmp_path):
    """An archive holds every password hash, webhook signing secret and ticket: it was written -rw-r--r-- under the
    usual umask 022, the restored database and files too."""
    import stat
    source, target = two_installations
    await _demo_with_files()
    old_umask = os.umask(0o022)
    try:
        archive = tmp_path / 'backups' / 'pulse.tar.gz'
        await backup.backup(archive)
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
        assert stat.S_IMODE(archive.parent.stat().st_mode) == 0o700  # made by backup
        again = tmp_path / 'pulse-again.tar.gz'  # one there already (say 0644) is made private too
        again.write_bytes(b'')
        again.chmod(0o644)
        await backup.backup(again)
        assert stat.S_IMODE(again.stat().st_mode) == 0o600
        await target.use()
        await backup.restore(archive)
        settings = get_settings()
        if db.is_sqlite():
            assert stat.S_IMODE(Path(settings.resolved_database_url().split('///', 1)[1]).stat().st_mode) == 0o600
        restored = backup.attachment_files(settings.attachments_dir)
        assert restored and {stat.S_IMODE(p.stat().st_mode) for p in restored} == {0o600}
        assert {stat.S_IMODE(p.parent.stat().st_mode) for p in restored} == {0o700}
    finally:
        os.umask(old_umask)


# --- a PostgreSQL dump runs nothing but what a Pulse Live backup holds --------------------------------------------

async def test_a_hostile_postgresql_dump_is_refused_before_any_of_it_runs(two_installations, tmp_path):
    """The auditor's archive: a dump of a schema with a FUNCTION called by a CHECK of its alembic_version table.
    pg_restore ran it (and the row insert called it): it dropped another schema and made a customer an admin, and
    the command said "nothing was changed". Now its table of contents is read first and it is refused."""
    import hashlib
    import json
    source, target = two_installations
    if db.is_sqlite():
        pytest.skip('a PostgreSQL dump')
    target_db = target.url.rsplit('/', 1)[1]
    await target.use()
    await asyncio.to_thread(cli._migrate_sync)
    await seed_demo(tickets_count=1)
    schema, tag = target.schema, uuid.uuid4().hex[:8]
    evil, other = f'evil_{tag}', f'other_{tag}'
    conn = await asyncpg.connect(_pg_admin_dsn(target_db))
    try:
        await conn.execute(f'CREATE SCHEMA {other}; CREATE TABLE {other}.keep (id int); INSERT INTO {other}.keep '
                           f'VALUES (1)')
        role_before = await conn.fetchval(f"SELECT role FROM {schema}.users WHERE email = 'carl@acme.demo'")
    finally:
        await conn.close()
    assert role_before != 'admin'
    # the dump is made in the test database, where the function does nothing
    conn = await asyncpg.connect(_pg_admin_dsn())
    try:
        await conn.execute(f"""
            CREATE SCHEMA {evil};
            CREATE FUNCTION {evil}.boom(v text) RETURNS boolean LANGUAGE plpgsql AS $f$
            BEGIN
              IF current_database() = '{target_db}' THEN
                EXECUTE 'DROP SCHEMA {other} CASCADE';
                EXECUTE 'UPDATE {schema}.users SET role = ''admin'' WHERE email = ''carl@acme.demo''';
              END IF;
              RETURN true;
            END $f$;
            CREATE TABLE {evil}.alembic_version(version_num varchar(32) PRIMARY KEY CHECK ({evil}.boom(version_num)));
            INSERT INTO {evil}.alembic_version VALUES ('{cli_head()}');""")
        dump = tmp_path / 'evil.dump'
        url = PG_URL.rsplit('/', 1)
        host_args = ['-h', '127.0.0.1', '-U', url[0].split('//', 1)[1].split('@')[0].split(':')[0] or 'postgres']
        process = await asyncio.create_subprocess_exec('pg_dump', *host_args, '-n', evil, '-Fc', '--no-owner',
                                                       '--no-privileges', '-f', str(dump), url[1])
        assert await process.wait() == 0
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS {evil} CASCADE')
        await conn.close()
    data = dump.read_bytes()
    manifest = {'format': 1, 'app': 'pulse-live', 'app_version': 'x', 'created_at': '2026', 'python': '3',
                'migration_head': cli_head(),
                'database': {'dialect': 'postgresql', 'member': 'database/pulse.dump',
                             'sha256': hashlib.sha256(data).hexdigest(), 'bytes': len(data), 'server_version': '15',
                             'tool': 'pg_dump', 'schema': evil},
                'counts': {}, 'attachments': {'count': 0, 'bytes': 0, 'files': [], 'missing': []}}
    archive = tmp_path / 'evilpg.tar.gz'
    with tarfile.open(archive, 'w:gz') as tar:
        for name, content in (('database/pulse.dump', data), ('manifest.json', json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))

    await target.use()
    with pytest.raises(backup.BackupError) as refused:
        await backup.restore(archive, force=True)
    conn = await asyncpg.connect(_pg_admin_dsn(target_db))
    try:
        assert await conn.fetchval('SELECT 1 FROM pg_namespace WHERE nspname = $1', other)  # the other schema stays
        assert await conn.fetchval(f'SELECT count(*) FROM {other}.keep') == 1
        assert await conn.fetchval(f"SELECT role FROM {schema}.users WHERE email = 'carl@acme.demo'") == role_before
        assert not await conn.fetchval('SELECT 1 FROM pg_namespace WHERE nspname = $1', evil)
        assert not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname LIKE '%before_restore%'")
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS {other} CASCADE')
        await conn.close()
    assert re.search(r"FUNCTION \('boom\(text\).*nothing of it was run", str(refused.value)), refused.value


TOC_HEAD = '7; 2615 382845 SCHEMA - pl_src postgres\n309; 1259 382864 TABLE pl_src alembic_version postgres\n' \
           '4153; 0 382864 TABLE DATA pl_src alembic_version postgres\n'


@pytest.mark.parametrize('entry, named', [
    ('216; 1255 17349 FUNCTION pl_src boom(text) pulse', 'FUNCTION'),
    ('4010; 2620 383777 TRIGGER pl_src users audit postgres', 'TRIGGER'),
    ('4011; 0 0 ACL pl_src TABLE users postgres', 'ACL'),
    ('3; 3079 16385 EXTENSION - plpython3u', 'EXTENSION'),
    ('4012; 0 0 COMMENT pl_src TABLE users postgres', 'COMMENT'),
    ('4013; 2618 1 RULE pl_src users r postgres', 'RULE'),
    ('4014; 3256 1 POLICY pl_src users p postgres', 'POLICY'),
    ('310; 1259 382865 TABLE other users postgres', "schema 'other'"),
    ('8; 2615 382846 SCHEMA - other postgres', "schema 'other'"),
    ('4015; 0 0 TABLE DATA public users postgres', "schema 'public'"),
])
def test_a_dump_entry_a_backup_never_holds_is_refused(entry, named):
    with pytest.raises(backup.BackupError, match=re.escape(named)):
        backup.pg_restore_plan(TOC_HEAD + entry + '\n', 'pl_src')
    keep, ours = backup.pg_restore_plan(TOC_HEAD + '415; 1255 383763 FUNCTION pl_src search_documents_tsv() pg\n',
                                        'pl_src')
    assert keep == TOC_HEAD and ours == {'FUNCTION'}  # ours is made again from the code, never restored


@pytest.mark.parametrize('statement', [
    "ALTER TABLE ONLY pl_src.t ALTER COLUMN id SET DEFAULT nextval('pl_src.s'::regclass); DROP SCHEMA other CASCADE;",
    "ALTER TABLE ONLY pl_src.t ADD CONSTRAINT c CHECK ((query_to_xml('DELETE FROM x', true, true, '') IS NULL));",
    'ALTER TABLE ONLY pl_src.t ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES other.t(id);',
    'CREATE INDEX i ON pl_src.t USING btree (pg_catalog.pg_sleep(1));',
    'CREATE TABLE pl_src.t AS SELECT * FROM pg_catalog.pg_authid;',
    'SET standard_conforming_strings = off;',
    "SET client_encoding = 'SJIS';",
    'SET role = postgres;',
    "SELECT pg_catalog.set_config('role', 'postgres', false);",
    "SELECT pg_catalog.setval('pl_src.s', 1, true); DROP TABLE pl_src.users;",
    'DO $$BEGIN EXECUTE $q$DROP SCHEMA other CASCADE$q$; END$$;',
    "COPY (SELECT 1) TO PROGRAM 'id';",
    'COPY pl_src.t (a) FROM stdin; DROP TABLE pl_src.users;',
    'DROP SCHEMA other CASCADE;',
    '\\! id',
    "ALTER TABLE ONLY pl_src.t ALTER COLUMN id SET DEFAULT 'x",  # never ends
])
def test_sql_a_backup_never_holds_is_refused(statement):
    with pytest.raises(backup.BackupError, match='nothing of it was run'):
        backup.scan_pg_script([line + '\n' for line in statement.split('\n')], 'pl_src')


def test_the_sql_pg_dump_writes_for_our_schema_passes():
    script = (
        "SET statement_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\n\\restrict abc123\n--\n-- Name: t\n--\n\n"
        'CREATE TABLE pl_src.t (\n    id integer NOT NULL,\n    kind character varying(20) DEFAULT '
        "'update'::character varying NOT NULL,\n    body text DEFAULT 'a;b'::text\n);\n"
        "ALTER TABLE ONLY pl_src.t ALTER COLUMN id SET DEFAULT nextval('pl_src.t_id_seq'::regclass);\n"
        'ALTER TABLE ONLY pl_src.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n'
        'ALTER TABLE ONLY pl_src.t ADD CONSTRAINT t_u_fkey FOREIGN KEY (u) REFERENCES pl_src.users(id) '
        'ON DELETE CASCADE;\n'
        'CREATE UNIQUE INDEX ix_t ON pl_src.t USING btree (lower((kind)::text)) WHERE ((kind)::text = '
        "'x'::text);\nCOPY pl_src.t (id, kind, body) FROM stdin;\n1\tupdate\tDROP SCHEMA x; \\\\!\n\\.\n"
        "SELECT pg_catalog.setval('pl_src.t_id_seq', 1, true);\n\\unrestrict abc123\n")
    backup.scan_pg_script([line + '\n' for line in script.split('\n')], 'pl_src')
