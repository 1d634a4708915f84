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
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    from sqlalchemy import text

    from pulse_live.db import make_engine
    schema = get_settings().database_schema
    engine = make_engine(_url(), schema=schema)  # SQLite: creates the folder and sets the pragmas
    async with engine.connect() as connection:
        if schema and connection.dialect.name == 'postgresql':
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await connection.commit()
        await connection.run_sync(_do_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
