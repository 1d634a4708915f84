"""A database that does not answer is told apart from a bug (errors.is_unavailable): pages say so (503, or a message
where the action was) instead of "Something went wrong"; a connection refused by anything else is not mistaken for it."""
from __future__ import annotations

import asyncio
import socket

import pytest
from sqlalchemy import text

from pulse_live import db
from pulse_live.errors import ValidationError, is_unavailable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


async def test_a_postgresql_server_that_is_down_is_unavailable():
    engine = db.make_engine(f'postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/test', schema='')
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connect() as conn:
                await conn.execute(text('SELECT 1'))
    finally:
        await engine.dispose()
    assert is_unavailable(caught.value)


async def test_other_errors_are_not_unavailable():
    with pytest.raises(ConnectionRefusedError) as refused:  # e.g. a mail server that is down
        await asyncio.open_connection('127.0.0.1', _closed_port())
    assert not is_unavailable(refused.value)
    assert not is_unavailable(ValidationError('bad'))
    assert not is_unavailable(KeyError('x'))


async def test_on_sqlite_a_busy_database_is_unavailable_and_a_wrong_statement_is_a_bug(tmp_path):
    """Every SQLite OperationalError counted as "not answering; nothing was saved" (503), a missing table too: bugs
    were shown as passing trouble and never reported."""
    import sqlite3
    path = tmp_path / 'x.db'
    engine = db.make_engine(f'sqlite+aiosqlite:///{path}', schema='')
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute('CREATE TABLE t (x)')
        with pytest.raises(Exception) as missing:
            async with engine.connect() as conn:
                await conn.execute(text('SELECT * FROM no_such_table'))
        assert not is_unavailable(missing.value)
        holder.execute('BEGIN EXCLUSIVE')
        with pytest.raises(Exception) as busy:
            async with engine.connect() as conn:
                await conn.execute(text('PRAGMA busy_timeout = 0'))
                await conn.execute(text('INSERT INTO t VALUES (1)'))  # another connection is writing
        assert is_unavailable(busy.value), busy.value
    finally:
        holder.close()
        await engine.dispose()
