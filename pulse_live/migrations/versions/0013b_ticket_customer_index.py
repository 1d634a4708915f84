"""tickets by customer: an index on (customer_id, status)

The customer directory counted each listed customer's open tickets with a count correlated to the listing, and
tickets had no index on customer_id: every load of /customers read all tickets once per customer (2.6 s of CPU with
30,000 tickets). The count is now one grouped read of the listed customers' tickets (``queries/customers.py``)
along this index; a customer's profile reads their tickets along it too.

Revision ID: 0013b
Revises: 0013a
Create Date: 2026-12-03 15:20:00
"""
from alembic import op

revision = '0013b'
down_revision = '0013a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS (SQLite and PostgreSQL): a database that has the index already (built from the models) is left
    op.create_index('ix_tickets_customer_status', 'tickets', ['customer_id', 'status'], if_not_exists=True)


def downgrade() -> None:
    op.drop_index('ix_tickets_customer_status', table_name='tickets', if_exists=True)
