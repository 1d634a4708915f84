"""e-mail in: mailboxes, imported mails, failed imports

Revision ID: 0008b
Revises: 0008a
Create Date: 2026-12-02 03:00:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0008b'
down_revision = '0008a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
