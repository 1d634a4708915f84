"""escalation rules, their firings, outgoing webhooks (durable queue)

Revision ID: 0009b
Revises: 0009a
Create Date: 2026-12-02 03:20:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0009b'
down_revision = '0009a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
