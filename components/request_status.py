"""How a customer sees where their request stands: a status chip in their words and a four-step progress line."""
from __future__ import annotations

from nicegui import ui

from pulse_live.models import Status
from pulse_live.queries.portal import STATUS_WORDS

from .badges import STATUS_COLORS

STEPS = [Status.OPEN, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED]


def request_status_badge(status: str) -> ui.badge:
    return ui.badge(STATUS_WORDS[Status(status)], color=STATUS_COLORS.get(status, 'grey')) \
        .classes('text-sm px-2 py-1').mark('request-status')


def progress_line(status: str) -> ui.row:
    """Received → In progress → Solved → Closed, done steps filled, the current one highlighted."""
    current = STEPS.index(Status.IN_PROGRESS if status == Status.WAITING else Status(status))  # waiting: in progress
    with ui.row().classes('items-center gap-1 flex-wrap').mark('request-progress') as row:
        for index, step in enumerate(STEPS):
            done, here = index < current, index == current
            color = 'text-green-700' if done else ('text-primary font-semibold' if here else 'text-slate-400')
            icon = 'check_circle' if done else ('radio_button_checked' if here else 'radio_button_unchecked')
            with ui.row().classes(f'items-center gap-1 text-sm {color}'):
                ui.icon(icon, size='xs')
                ui.label(STATUS_WORDS[step])
            if index < len(STEPS) - 1:
                ui.element('div').classes('w-8 h-px ' + ('bg-green-600' if done else 'bg-slate-300'))
    return row
