"""The start page: agents go to the ticket list (``/tickets``, in pages/work.py), customers to their portal."""
from __future__ import annotations

from nicegui import ui

from components.session import require_user
from pages.params import desk_page


@desk_page('/')
async def home_page() -> None:
    user = await require_user()
    if user is not None:
        ui.navigate.to('/portal' if user.role == 'customer' else '/tickets')
