"""Typed URL parameters shared by the pages: ids the database can hold, so a crafted URL gets a clear 400 page
(``pulse_live.app`` renders validation errors) instead of an overflow deep in a query."""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Query

from pulse_live.models import MAX_ROW_ID

MAX_ID = MAX_ROW_ID  # ids are INTEGER columns (PostgreSQL: 32 bits): a larger one failed its query (500)

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A row id in the path (``/customers/{user_id}``)."""

OptionalRowId = Annotated[int, Query(ge=0, le=MAX_ID)]
"""A row id in the query string; 0 means none chosen (``/queues?queue=3``)."""

PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
"""A page of a list (lists clamp it to their last page)."""

ShortText = Annotated[str, Query(max_length=200)]
"""A search text, a filter or a notice in the query string."""

Reference = Annotated[str, Path(max_length=64)]
"""A ticket reference in the path (``/tickets/PL-2026-000123``)."""

Token = Annotated[str, Query(max_length=2000)]
"""A signed token in the query string (password links)."""


PAGE_TIMEOUT_S = 30.0
"""How long a page may take to build. NiceGUI's default (3 s) answers a slower build with an error page (HTTP 500):
on a busy server a page waits its turn for the CPU, and a person would rather wait than see an error."""


def desk_page(path: str, **kwargs: Any) -> Callable:
    """``ui.page`` with the desk's build timeout (``PAGE_TIMEOUT_S``) unless one is given."""
    from nicegui import ui
    kwargs.setdefault('response_timeout', PAGE_TIMEOUT_S)
    return ui.page(path, **kwargs)
