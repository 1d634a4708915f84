"""Service levels. ``calendar``: business time (working hours, holidays, 24/7) and the arithmetic on it — pure."""
from .calendar import (
    ALWAYS_OPEN,
    Calendar,
    CalendarError,
    add_business_time,
    business_time_between,
    is_open,
    make_calendar,
    next_open,
)

__all__ = [
    'ALWAYS_OPEN', 'Calendar', 'CalendarError', 'add_business_time', 'business_time_between', 'is_open',
    'make_calendar', 'next_open',
]
