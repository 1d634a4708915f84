"""attachments by uploader and time: an index for a customer's day of files

A customer could send ~1.5 GB of files a minute (services/upload_quota.py bounds it per day now); the bound sums the
sizes of the customer's attachments of the last 24 hours, which is this index's range.

Revision ID: 0015a
Revises: 0014a
Create Date: 2026-12-06 10:00:00
"""
from alembic import op

revision = '0015a'
down_revision = '0014a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_attachments_uploader_created', 'attachments', ['uploader_id', 'created_at'],
                    if_not_exists=True)


def downgrade() -> None:
    op.drop_index('ix_attachments_uploader_created', table_name='attachments', if_exists=True)
