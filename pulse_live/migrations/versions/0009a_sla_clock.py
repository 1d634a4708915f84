"""service levels: calendars, policies, the clock on every ticket, waiting for customer

Revision ID: 0009a
Revises: 0008d
Create Date: 2026-12-02 03:20:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0009a'
down_revision = '0008d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
