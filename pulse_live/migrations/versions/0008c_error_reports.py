"""error reports: sources and groups

Revision ID: 0008c
Revises: 0008b
Create Date: 2026-12-02 03:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008c'
down_revision = '0008b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'error_sources',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('public_key', sa.String(length=64), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('service_id', sa.Integer(), nullable=True),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('queue_id', sa.Integer(), nullable=True),
        sa.Column('contact_id', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('rate_limit_per_minute', sa.Integer(), nullable=False),
        sa.Column('rate_limited', sa.BigInteger(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['service_id'], ['services.id']),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id']),
        sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['contact_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('public_key'),
    )
    op.create_table(
        'error_groups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source_id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('culprit', sa.String(length=300), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('first_seen', sa.DateTime(), nullable=False),
        sa.Column('last_seen', sa.DateTime(), nullable=False),
        sa.Column('last_event', sa.JSON(), nullable=True),
        sa.Column('regressions', sa.Integer(), nullable=False),
        sa.Column('last_regression_at', sa.DateTime(), nullable=True),
        sa.Column('claimed_at', sa.DateTime(), nullable=True),
        sa.Column('grouping', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['source_id'], ['error_sources.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source_id', 'fingerprint', name='uq_error_groups_source_fingerprint'),
    )
    with op.batch_alter_table('error_groups', schema=None) as batch_op:
        batch_op.create_index('ix_error_groups_source_last_seen', ['source_id', 'last_seen'], unique=False)
        batch_op.create_index(batch_op.f('ix_error_groups_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('error_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_error_groups_ticket_id'))
        batch_op.drop_index('ix_error_groups_source_last_seen')
    op.drop_table('error_groups')
    op.drop_table('error_sources')
