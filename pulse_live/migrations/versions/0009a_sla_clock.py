"""service levels: calendars, policies, the clock on every ticket, waiting for customer

The status "waiting" (``Status.WAITING``) needs no schema change: ``tickets.status`` is a String(20) without a check
constraint. Default calendar and policies are data, added by ``pulse-live migrate``'s catalog step
(``services/catalog.ensure_catalog`` → ``services/sla_admin.ensure_default_sla``).

Revision ID: 0009a
Revises: 0008d
Create Date: 2026-12-02 03:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009a'
down_revision = '0008d'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'business_calendars',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'sla_policies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('conditions', sa.JSON(), nullable=False),
        sa.Column('calendar_id', sa.Integer(), nullable=False),
        sa.Column('first_response_minutes', sa.Integer(), nullable=False),
        sa.Column('resolution_minutes', sa.Integer(), nullable=False),
        sa.Column('update_minutes', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['calendar_id'], ['business_calendars.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('sla_policy_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('first_response_due_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('resolution_due_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('next_update_due_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('sla_paused_since', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('sla_paused_seconds', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('sla_cycle', sa.Integer(), server_default='1', nullable=False))
        batch.add_column(sa.Column('first_response_breached', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('resolution_breached', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('escalation_level', sa.Integer(), server_default='0', nullable=False))
        batch.create_foreign_key('fk_tickets_sla_policy_id_sla_policies', 'sla_policies', ['sla_policy_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_index('ix_tickets_status_first_response_due', ['status', 'first_response_due_at'])
        batch.create_index('ix_tickets_status_resolution_due', ['status', 'resolution_due_at'])
        batch.create_index('ix_tickets_status_next_update_due', ['status', 'next_update_due_at'])


def downgrade() -> None:
    # tickets waiting for the customer go back to "in progress" (the status the older code knows)
    op.execute("UPDATE tickets SET status = 'in_progress' WHERE status = 'waiting'")
    with op.batch_alter_table('tickets') as batch:
        batch.drop_index('ix_tickets_status_next_update_due')
        batch.drop_index('ix_tickets_status_resolution_due')
        batch.drop_index('ix_tickets_status_first_response_due')
        batch.drop_constraint('fk_tickets_sla_policy_id_sla_policies', type_='foreignkey')
        for column in ('escalation_level', 'resolution_breached', 'first_response_breached', 'sla_cycle',
                       'sla_paused_seconds', 'sla_paused_since', 'next_update_due_at', 'resolution_due_at',
                       'first_response_due_at', 'sla_policy_id'):
            batch.drop_column(column)
    op.drop_table('sla_policies')
    op.drop_table('business_calendars')
