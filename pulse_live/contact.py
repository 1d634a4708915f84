"""Phone numbers and e-mail addresses: one way to check them and one way to compare them, by kept libraries.

Phone numbers (``phonenumbers``, Google's libphonenumber rules). People write the same number many ways:
``+41 31 555 01 01``, ``0041 31 555 01 01``, ``+41 (31) 555-01.01``, ``031 555 01 01``. A number written without a
country code is read in the installation's region (``PULSE_PHONE_REGION``, e.g. ``CH``). A saved number is stored
twice: ``users.phone`` in the international format (``+41 31 555 01 01``, extension kept), which every colleague
can dial from any country, and ``users.phone_e164`` (``+41315550101``, indexed), which is what numbers are compared
by. Numbers that cannot exist (too short, too long, an unused range) are refused with a message that names them.

Search as you type (``phone_query``): a complete number finds only that number (by its E.164 form, or a longer one
beginning with it, for countries whose numbers vary in length); a partial one finds numbers that begin with it
(``+41 31 5``, ``031 5`` in the region) or contain its digits (``555 01``). Comparing whole numbers by country
code and all digits means ``031 555 01 01`` in Switzerland never finds ``+1 231 555 0101`` in the USA, which the
old rule (the last nine digits) did.

E-mail addresses (``email-validator``, syntax only: no DNS lookups). Stored lower case, the domain in its ASCII
(IDNA) form so every mail server can deliver to it: ``anna@bücher.example`` is stored as
``anna@xn--bcher-kva.example``. Addresses with non-ASCII characters before the @ are refused: they need an
SMTPUTF8 mail server, which the sender does not require.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import email_validator
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers import geocoder as phone_geocoder
from sqlalchemy import ColumnElement, and_, func, or_

from .config import get_settings
from .errors import ValidationError

PHONE_CHARS = re.compile(r'^[+0-9 ()./-]+$')
SEPARATORS = ' ()./-'
MIN_SEARCH_DIGITS = 3
MAX_PHONE_LENGTH = 60   # users.phone
MAX_EMAIL_LENGTH = 254  # users.email (RFC 5321)
E164_EXAMPLE = '+44 20 7946 0011'


# --- phone numbers ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Phone:
    display: str  # international format, extension kept: +41 31 555 01 01 ext. 12
    e164: str     # +41315550101: what numbers are compared by


def phone_region() -> str:
    return get_settings().phone_region


@lru_cache(maxsize=64)
def region_name(region: str) -> str:
    """``CH`` → ``Switzerland`` (English), for messages."""
    example = phonenumbers.example_number(region)
    name = phone_geocoder.country_name_for_number(example, 'en') if example else ''
    return name or region


_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: 'it has too few digits',
    phonenumbers.ValidationResult.TOO_LONG: 'it has too many digits',
    phonenumbers.ValidationResult.INVALID_LENGTH: 'it has the wrong number of digits',
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: 'its country code is not valid',
}


def _international(number: phonenumbers.PhoneNumber) -> bool:
    return number.country_code_source in (phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN,
                                          phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD)


def check_phone(text: str | None, *, region: str | None = None, kept: str = '') -> Phone:
    """The number a person typed, checked: ``Phone('', '')`` for an empty field, else its international display
    form and E.164; ``ValidationError`` naming the number when it cannot exist.

    ``kept``: the number stored now. Sent back unchanged, an old number saved before numbers were checked passes
    as it is (``Phone(kept, '')``), so a form that edits something else does not force anyone to fix or clear it."""
    text = ' '.join((text or '').split())
    if not text:
        return Phone('', '')
    try:
        return _check_phone(text, region or phone_region())
    except ValidationError:
        if kept and text == ' '.join(kept.split()):
            return Phone(kept, '')
        raise


def _check_phone(text: str, region: str) -> Phone:
    if len(text) > MAX_PHONE_LENGTH:
        raise ValidationError(f'The phone number is too long ({len(text)} characters; at most {MAX_PHONE_LENGTH}).')
    try:
        number = phonenumbers.parse(text, region, keep_raw_input=True)
    except NumberParseException as e:
        if e.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            raise ValidationError(f'{text} does not begin with a country code that exists. '
                                  f'Write it like {E164_EXAMPLE}.') from None
        raise ValidationError(f'{text} is not a phone number. Write it with digits, e.g. {E164_EXAMPLE}.') from None
    if phonenumbers.is_valid_number(number):
        return Phone(display=phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
                     e164=phonenumbers.format_number(number, PhoneNumberFormat.E164))
    reason = _REASONS.get(phonenumbers.is_possible_number_with_reason(number), 'it is not in a range in use')
    if _international(number):
        country = phonenumbers.region_code_for_country_code(number.country_code or 0)  # 0: 'ZZ'
        where = f' in {region_name(country)} (+{number.country_code})' if country != 'ZZ' else ''
        raise ValidationError(f'{text} is not a possible phone number{where}: {reason}. Check the digits.')
    raise ValidationError(
        f'{text} is not a possible phone number in {region_name(region)}, where numbers without a country code are '
        f'read: {reason}. Check the digits, or include the country code, e.g. {E164_EXAMPLE}.')


def normalise_phone(text: str | None, *, region: str | None = None) -> str:
    """E.164 of a valid number (``+41315550101``), else ``''``: for comparing, never raises."""
    try:
        return check_phone(text, region=region).e164
    except ValidationError:
        return ''


def looks_like_phone(text: str) -> bool:
    """Something a person typed as a phone number (digits and separators only, enough digits)."""
    text = (text or '').strip()
    return bool(PHONE_CHARS.match(text)) and sum(c.isdigit() for c in text) >= MIN_SEARCH_DIGITS


@dataclass(frozen=True)
class PhoneQuery:
    """What a typed (maybe partial) number looks for in stored numbers."""
    exact: str = ''                     # a complete, valid number: +41315550101
    prefixes: tuple[str, ...] = ()      # E.164 numbers beginning with these: +4131555
    fragment: str = ''                  # digits anywhere in the number: 55501

    def _legacy_keys(self) -> list[str]:
        """Digits looked for in an old number kept as typed (no E.164): the fragment, or the prefixes' digits."""
        return [k for k in (self.fragment, *(p.lstrip('+') for p in self.prefixes)) if k]

    def matches(self, e164: str, phone: str = '') -> int:
        """0 no match, 2 the same number, 1 a partial match (the ranking of ``queries/customers.py``).
        ``phone`` (the number as stored) counts only when there is no ``e164``: an old number kept as typed."""
        if not e164:
            digits = re.sub(r'\D', '', phone)
            return 1 if digits and any(k in digits for k in self._legacy_keys()) else 0
        if self.exact and e164 == self.exact:
            return 2
        if any(e164.startswith(p) for p in self.prefixes) or (self.fragment and self.fragment in e164):
            return 1
        return 0

    def where(self, e164_column, phone_column) -> ColumnElement[bool]:
        """The same test in SQL (SQLite and PostgreSQL alike); the keys are digits and ``+``, never wildcards."""
        conditions = [e164_column.like(f'{p}%') for p in self.prefixes]
        if self.exact:
            conditions.append(e164_column == self.exact)
        if self.fragment:
            conditions.append(e164_column.like(f'%{self.fragment}%'))
        legacy = [phone_digits_sql(phone_column).like(f'%{k}%') for k in self._legacy_keys()]
        if legacy:
            conditions.append(and_(e164_column == '', phone_column != '', or_(*legacy)))
        return or_(*conditions)


