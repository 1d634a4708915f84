"""phone numbers compared by E.164 (users.phone_e164)

Every stored number that parses as a valid number (read in PULSE_PHONE_REGION when written without a country code)
gets its E.164 form in ``phone_e164``; ``phone`` keeps the text as it was typed, so nothing is lost and a number
read in the wrong country stays visible to a person. Numbers that do not parse keep an empty ``phone_e164`` and
are listed in the log (WARNING, by user id) for someone to correct; search still finds them by their digits.
E-mail addresses are not rewritten (they are the login): those the new check would refuse are listed the same way.

Revision ID: 0007c
Revises: 0006b
Create Date: 2026-12-03 09:00:00
"""
import logging

import email_validator
import phonenumbers
import sqlalchemy as sa
from alembic import op

from pulse_live.config import get_settings

revision = '0007c'
down_revision = '0006b'
branch_labels = None
depends_on = None

log = logging.getLogger('pulse_live.migrations.0007c')
users = sa.table('users', sa.column('id', sa.Integer), sa.column('phone', sa.String),
                 sa.column('phone_e164', sa.String), sa.column('email', sa.String))
BATCH = 1000


def e164(text: str, region: str) -> str:
    """The number in E.164, or '' when it does not parse as a valid number."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ''
    if not phonenumbers.is_valid_number(number):
        return ''
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_e164', sa.String(length=20), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_users_phone_e164'), ['phone_e164'], unique=False)
    migrate_rows(op.get_bind(), get_settings().phone_region)


def migrate_rows(bind, region: str) -> tuple[int, list[tuple[int, str]]]:
    """Fill ``phone_e164``; returns how many numbers parsed and the (id, phone) of those that did not."""
    rows = bind.execute(sa.select(users.c.id, users.c.phone).where(users.c.phone != '').order_by(users.c.id)).all()
    parsed, unparsed = [], []
    for user_id, phone in rows:
        value = e164(phone, region)
        if value:
            parsed.append({'user_id': user_id, 'value': value})
        else:
            unparsed.append((user_id, phone))
    update = sa.update(users).where(users.c.id == sa.bindparam('user_id')).values(phone_e164=sa.bindparam('value'))
    for start in range(0, len(parsed), BATCH):
        bind.execute(update, parsed[start:start + BATCH])
    log.info('phone numbers: %d stored in E.164 (region %s), %d kept as typed', len(parsed), region, len(unparsed))
    for user_id, phone in unparsed:
        log.warning('user #%d: phone %r is not a valid number (read in %s): kept as typed, not matched by '
                    'number; correct it on the person\'s card', user_id, phone, region)
    for user_id, address in bind.execute(sa.select(users.c.id, users.c.email).order_by(users.c.id)).all():
        try:
            email_validator.validate_email(address, check_deliverability=False, allow_smtputf8=False)
        except email_validator.EmailNotValidError as e:
            log.warning('user #%d: e-mail %r would be refused now (%s): kept as it is', user_id, address, e)
    return len(parsed), unparsed


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_phone_e164'))
        batch_op.drop_column('phone_e164')
