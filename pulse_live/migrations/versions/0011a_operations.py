"""operations: why a mail last failed (an outage is retried by itself once the server answers again)

Revision ID: 0011a
Revises: 0010c
Create Date: 2026-12-02 06:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011a'
down_revision = '0010c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mail_outbox') as batch_op:
        batch_op.add_column(sa.Column('last_failure', sa.String(length=20), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('mail_outbox') as batch_op:
        batch_op.drop_column('last_failure')
