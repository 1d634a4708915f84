"""intake: XOAUTH2 mailboxes refresh their access token (token endpoint, client, refresh token, expiry)

Reserved in the chain so parallel work lands in order (the mail intake's speed work needed no schema change).

Revision ID: 0011b
Revises: 0011a
Create Date: 2026-12-02 06:20:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0011b'
down_revision = '0011a'
branch_labels = None
depends_on = None


COLUMNS = ('oauth_token_url', 'oauth_client_id', 'oauth_client_secret_encrypted', 'oauth_refresh_encrypted',
           'oauth_expires_at')


def upgrade() -> None:
    with op.batch_alter_table('mailboxes') as batch:
        batch.add_column(sa.Column('oauth_token_url', sa.String(500), nullable=False, server_default=''))
        batch.add_column(sa.Column('oauth_client_id', sa.String(255), nullable=False, server_default=''))
        batch.add_column(sa.Column('oauth_client_secret_encrypted', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('oauth_refresh_encrypted', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('oauth_expires_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mailboxes') as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
