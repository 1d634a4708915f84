"""users.access_epoch: deactivating, reactivating or re-addressing an account ends its sessions and password links

A password link named the user and a fingerprint of the password hash only: a link mailed to an account's old
address still worked after staff changed the address, and a link made before a deactivation worked again after the
reactivation. The epoch goes into that fingerprint (``auth.password_stamp``); accounts start at 0, whose
fingerprint is the one they had before, so no session ends with this migration.

Revision ID: 0016a
Revises: 0015a
Create Date: 2026-12-06 12:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0016a'
down_revision = '0015a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('access_epoch', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('access_epoch')
