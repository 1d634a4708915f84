"""service levels: clocks for tickets from before the upgrade, the update-every flag

- ``tickets.next_update_breached`` ("update every N" met / breached, like the other targets) and its pending index
  (the worker's breach read, ``models/escalation.PENDING_TARGET_INDEXES``);
- ``sla_clock_jobs``: work on many clocks that the escalation worker does in batches (a recompute after an admin's
  change; the upgrade below), resumable after a restart;
- one ``upgrade`` job anchored now: open tickets from before the clock existed get their due times counted from this
  moment, not from their creation (otherwise they all breach at once). Done once by the worker's first run.

Revision ID: 0009c
Revises: 0009b
Create Date: 2026-12-02 06:20:00
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0009c'
down_revision = '0009b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('next_update_breached', sa.Boolean(), nullable=True))
    op.create_index('ix_tickets_next_update_pending', 'tickets', ['next_update_breached', 'next_update_due_at'],
                    unique=False)
    jobs = op.create_table(
        'sla_clock_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('anchor_at', sa.DateTime(), nullable=False),
        sa.Column('requested_at', sa.DateTime(), nullable=False),
        sa.Column('after_id', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('changed', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sla_clock_jobs_finished', 'sla_clock_jobs', ['finished_at', 'id'], unique=False)
    now = datetime.now(UTC).replace(tzinfo=None)
    total = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM tickets WHERE status IN ('open', 'in_progress', 'waiting') "
        'AND first_response_due_at IS NULL AND resolution_due_at IS NULL')).scalar_one()
    op.bulk_insert(jobs, [{'kind': 'upgrade', 'organisation_id': None,
                           'reason': 'Upgrade: open tickets get due times counted from now', 'anchor_at': now,
                           'requested_at': now, 'after_id': 0, 'done': 0, 'changed': 0, 'total': total,
                           'finished_at': None}])


def downgrade() -> None:
    op.drop_index('ix_sla_clock_jobs_finished', table_name='sla_clock_jobs')
    op.drop_table('sla_clock_jobs')
    op.drop_index('ix_tickets_next_update_pending', table_name='tickets')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('next_update_breached')
