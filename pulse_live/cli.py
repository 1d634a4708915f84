"""The ``pulse-live`` command: serve, demo, migrate (--check), create-user, set-priority-scale, backup, restore,
check."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from . import db
from .config import get_settings


def _migrate_sync() -> None:
    from alembic import command

    from .ops.schema import alembic_config
    command.upgrade(alembic_config(get_settings().resolved_database_url()), 'head')


async def _with_db(coro_factory):
    db.init(get_settings().resolved_database_url())
    try:
        return await coro_factory()
    finally:
        await db.dispose()


def print_demo_logins() -> None:
    from .seed.demo import DEMO_LOGINS, DEMO_PASSWORD
    print(f'Demo logins (password for all: {DEMO_PASSWORD}):')
    for email, role in DEMO_LOGINS:
        print(f'  {email:<22} {role}')


def cmd_migrate(args) -> None:
    if args.check:
        cmd_migrate_check()
        return
    _migrate_sync()
    from .services.catalog import ensure_catalog
    asyncio.run(_with_db(ensure_catalog))
    print('Database is up to date.')


def cmd_migrate_check() -> None:
    """Exit 0 when the database is at the code's head; else 1 and the pending revisions."""
    from .ops import schema
    state = asyncio.run(_with_db(schema.state))
    if state.up_to_date:
        print(f'Database is up to date (revision {state.head}).')
        return
    print(f'Migrations pending: {len(state.pending)} (database at {state.current or "no revision"}, '
          f'code at {state.head}):')
    for revision, title in state.pending:
        print(f'  {revision}  {title}')
    print('Run: pulse-live migrate')
    sys.exit(1)


def _size(n: float) -> str:
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return f'{n:.1f} {unit}' if unit != 'B' else f'{int(n)} B'
        n /= 1024
    return f'{n:.1f} GiB'


def cmd_backup(args) -> None:
    from pathlib import Path

    from .ops.backup import BackupError, backup
    try:
        manifest = asyncio.run(backup(Path(args.file)))
    except BackupError as e:
        sys.exit(f'error: {e}')
    counts = manifest['counts']
    print(f'Backup written to {args.file} ({_size(manifest["archive_bytes"])}, {manifest["seconds"]} s): '
          f'{manifest["database"]["dialect"]} at migration {manifest["migration_head"]}, '
          f'{counts.get("tickets", 0)} tickets, {counts.get("ticket_events", 0)} history entries, '
          f'{manifest["attachments"]["count"]} files ({_size(manifest["attachments"]["bytes"])}).')
    missing = manifest['attachments'].get('missing') or []
    if missing:
        print(f'warning: {len(missing)} referenced file(s) were missing from the attachment store and are not in '
              f'the backup (pulse-live check lists them): {", ".join(missing[:5])}{" …" if len(missing) > 5 else ""}')


def cmd_restore(args) -> None:
    from pathlib import Path

    from .ops.backup import BackupError, restore
    from .ops.schema import head
    try:
        manifest = asyncio.run(restore(Path(args.file), force=args.force))
    except BackupError as e:
        sys.exit(f'error: {e}')
    counts = manifest['restored_counts']
    print(f'Restored {args.file} (made {manifest["created_at"]}, {manifest["seconds"]} s): '
          f'{counts.get("tickets", 0)} tickets, {counts.get("ticket_events", 0)} history entries, '
          f'{manifest["attachments"]["count"]} files.')
    if manifest['migration_head'] != head():
        print(f'The backup is at migration {manifest["migration_head"]}; this version is at {head()}: '
              f'run pulse-live migrate before serving.')


def cmd_check(args) -> None:
    from .ops import check
    report = asyncio.run(_with_db(lambda: check.run(deep=args.deep)))
    for note in report.notes:
        print(f'ok       {note}')
    for orphan in report.orphans[:200]:
        print(f'orphan   {orphan} (no attachment refers to it)')
    if len(report.orphans) > 200:
        print(f'orphan   … {len(report.orphans) - 200} more')
    for problem in report.problems:
        print(f'PROBLEM  {problem}')
    if not report.ok:
        sys.exit(f'{len(report.problems)} problem(s) found.')
    print('No problems found.')


def cmd_demo(args) -> None:
    _migrate_sync()
    from .seed.demo import is_seeded, seed_demo

    async def run():
        if await is_seeded() and not args.force:
            print('Demo data exists already (use --force to add more).')
            return
        await seed_demo(tickets_count=args.tickets)
        print(f'Seeded demo data: {args.tickets} tickets.')
    asyncio.run(_with_db(run))
    print_demo_logins()


def cmd_bulk(args) -> None:
    """Scale data: many tickets and events with bulk inserts (pulse_live/seed/bulk.py; bypasses the services)."""
    _migrate_sync()
    from .seed.bulk import generate
    from .services.catalog import ensure_catalog

    async def run():
        await ensure_catalog()
        stats = await generate(tickets=args.tickets, events=args.events, seed=args.seed)
        from .search import index  # the rows went in past the sessions: the search index is built from them
        async with db.write_lock(), db.engine().begin() as conn:
            stats['search'] = await conn.run_sync(index.rebuild)
        return stats
    try:
        stats = asyncio.run(_with_db(run))
    except ValueError as e:
        sys.exit(f'error: {e}')
    print(f'Added {stats["tickets"]:,} tickets and {stats["events"]:,} events in {stats["seconds"]} s; '
          f'search index rebuilt in {stats["search"]["seconds"]} s.')
    print_demo_logins()


