"""Phone numbers and e-mail addresses checked and compared by kept libraries (``pulse_live/contact.py``):
one number written many ways is one E.164 number, impossible numbers are refused with a message that names them,
numbers in other countries are never taken for ours, partial numbers still find people while typing, and
migration 0007c fills ``users.phone_e164`` for the rows already stored (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from pulse_live import contact
from pulse_live.config import get_settings, reset_settings
from pulse_live.errors import ValidationError
from tests.conftest import PG_URL, pg_available

ANNA = '+41315550101'  # +41 31 555 01 01, Bern (the demo's agent)


# --- one number, written many ways ---------------------------------------------------------------------------

@pytest.mark.parametrize('typed', [
    '+41 31 555 01 01', '0041 31 555 01 01', '0041315550101', '+41 (31) 555-01.01', '+41 31/555 01 01',
    '031 555 01 01',   # national form with the trunk zero: read in Switzerland (PULSE_PHONE_REGION)
    '31 555 01 01',    # … and without it
    '  +41   31 555 01 01  ',
])
def test_the_same_number_written_several_ways_is_one_number(typed):
    assert contact.normalise_phone(typed) == ANNA
    assert contact.check_phone(typed) == contact.Phone(display='+41 31 555 01 01', e164=ANNA)


@pytest.mark.parametrize('typed, e164, display', [
    ('+45 33 12 34 56', '+4533123456', '+45 33 12 34 56'),
    ('0045 33 12 34 56', '+4533123456', '+45 33 12 34 56'),      # 00 is how Switzerland dials out
    ('+44 20 7946 0011', '+442079460011', '+44 20 7946 0011'),
    ('+49 30 1234 567', '+49301234567', '+49 30 1234567'),
    ('+1 212 555 0101', '+12125550101', '+1 212-555-0101'),
    ('079 123 45 67', '+41791234567', '+41 79 123 45 67'),          # a Swiss mobile, written nationally
    ('+41 31 555 01 01 ext. 12', ANNA, '+41 31 555 01 01 ext. 12'),  # the extension is kept for people
    ('', '', ''),
])
def test_valid_numbers_are_stored_in_e164_and_shown_internationally(typed, e164, display):
    assert contact.check_phone(typed) == contact.Phone(display=display, e164=e164)


def test_the_region_setting_reads_national_numbers(monkeypatch):
    assert contact.normalise_phone('030 1234567') == ''  # not a possible Swiss number
    monkeypatch.setenv('PULSE_PHONE_REGION', 'de')
    reset_settings()
    assert get_settings().phone_region == 'DE'
    assert contact.normalise_phone('030 1234567') == '+49301234567'
    assert contact.normalise_phone('+41 31 555 01 01') == ANNA  # a country code always wins
    monkeypatch.setenv('PULSE_PHONE_REGION', 'Narnia')
    reset_settings()
    with pytest.raises(ValueError, match='not a known country'):
        get_settings()


# --- impossible numbers: refused, named, with the way out ---------------------------------------------------

@pytest.mark.parametrize('typed, message', [
    # all of these passed the old check (digits and separators, at least four digits)
    ('+41 12 345', r'^\+41 12 345 is not a possible phone number in Switzerland \(\+41\): it has too few digits'),
    ('+41 31 555 01 01 01 01', r'in Switzerland \(\+41\): it has too many digits'),
    ('+41 00 000 00 00', r'in Switzerland \(\+41\): it is not in a range in use'),
    ('12 34', (r'^12 34 is not a possible phone number in Switzerland, where numbers without a country code are '
              r'read: .*include the country code, e\.g\. \+44 20 7946 0011')),
    ('33 12 34 56', r'^33 12 34 56 is not a possible phone number in Switzerland.*include the country code'),
    ('+999 1234567', r'^\+999 1234567 does not begin with a country code that exists'),
    ('call me maybe', r'^call me maybe is not a phone number'),
    ('+', r'is not a phone number'),
    ('1' * 61, r'too long \(61 characters; at most 60\)'),
])
def test_impossible_numbers_are_refused_with_a_clear_message(typed, message):
    with pytest.raises(ValidationError, match=message):
        contact.check_phone(typed)
    assert contact.normalise_phone(typed) == ''


def test_an_old_number_sent_back_unchanged_may_stay():
    """A form that edits someone's department sends their old (unchecked) number back: it stays, without E.164."""
    assert contact.check_phone('031 555 01 0x', kept='031 555 01 0x') == contact.Phone('031 555 01 0x', '')
    with pytest.raises(ValidationError):  # a new impossible number is refused all the same
        contact.check_phone('031 555 01 0y', kept='031 555 01 0x')
    assert contact.check_phone('031 555 01 01', kept='031 555 01 0x').e164 == ANNA


