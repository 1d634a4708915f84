"""search speed: PostgreSQL reads the newest tickets and messages along an index of their own

As-you-type search on PostgreSQL first looks among the newest documents of a large kind (``search/engine.py``,
``_newest_first``). Read along the primary key, "the newest 2,000 tickets" stepped over every newer message first;
a partial btree of each large kind's ids (``search/schema.py``, ``pg_recent_indexes``) reads just them. Built here
over the documents already stored (the index needs no other change: SQLite's FTS5 is read newest first already).

Revision ID: 0012b
Revises: 0012a
Create Date: 2026-12-02 12:10:00
"""
from alembic import op

revision = '0012b'
down_revision = '0012a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == 'postgresql':
        from pulse_live.search import schema
        for statement in schema.pg_recent_indexes():
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql('ANALYZE search_documents')


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == 'postgresql':
        from pulse_live.search import schema
        for kind in schema.RECENT_KINDS:
            conn.exec_driver_sql(f'DROP INDEX IF EXISTS ix_search_recent_{kind}')
