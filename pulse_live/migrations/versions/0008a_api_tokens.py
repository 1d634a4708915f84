"""personal API tokens

Revision ID: 0008a
Revises: 0007c
Create Date: 2026-12-02 03:00:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0008a'
down_revision = '0007c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