# --- search as you type ----------------------------------------------------------------------------------------

STORED = {
    'anna': ANNA,                   # +41 31 555 01 01
    'ada': '+41315550100',          # +41 31 555 01 00
    'carl': '+4533123456',          # +45 33 12 34 56
    'eva': '+4533123457',
    'michigan': '+12315550101',     # +1 231 555 0101: the same last nine digits as Anna's
}


def _found(typed: str) -> set[str]:
    query = contact.phone_query(typed)
    return {name for name, e164 in STORED.items() if query and query.matches(e164)}


@pytest.mark.parametrize('typed, found', [
    # full numbers find that number only: the old rule (the last nine digits) also found the Michigan number
    ('031 555 01 01', {'anna'}),
    ('+41 31 555 01 01', {'anna'}),
    ('0041 31 555 01 01', {'anna'}),
    ('315550101', {'anna'}),
    ('+1 231 555 0101', {'michigan'}),
    ('001 231 555 0101', {'michigan'}),
    ('+45 33 12 34 56', {'carl'}),
    # partial numbers, while typing
    ('555 01', {'anna', 'ada', 'michigan'}),   # digits anywhere
    ('031 555', {'anna', 'ada'}),               # a national beginning: +41 31 555…
    ('031 555 01 0', {'anna', 'ada'}),
    ('+41 31', {'anna', 'ada'}),
    ('0041 31 5', {'anna', 'ada'}),
    ('+45 33 12', {'carl', 'eva'}),
    ('33 12 34 56', {'carl'}),                  # a Danish number without its country code: its digits
    ('01 01', {'anna', 'michigan'}),
    ('+1 231', {'michigan'}),
    ('999 999', set()),
])
def test_search_as_you_type(typed, found):
    assert _found(typed) == found


def test_exact_numbers_rank_above_partial_ones():
    query = contact.phone_query('031 555 01 01')
    assert (query.matches(ANNA), query.matches('+41315550100')) == (2, 0)
    partial = contact.phone_query('555 01')
    assert partial.matches(ANNA) == 1


@pytest.mark.parametrize('typed', ['ab', 'anna@pulse.demo', '12', 'Keller 031'])
def test_text_that_is_not_a_number_is_no_phone_query(typed):
    assert contact.phone_query(typed) is None
    assert contact.phone_query('031 555') is not None  # while digits alone are one


def test_old_numbers_kept_as_typed_are_found_by_their_digits():
    """Rows the migration could not parse have no E.164: search compares their digits."""
    assert contact.phone_query('555 01 0').matches('', '031 555 01 0x') == 1
    assert contact.phone_query('031 555').matches('', '031 555 01 0x') == 1
    assert contact.phone_query('777').matches('', '031 555 01 0x') == 0


# --- e-mail addresses ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('typed, stored', [
    ('anna@pulse.demo', 'anna@pulse.demo'),
    ('  Anna.Keller@Pulse.DEMO ', 'anna.keller@pulse.demo'),
    ('a+tag@acme.demo', 'a+tag@acme.demo'),
    ('anna@bücher.example', 'anna@xn--bcher-kva.example'),   # an internationalised domain, in its ASCII form
    ('anna@xn--bcher-kva.example', 'anna@xn--bcher-kva.example'),
    ('a@例え.jp', 'a@xn--r8jz45g.jp'),
])
def test_addresses_are_checked_and_stored_in_one_form(typed, stored):
    assert contact.check_email(typed) == stored
    assert contact.normalise_email(typed) == stored


@pytest.mark.parametrize('typed, message', [
    # all but the first two passed the old check (something@something.something)
    ('', r'^E-mail is required\.$'),
    ('not-an-address', r'^not-an-address is not a valid e-mail address: An email address must have an @-sign'),
    ('a..b@acme.demo', r'^a\.\.b@acme\.demo is not a valid e-mail address: .*two periods in a row'),
    ('anna@-acme.demo', r'is not a valid e-mail address: .*hyphen'),
    ('anna@acme.demo.', r'is not a valid e-mail address: .*cannot end with a period'),
    ('jörg@bücher.example', (r'^jörg@bücher\.example is not a valid e-mail address: Internationalized characters '
                            r'before the @-sign are not supported')),
    ('anna@bücher..example', r'^anna@bücher\.\.example is not a valid e-mail address'),
    ('anna@xn--zz.example', r'is not a valid e-mail address: The part after the @-sign is not valid IDNA'),
    ('it@corp.local', r'is not a valid e-mail address: .*special-use or reserved name'),
    ('a@b@acme.demo', r'is not a valid e-mail address'),
    ('x' * 250 + '@acme.demo', r'too long \(260 characters; at most 254\)'),
])
def test_impossible_addresses_are_refused_with_the_reason(typed, message):
    with pytest.raises(ValidationError, match=message):
        contact.check_email(typed)
    assert not contact.is_valid_email(typed)


