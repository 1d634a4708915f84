"""Phone numbers and e-mail addresses: one way to check them and one way to compare them.

People write the same number many ways: ``+41 31 555 01 01``, ``0041 31 555 01 01``, ``+41 (31) 555-01-01``,
``031 555 01 01``. For search we drop the separators, read a leading ``00`` as ``+`` and compare the last
``MATCH_DIGITS`` digits (the subscriber part without country code or trunk zero), so all of these find each other.
"""
from __future__ import annotations

import re

from sqlalchemy import ColumnElement, func

EMAIL_RE = re.compile(r'^[^@\s]+@[^@\s]+\.[^@\s]+$')
PHONE_RE = re.compile(r'^\+?[0-9 ()./-]{4,40}$')
PHONE_CHARS = re.compile(r'^[+0-9 ()./-]+$')
SEPARATORS = ' ()./-'
MATCH_DIGITS = 9
MIN_SEARCH_DIGITS = 3


def normalise_email(email: str | None) -> str:
    return (email or '').strip().lower()


def is_valid_email(email: str) -> bool:
    return bool(EMAIL_RE.match(email)) and len(email) <= 254


def is_valid_phone(phone: str) -> bool:
    return bool(PHONE_RE.match(phone)) and sum(c.isdigit() for c in phone) >= 4


def normalise_phone(phone: str | None) -> str:
    """Digits only, with a leading ``+`` for international numbers (``00`` counts as ``+``)."""
    text = (phone or '').strip()
    plus = text.startswith('+')
    digits = re.sub(r'\D', '', text)
    if not plus and digits.startswith('00'):
        plus, digits = True, digits[2:]
    return f'+{digits}' if plus and digits else digits


def looks_like_phone(text: str) -> bool:
    """Something a person typed as a phone number (digits and separators only, enough digits)."""
    text = (text or '').strip()
    return bool(PHONE_CHARS.match(text)) and sum(c.isdigit() for c in text) >= MIN_SEARCH_DIGITS


def phone_search_key(text: str) -> str:
    """The digits to look for inside stored numbers (see the module docstring)."""
    digits = normalise_phone(text).lstrip('+')
    if len(digits) > MATCH_DIGITS:
        return digits[-MATCH_DIGITS:]
    return digits.lstrip('0') if len(digits) > MIN_SEARCH_DIGITS else digits


def phone_digits_sql(column) -> ColumnElement[str]:
    """A stored phone column without separators and ``+`` (SQL, for SQLite and PostgreSQL alike)."""
    expr = column
    for char in SEPARATORS + '+':
        expr = func.replace(expr, char, '')
    return expr
