"""Alembic environment: runs migrations over the app's async engine (SQLite or PostgreSQL)."""
import asyncio

from alembic import context

from pulse_live.config import get_settings
from pulse_live.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option('sqlalchemy.url') or get_settings().resolved_database_url()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _do_run(connection) -> None:
    from pulse_live.search.schema import include_name  # the search engine's own index is not in the models
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == 'sqlite':
            broken = connection.exec_driver_sql('PRAGMA foreign_key_check').fetchall()
            if broken:
                raise RuntimeError(f'the migration left rows pointing at rows that do not exist: {broken[:10]}')


async def run_migrations_online() -> None:
    from sqlalchemy import text

    from pulse_live.db import make_engine
    schema = get_settings().database_schema
    engine = make_engine(_url(), schema=schema)  # SQLite: creates the folder and sets the pragmas
    async with engine.connect() as connection:
        if schema and connection.dialect.name == 'postgresql':
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await connection.commit()
        if connection.dialect.name == 'sqlite':
            # SQLite changes a table (batch mode) by copying it and dropping the old one: with foreign keys on, that
            # drop fires every ON DELETE CASCADE / SET NULL pointing at it (all chatter, team, attachments… gone).
            # The pragma only takes effect outside a transaction, so it comes first; the check above replaces it.
            await connection.exec_driver_sql('PRAGMA foreign_keys=OFF')
            await connection.commit()
        await connection.run_sync(_do_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
