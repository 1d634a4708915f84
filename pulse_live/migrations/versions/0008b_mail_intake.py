"""e-mail in: mailboxes, imported mails, failed imports, organisations' mail domains

Revision ID: 0008b
Revises: 0008a
Create Date: 2026-12-02 03:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008b'
down_revision = '0008a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mailboxes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(200), nullable=False, unique=True),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('port', sa.Integer(), nullable=False),
        sa.Column('security', sa.String(10), nullable=False),
        sa.Column('auth', sa.String(10), nullable=False),
        sa.Column('username', sa.String(255), nullable=False),
        sa.Column('secret_encrypted', sa.Text(), nullable=False),
        sa.Column('folder', sa.String(255), nullable=False),
        sa.Column('queue_id', sa.Integer(), sa.ForeignKey('queues.id', ondelete='SET NULL')),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger()),
        sa.Column('last_uid', sa.BigInteger(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('last_checked', sa.DateTime()),
        sa.Column('claimed_by', sa.String(120)),
        sa.Column('claimed_until', sa.DateTime()),
        sa.Column('created_at', sa.DateTime(), nullable=False),
    )
    op.create_table(
        'imported_mails',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('mailbox_id', sa.Integer(), sa.ForeignKey('mailboxes.id', ondelete='CASCADE'), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
        sa.Column('uid', sa.BigInteger(), nullable=False),
        sa.Column('message_id', sa.String(500), nullable=False),
        sa.Column('dedupe_key', sa.String(64), nullable=False),
        sa.Column('first_key', sa.String(64), unique=True),
        sa.Column('sender', sa.String(254), nullable=False),
        sa.Column('subject', sa.String(400), nullable=False),
        sa.Column('outcome', sa.String(20), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), sa.ForeignKey('tickets.id', ondelete='SET NULL')),
        sa.Column('event_id', sa.Integer(), sa.ForeignKey('ticket_events.id', ondelete='SET NULL')),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('mailbox_id', 'uidvalidity', 'uid', name='uq_imported_mail_uid'),
    )
    op.create_index('ix_imported_mails_mailbox_id', 'imported_mails', ['mailbox_id'])
    op.create_index('ix_imported_mails_dedupe_key', 'imported_mails', ['dedupe_key'])
    op.create_index('ix_imported_mails_message_id', 'imported_mails', ['message_id'])
    op.create_index('ix_imported_mails_sender', 'imported_mails', ['sender'])
    op.create_index('ix_imported_mails_created_at', 'imported_mails', ['created_at'])
    op.create_table(
        'failed_imports',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('mailbox_id', sa.Integer(), sa.ForeignKey('mailboxes.id', ondelete='SET NULL')),
        sa.Column('uidvalidity', sa.BigInteger()),
        sa.Column('uid', sa.BigInteger()),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sender', sa.String(254), nullable=False),
        sa.Column('subject', sa.String(400), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('resolved_at', sa.DateTime()),
    )
    op.create_index('ix_failed_imports_mailbox_id', 'failed_imports', ['mailbox_id'])
    op.create_index('ix_failed_imports_status', 'failed_imports', ['status'])
    op.create_table(
        'organisation_mail_domains',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('organisation_id', sa.Integer(), sa.ForeignKey('organisations.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('domain', sa.String(253), nullable=False, unique=True),
    )
    op.create_index('ix_organisation_mail_domains_organisation_id', 'organisation_mail_domains', ['organisation_id'])


def downgrade() -> None:
    op.drop_table('organisation_mail_domains')
    op.drop_table('failed_imports')
    op.drop_table('imported_mails')
    op.drop_table('mailboxes')
