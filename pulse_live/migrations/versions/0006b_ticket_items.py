"""configuration items affected by a ticket (ticket_items)

Revision ID: 0006b
Revises: 0006a
Create Date: 2026-12-02 09:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006b'
down_revision = '0006a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ticket_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['configuration_items.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'item_id')
    )
    with op.batch_alter_table('ticket_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_items_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_items_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticket_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_items_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_items_item_id'))
    op.drop_table('ticket_items')
