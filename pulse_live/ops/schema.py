"""The database's migration state: the code's head revision, the database's current one, what is pending."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from .. import db


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option('script_location', str(Path(__file__).parent.parent / 'migrations'))
    cfg.set_main_option('sqlalchemy.url', url)
    return cfg


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config('sqlite://'))


def head() -> str:
    heads = script().get_heads()
    return heads[0] if len(heads) == 1 else ','.join(sorted(heads))


@dataclass(frozen=True)
class State:
    current: str | None  # None: no migration ever ran (an empty database)
    head: str
    pending: tuple[tuple[str, str], ...]  # (revision, title), oldest first

    @property
    def up_to_date(self) -> bool:
        return not self.pending


async def current_revision() -> str | None:
    async with db.engine().connect() as conn:
        has_table = await conn.run_sync(lambda c: inspect(c).has_table('alembic_version'))
        if not has_table:
            return None
        return (await conn.execute(text('SELECT version_num FROM alembic_version'))).scalar_one_or_none()


async def state() -> State:
    """Where the database stands against the code's migrations (read with the process-wide engine)."""
    current = await current_revision()
    scripts = script()
    top = head()
    pending = [(rev.revision, (rev.doc or '').splitlines()[0] if rev.doc else '')
               for rev in scripts.iterate_revisions(top, current)]
    return State(current=current, head=top, pending=tuple(reversed(pending)))
