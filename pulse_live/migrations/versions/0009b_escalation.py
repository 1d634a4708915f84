"""escalation rules, their firings, outgoing webhooks (durable queue)

Revision ID: 0009b
Revises: 0009a
Create Date: 2026-12-02 03:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009b'
down_revision = '0009a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'escalation_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('criterion', sa.String(length=30), nullable=False),
        sa.Column('target', sa.String(length=30), nullable=True),
        sa.Column('share_percent', sa.Integer(), nullable=True),
        sa.Column('minutes', sa.Integer(), nullable=True),
        sa.Column('conditions', sa.JSON(), nullable=False),
        sa.Column('actions', sa.JSON(), nullable=False),
        sa.Column('round_the_clock', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'escalation_firings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('cycle', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('fired_at', sa.DateTime(), nullable=False),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('plan', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['rule_id'], ['escalation_rules.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('rule_id', 'ticket_id', 'cycle', name='uq_escalation_firing'),
    )
    op.create_index('ix_escalation_firings_ticket', 'escalation_firings', ['ticket_id', 'cycle'], unique=False)
    op.create_index('ix_escalation_firings_fired_at', 'escalation_firings', ['fired_at'], unique=False)
    op.create_table(
        'escalation_schedule',
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('ticket_id'),
    )
    op.create_index(op.f('ix_escalation_schedule_due_at'), 'escalation_schedule', ['due_at'], unique=False)
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('event', sa.String(length=60), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_webhook_deliveries_endpoint_id'), 'webhook_deliveries', ['endpoint_id'], unique=False)
    op.create_index('ix_webhook_deliveries_status_next', 'webhook_deliveries', ['status', 'next_attempt_at'],
                    unique=False)
    # the worker's round: the SLA clock's pending targets (models/escalation.py, PENDING_TARGET_INDEXES)
    op.create_index('ix_tickets_first_response_pending', 'tickets',
                    ['first_response_breached', 'first_response_due_at'], unique=False)
    op.create_index('ix_tickets_resolution_pending', 'tickets', ['resolution_breached', 'resolution_due_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_tickets_resolution_pending', table_name='tickets')
    op.drop_index('ix_tickets_first_response_pending', table_name='tickets')
    op.drop_index('ix_webhook_deliveries_status_next', table_name='webhook_deliveries')
    op.drop_index(op.f('ix_webhook_deliveries_endpoint_id'), table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
    op.drop_index(op.f('ix_escalation_schedule_due_at'), table_name='escalation_schedule')
    op.drop_table('escalation_schedule')
    op.drop_index('ix_escalation_firings_fired_at', table_name='escalation_firings')
    op.drop_index('ix_escalation_firings_ticket', table_name='escalation_firings')
    op.drop_table('escalation_firings')
    op.drop_table('escalation_rules')
