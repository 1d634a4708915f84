"""Small visual pieces: status, priority and type badges, avatars, counted nouns."""
from __future__ import annotations

from nicegui import ui

from pulse_live.models import Status

STATUS_COLORS = {'open': 'blue', 'in_progress': 'amber-8', 'waiting': 'purple-5', 'resolved': 'green', 'closed': 'grey'}


def status_badge(status: str) -> ui.badge:
    return ui.badge(Status(status).label, color=STATUS_COLORS.get(status, 'grey')).classes('text-sm px-2 py-1') \
        .mark('status-badge')


def priority_badge(name: str, color: str) -> ui.badge:
    return ui.badge(name, color=color or 'grey').classes('text-sm px-2 py-1').mark('priority-badge')


def type_badge(name: str) -> ui.badge:
    return ui.badge(name, color='purple-3').props('outline').classes('text-sm px-2 py-1').mark('type-badge')


def initials(name: str) -> str:
    parts = [p for p in name.split() if p]
    return ''.join(p[0] for p in parts[:2]).upper() or '?'


def avatar(name: str, *, color: str = 'primary', size: str = 'sm') -> ui.avatar:
    a = ui.avatar(initials(name), color=color, text_color='white', size=size).props('font-size="12px"')
    with a:
        ui.tooltip(name)
    return a


def count_text(n: int, singular: str, plural: str | None = None) -> str:
    """"1 ticket", "0 tickets", "25 tickets": the noun agrees with the number."""
    return f'{n} {singular if n == 1 else plural or singular + "s"}'
