"""logged calls (a chatter entry kind; no schema change unless needed)

Empty on purpose: a logged call is a ``TicketEvent`` row of kind ``call`` (``EventKind.CALL``, a String(20) column
that takes any kind), its facts (direction, seconds, caller, note) in the existing ``data`` JSON column
(``pulse_live/services/calls.py``). Nothing to add, nothing to remove.

Revision ID: 0008d
Revises: 0008c
Create Date: 2026-12-02 03:00:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0008d'
down_revision = '0008c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
