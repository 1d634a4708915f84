"""outbox batch index: (batch_key, status) instead of batch_key alone

The planner's read of the open mails of a change's recipients filters on batch_key and status; with an index on
batch_key alone SQLite's planner took the status index and read every pending mail (thousands in a backlog).

Revision ID: 0013a
Revises: 0012d
Create Date: 2026-12-03 13:40:00
"""
from alembic import op

revision = '0013a'
down_revision = '0012d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_mail_outbox_batch_status', 'mail_outbox', ['batch_key', 'status'])
    op.drop_index('ix_mail_outbox_batch_key', table_name='mail_outbox')


def downgrade() -> None:
    op.create_index('ix_mail_outbox_batch_key', 'mail_outbox', ['batch_key'])
    op.drop_index('ix_mail_outbox_batch_status', table_name='mail_outbox')