def cmd_create_user(args) -> None:
    from sqlalchemy import select

    from .models import Organisation
    from .services import users
    password = sys.stdin.readline().rstrip('\n') if not sys.stdin.isatty() else getpass.getpass('Password: ')

    async def run():
        from .services.catalog import ensure_catalog
        await ensure_catalog()
        async with db.session() as s:
            query = select(Organisation)
            query = query.where(Organisation.name == args.organisation) if args.organisation else \
                query.where(Organisation.is_provider.is_(True))
            org = (await s.execute(query)).scalars().first()
        if org is None:
            org = await users.create_organisation(actor=None, name=args.organisation or 'Service provider',
                                                  is_provider=not args.organisation)
        if args.role == 'customer' and org.is_provider:
            # the provider's organisation holds staff and internal tickets, which an organisation's people see
            from .errors import ValidationError
            raise ValidationError(f'A customer belongs to a customer organisation: pass --organisation '
                                  f'(not {org.name}, the service provider\'s own).')
        user = await users.create_user(actor=None, email=args.email, password=password, role=args.role,
                                       display_name=args.name or args.email.split('@')[0],
                                       organisation_id=org.id)
        print(f'Created {user.role} {user.email} in {org.name}.')
    _migrate_sync()
    from .errors import ServiceError
    try:
        asyncio.run(_with_db(run))
    except ServiceError as e:
        sys.exit(f'error: {e}')


def cmd_set_priority_scale(args) -> None:
    from .errors import ServiceError
    from .services.catalog import set_active_scale
    try:
        asyncio.run(_with_db(lambda: set_active_scale(args.key)))
    except ServiceError as e:
        sys.exit(f'error: {e}')
    print(f'New tickets now use the priority scale {args.key!r}.')


def cmd_search_reindex(_args) -> None:
    """Every search document again from the stored rows (after ``pulse-live bulk``, or a new PULSE_SEARCH_LANGUAGE)."""
    _migrate_sync()
    from .search import index

    async def run():
        async with db.engine().begin() as conn:
            return await conn.run_sync(index.rebuild)
    try:
        stats = asyncio.run(_with_db(run))
    except ValueError as e:
        sys.exit(f'error: {e}')
    counts = ', '.join(f'{n:,} {kind}s' for kind, n in stats['documents'].items())
    print(f'Search index rebuilt: {counts} in {stats["seconds"]} s.')


def cmd_serve(args) -> None:
    _migrate_sync()
    from .services.catalog import ensure_catalog
    asyncio.run(_with_db(ensure_catalog))
    if args.demo:
        from .seed.demo import is_seeded, seed_demo

        async def seed():
            if not await is_seeded():
                await seed_demo()
        asyncio.run(_with_db(seed))
        print_demo_logins()
    # NiceGUI keeps each browser session's storage in files under ./.nicegui of whatever directory the process was
    # started in (read once, when nicegui is imported): beside the installation's other data instead
    import os
    os.environ.setdefault('NICEGUI_STORAGE_PATH', str((get_settings().data_dir / 'sessions').resolve()))
    from nicegui import ui

    from .app import build_app, run_kwargs
    build_app()
    print(f'Pulse Live is running: open http://{args.host}:{args.port}/', flush=True)
    ui.run(**run_kwargs(host=args.host, port=args.port))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='pulse-live', description='Pulse Live help desk')
    sub = parser.add_subparsers(dest='command', required=True)
    serve = sub.add_parser('serve', help='run the web app')
    serve.add_argument('--host', default='127.0.0.1')
    serve.add_argument('--port', type=int, default=8080)
    serve.add_argument('--demo', action='store_true', help='seed demo data first if the database is empty')
    serve.set_defaults(func=cmd_serve)
    demo = sub.add_parser('demo', help='seed demo data')
    demo.add_argument('--tickets', type=int, default=60)
    demo.add_argument('--force', action='store_true')
    demo.set_defaults(func=cmd_demo)
    bulk = sub.add_parser('bulk', help='add many tickets and events quickly, for scale tests (bulk inserts)')
    bulk.add_argument('--tickets', type=int, default=100_000)
    bulk.add_argument('--events', type=int, default=None, help='events in all (default: 10 per ticket)')
    bulk.add_argument('--seed', type=int, default=42)
    bulk.set_defaults(func=cmd_bulk)
    migrate = sub.add_parser('migrate', help='apply database migrations')
    migrate.add_argument('--check', action='store_true', help='only tell whether migrations are pending (exit 1 if so)')
    migrate.set_defaults(func=cmd_migrate)
    backup = sub.add_parser('backup', help='write a consistent online backup (database + attachments) to FILE')
    backup.add_argument('file')
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser('restore', help='restore a backup into this (empty) installation; stop the app first')
    restore.add_argument('file')
    restore.add_argument('--force', action='store_true', help='replace the data this installation has')
    restore.set_defaults(func=cmd_restore)
    check = sub.add_parser('check', help='check database integrity, migrations and attachment files')
    check.add_argument('--deep', action='store_true', help='also verify every file\'s checksum (reads them all)')
    check.set_defaults(func=cmd_check)
    sub.add_parser('search-reindex', help='rebuild the search index from the stored rows') \
        .set_defaults(func=cmd_search_reindex)
    create = sub.add_parser('create-user', help='create a user (password from stdin or prompt)')
    create.add_argument('--email', required=True)
    create.add_argument('--role', required=True, choices=['customer', 'agent', 'manager', 'admin'])
    create.add_argument('--name', default='')
    create.add_argument('--organisation', default='', help='organisation name (default: the provider)')
    create.set_defaults(func=cmd_create_user)
    scale = sub.add_parser('set-priority-scale', help='choose the priority scale for new tickets')
    scale.add_argument('key', choices=['pulse', 'helpdesk-1-5'])
    scale.set_defaults(func=cmd_set_priority_scale)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == '__main__':
    main()
