"""attachment storage backends (local directory, S3-compatible)

Reserved in the chain so parallel work lands in order; left empty on purpose if the work needed no schema change.

Revision ID: 0011c
Revises: 0011b
Create Date: 2026-12-02 06:20:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0011c'
down_revision = '0011b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