def test_an_old_address_sent_back_unchanged_may_stay():
    assert contact.check_email('IT@corp.local', kept='it@corp.local') == 'it@corp.local'
    with pytest.raises(ValidationError):
        contact.check_email('it2@corp.local', kept='it@corp.local')


# --- migration 0007c: the rows already stored ------------------------------------------------------------------

OLD_PHONES = {
    'anna@pulse.demo': ('+41 31 555 01 01', ANNA),
    'ben@pulse.demo': ('031 555 01 02', '+41315550102'),       # national form: read in the region
    'carl@acme.demo': ('0045 33 12 34 56', '+4533123456'),
    'tom@globex.demo': ('+44 (20) 7946-0011', '+442079460011'),
    'odd@acme.demo': ('ask at the reception', ''),               # kept as typed, reported
    'short@acme.demo': ('+41 12 345', ''),
    'none@acme.demo': ('', ''),
    'it@corp.local': ('', ''),                                   # an address the new check refuses: reported only
}


def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option('script_location', os.path.join(os.path.dirname(contact.__file__), 'migrations'))
    cfg.set_main_option('sqlalchemy.url', url)
    return cfg


async def _run_sql(url: str, schema: str, fn):
    from pulse_live.db import make_engine
    engine = make_engine(url, schema=schema)
    try:
        async with engine.begin() as conn:
            return await fn(conn)
    finally:
        await engine.dispose()


@pytest.fixture(params=['sqlite', 'postgresql'])
def migration_db(request, tmp_path, monkeypatch):
    """An empty database (own schema on PostgreSQL) that migrations run on in this process."""
    if request.param == 'sqlite':
        yield f'sqlite+aiosqlite:///{tmp_path / "migrate.db"}', ''
        return
    if not pg_available():
        pytest.skip('PostgreSQL is not answering on 127.0.0.1:5432')
    schema = f'pulse_migrate_{os.getpid()}'
    monkeypatch.setenv('PULSE_DATABASE_SCHEMA', schema)
    reset_settings()

    async def drop(conn):
        await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS {schema} CASCADE'))
    asyncio.run(_run_sql(PG_URL, '', drop))
    yield PG_URL, schema
    asyncio.run(_run_sql(PG_URL, '', drop))


def test_migration_fills_e164_and_keeps_every_number_as_typed(migration_db, caplog):
    url, schema = migration_db
    cfg = _alembic(url)
    command.upgrade(cfg, '0006b')

    async def seed(conn):
        org = (await conn.execute(sa.text("INSERT INTO organisations (name, is_provider, tier, created_at) "
                                          "VALUES ('ACME', false, 'gold', :now) RETURNING id"),
                                  {'now': datetime(2026, 1, 1)})).scalar_one()
        for email, (phone, _) in OLD_PHONES.items():
            await conn.execute(sa.text(
                'INSERT INTO users (email, password_hash, role, organisation_id, display_name, phone, location, '
                'department, card_published, is_org_admin, is_active, email_notifications, notify_delay_s, '
                "notify_scope, created_at) VALUES (:email, 'x', 'customer', :org, :email, :phone, '', '', false, "
                "false, true, true, 300, 'mine', :now)"), {'email': email, 'org': org, 'phone': phone,
                                                           'now': datetime(2026, 1, 1)})
    asyncio.run(_run_sql(url, schema, seed))
    with caplog.at_level(logging.INFO, logger='pulse_live.migrations'):
        command.upgrade(cfg, 'head')

    async def read(conn):
        found = await conn.execute(sa.text('SELECT email, phone, phone_e164 FROM users'))
        return {e: (p, p164) for e, p, p164 in found}
    rows = asyncio.run(_run_sql(url, schema, read))
    assert rows == {email: (phone, e164) for email, (phone, e164) in OLD_PHONES.items()}  # nothing rewritten
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    assert any("'ask at the reception' is not a valid number (read in CH): kept as typed" in w for w in warnings)
    assert any("'+41 12 345' is not a valid number" in w for w in warnings)
    assert any("e-mail 'it@corp.local' would be refused now" in w for w in warnings)
    assert any('phone numbers: 4 stored in E.164 (region CH), 2 kept as typed' in r.getMessage()
               for r in caplog.records)

    command.downgrade(cfg, '0006b')  # and back: the numbers as typed are still there
    assert {e: p for e, (p, _) in asyncio.run(_run_sql(url, schema, _phones)).items()} == \
        {e: p for e, (p, _) in OLD_PHONES.items()}


async def _phones(conn):
    return {e: (p, None) for e, p in await conn.execute(sa.text('SELECT email, phone FROM users'))}
