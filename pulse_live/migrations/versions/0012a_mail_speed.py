"""mail speed: the configuration's version row (services/config_cache.py)

Revision ID: 0012a
Revises: 0011c
Create Date: 2026-12-02 12:10:00
"""
import random

import sqlalchemy as sa
from alembic import op

revision = '0012a'
down_revision = '0011c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'config_versions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True, autoincrement=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
    )
    op.execute(sa.text('INSERT INTO config_versions (id, version) VALUES (:id, :v)')
               .bindparams(id=random.randint(1, 2**40), v=random.randint(1, 2**40)))


def downgrade() -> None:
    op.drop_table('config_versions')
