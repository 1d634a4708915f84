"""article versions: their added/removed line counts, counted when saved

An article's history read every version's whole text to count the lines each save changed: 999 versions of a
200,000-character article (any agent can make them) held the event loop for 2 s and 400 MB per opening of the page.
The counts are now stored with each version; versions saved before keep NULL and are counted when the history is
read (one pair of texts at a time).

Revision ID: 0014a
Revises: 0013c
Create Date: 2026-12-06 07:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0014a'
down_revision = '0013c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('kb_article_versions') as batch:
        batch.add_column(sa.Column('lines_added', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('lines_removed', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('kb_article_versions') as batch:
        batch.drop_column('lines_removed')
        batch.drop_column('lines_added')