def phone_query(text: str, *, region: str | None = None) -> PhoneQuery | None:
    """How search as you type reads a number (``None``: not a number). See the module docstring."""
    if not looks_like_phone(text):
        return None
    region = region or phone_region()
    text = ' '.join(text.split())
    whole = normalise_phone(text, region=region)
    if whole:
        return PhoneQuery(exact=whole, prefixes=(whole,))
    digits = re.sub(r'\D', '', text)
    if text.startswith('+'):
        return PhoneQuery(prefixes=(f'+{digits}',))
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    idd = re.match(f'(?:{metadata.international_prefix})', digits) if metadata and metadata.international_prefix \
        else None
    if idd and len(digits) > idd.end():  # 0041 31 5… in Switzerland: the IDD stands for "+"
        return PhoneQuery(prefixes=(f'+{digits[idd.end():]}',))
    prefixes: tuple[str, ...] = ()
    national = metadata.national_prefix if metadata else None
    if metadata and national and digits.startswith(national) and len(digits) > len(national):  # 031 5…: +41 31 5…
        prefixes = (f'+{metadata.country_code}{digits[len(national):]}',)
    return PhoneQuery(prefixes=prefixes, fragment=digits)


def phone_digits_sql(column) -> ColumnElement[str]:
    """A stored phone column without separators and ``+`` (SQL, for SQLite and PostgreSQL alike): for numbers
    kept as typed because they were saved before numbers were checked and do not parse (see migration 0007c)."""
    expr = column
    for char in SEPARATORS + '+':
        expr = func.replace(expr, char, '')
    return expr


# --- e-mail addresses ------------------------------------------------------------------------------------------

def check_email(text: str | None, *, kept: str = '') -> str:
    """The address a person typed, checked and in its stored form (see the module docstring);
    ``ValidationError`` with the library's reason when it cannot be an address. ``kept``: the address stored now,
    which passes unchanged even if today's check would refuse it (as for ``check_phone``)."""
    text = (text or '').strip()
    if not text:
        raise ValidationError('E-mail is required.')
    try:
        return _check_email(text)
    except ValidationError:
        if kept and text.lower() == kept.lower():
            return kept
        raise


def _check_email(text: str) -> str:
    if len(text) > MAX_EMAIL_LENGTH:
        raise ValidationError(f'The e-mail address is too long ({len(text)} characters; at most {MAX_EMAIL_LENGTH}).')
    try:
        result = email_validator.validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except email_validator.EmailNotValidError as e:
        raise ValidationError(f'{text} is not a valid e-mail address: {e}') from None
    address = (result.ascii_email or result.normalized).lower()
    if len(address) > MAX_EMAIL_LENGTH:  # the ASCII form of a long internationalised domain is longer
        raise ValidationError(f'The e-mail address {text} is too long once its domain is written in ASCII '
                              f'({len(address)} characters; at most {MAX_EMAIL_LENGTH}).')
    return address


def normalise_email(text: str | None) -> str:
    """The stored form of an address, for looking it up (never raises: what does not validate is only stripped
    and lower-cased, so an old row saved before addresses were checked is still found)."""
    try:
        return check_email(text)
    except ValidationError:
        return (text or '').strip().lower()


def is_valid_email(text: str) -> bool:
    try:
        check_email(text)
    except ValidationError:
        return False
    return True
