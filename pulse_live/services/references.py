"""Human-friendly, gap-free reference numbers like ``PL-2026-000123``."""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import ReferenceCounter


async def next_reference(session: AsyncSession, *, prefix: str, year: int) -> str:
    """Take the next number inside the caller's transaction: a rollback gives it back, so there are no gaps.

    The UPDATE takes the counter row's write lock first, so concurrent creators queue up behind it.
    """
    insert = pg_insert if session.get_bind().dialect.name == 'postgresql' else sqlite_insert
    await session.execute(
        insert(ReferenceCounter).values(prefix=prefix, year=year, last_value=0).on_conflict_do_nothing())
    value = (await session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
        .values(last_value=ReferenceCounter.last_value + 1)
        .returning(ReferenceCounter.last_value))).scalar_one()
    return format_reference(prefix, year, value)


def format_reference(prefix: str, year: int, value: int) -> str:
    return f'{prefix}-{year}-{value:06d}'
