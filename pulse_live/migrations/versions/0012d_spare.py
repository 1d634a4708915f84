"""spare (reserved)

Reserved in the chain so parallel work lands in order; left empty on purpose if the work needed no schema change.

Revision ID: 0012d
Revises: 0012c
Create Date: 2026-12-02 12:10:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0012d'
down_revision = '0012c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
