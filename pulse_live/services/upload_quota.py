"""How many bytes of files one customer may send a day (``PULSE_CUSTOMER_UPLOAD_BYTES_PER_DAY``).

Each message takes at most ``max_upload_files`` × ``max_upload_bytes`` and a customer may post
``customer_messages_per_minute`` messages: without a bound over time one customer filled the attachment store with
~1.5 GB a minute (five 9.9 MB files per message, 297 MB in 22 s). Files a customer sent within the last 24 hours are
counted from ``attachments`` (index on uploader and time); a message or request whose files would go over the bound
is refused before anything is stored. In one process a customer's sends with files go one at a time from the check
to the commit, so parallel requests cannot all pass the same check. Several processes (PostgreSQL) each count again
inside the transaction that records the files (``recheck``), behind an advisory lock per customer: a send of another
process waits there until this one committed, and is refused if it would go over (its files, stored by then, are
orphans ``pulse-live check`` reports). Staff are not bounded (their uploads are part of their work), nor is the
mail intake (limits of its own).
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import db, storage
from ..config import get_settings
from ..errors import ValidationError
from ..models import Attachment, Role, User, utcnow

WINDOW = timedelta(hours=24)
_locks: dict[int, list] = {}  # user id → [lock, sends holding or awaiting it]


async def used_bytes(user_id: int) -> int:
    """Bytes of files the person sent within the last 24 hours."""
    async with db.session() as s:
        return int((await s.execute(select(func.coalesce(func.sum(Attachment.size), 0))
                                    .where(Attachment.uploader_id == user_id,
                                           Attachment.created_at >= utcnow() - WINDOW))).scalar_one())


def _mb(n: int) -> str:
    if n < 1_048_576:
        return f'{max(1, round(n / 1024))} KB' if n else '0 KB'
    return f'{n / 1_048_576:.0f} MB' if n >= 10 * 1_048_576 else f'{n / 1_048_576:.1f} MB'


def _over(new: int, used: int, limit: int) -> ValidationError:
    return ValidationError(f'These files ({_mb(new)}) would take you over {_mb(limit)} of files within a day (you '
                           f'sent {_mb(used)} since this time yesterday). Send fewer or smaller files, or a link to '
                           'them.')


async def recheck(session: AsyncSession, actor: User, files: Sequence[storage.UploadedFile]) -> None:
    """In the transaction that records a customer's files, before it writes: the day's bound counted again behind a
    lock per customer that other processes' sends take too (``db.serialise``: PostgreSQL's advisory lock; on SQLite
    the process's write lock and SQLite's one writer keep the transaction to itself)."""
    limit = get_settings().customer_upload_bytes_per_day
    if actor.role != Role.CUSTOMER or not files or not limit:
        return
    await db.serialise(session, f'upload-quota:{actor.id}')
    used = int((await session.execute(select(func.coalesce(func.sum(Attachment.size), 0))
                                      .where(Attachment.uploader_id == actor.id,
                                             Attachment.created_at >= utcnow() - WINDOW))).scalar_one())
    new = sum(len(f.data) for f in files)
    if used + new > limit:
        raise _over(new, used, limit)


@asynccontextmanager
async def held(actor: User, files: Sequence[storage.UploadedFile]) -> AsyncIterator[None]:
    """Around storing and committing a customer's files: refused (``ValidationError``) when they would take the
    customer over the day's bound; one such send at a time per customer in this process."""
    limit = get_settings().customer_upload_bytes_per_day
    if actor.role != Role.CUSTOMER or not files or not limit:
        yield
        return
    entry = _locks.setdefault(actor.id, [asyncio.Lock(), 0])  # the lock, and the sends holding or awaiting it
    entry[1] += 1
    try:
        async with entry[0]:
            used = await used_bytes(actor.id)
            new = sum(len(f.data) for f in files)
            if used + new > limit:
                raise _over(new, used, limit)
            yield
    finally:
        entry[1] -= 1
        if not entry[1] and _locks.get(actor.id) is entry:  # the last one: a send still waiting keeps it
            del _locks[actor.id]
