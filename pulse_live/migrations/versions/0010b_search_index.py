"""full-text search index (SQLite FTS5 / PostgreSQL tsvector + GIN)

The documents table, the engine's index beside it (``pulse_live/search/schema.py``: FTS5 + triggers on SQLite; the
tsv column, its trigger and GIN indexes per kind on PostgreSQL, in ``PULSE_SEARCH_LANGUAGE``), then filled from the
rows already stored (``pulse_live/search/index.rebuild``).

Revision ID: 0010b
Revises: 0010a
Create Date: 2026-12-02 06:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010b'
down_revision = '0010a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'search_documents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('object_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('staff_text', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'object_id', name='uq_search_documents_kind_object'),
    )
    op.create_index('ix_search_documents_kind_id', 'search_documents', ['kind', 'id'])
    op.create_index('ix_search_documents_ticket_id', 'search_documents', ['ticket_id'])
    from pulse_live.search import index, schema
    conn = op.get_bind()
    schema.create(conn)
    index.rebuild(conn)


def downgrade() -> None:
    from pulse_live.search import schema
    schema.drop(op.get_bind())
    op.drop_index('ix_search_documents_ticket_id', table_name='search_documents')
    op.drop_index('ix_search_documents_kind_id', table_name='search_documents')
    op.drop_table('search_documents')
