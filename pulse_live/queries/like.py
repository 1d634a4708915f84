"""Substring search with LIKE, read as typed: ``%`` and ``_`` (LIKE's wildcards) and the escape character itself
match only themselves — a search for "50%" or "a_b" must not match every ticket or every customer."""
from __future__ import annotations

from sqlalchemy import ColumnElement, func

ESCAPE = '\\'


def escape(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (``ESCAPE`` goes with it to ``like``)."""
    return text.replace(ESCAPE, ESCAPE * 2).replace('%', ESCAPE + '%').replace('_', ESCAPE + '_')


def contains(column, text: str) -> ColumnElement[bool]:
    """``column`` holds ``text``, ignoring case (``text`` as typed, wildcards included)."""
    return func.lower(column).like(f'%{escape(text.lower())}%', escape=ESCAPE)
