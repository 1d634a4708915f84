"""Business time: service calendars and the arithmetic on them ("4 business hours after Friday 16:30").

Pure: no database, no services, no UI. A ``Calendar`` is a frozen, hashable value; build it with ``make_calendar``
(friendly input: ``{'mon': ['08:00-12:00', '13:00-17:00'], ...}``) or ``Calendar.from_dict`` (its own ``to_dict``,
JSON-ready for storage). Every refusal is a ``CalendarError`` (a ``ValidationError``, so a service can pass its
message to the user as it is, and a ``ValueError``).

**Instants.** The functions take ``datetime`` values. The app stores naive UTC (``models.core.utcnow``): a naive
value is read as UTC and the answer is naive UTC again; an aware value (any zone) gives an aware answer in UTC.

**Working time** is wall-clock time in the calendar's zone: working hours per weekday (none, one or several
intervals; ``24:00`` may end a day), minus holidays (the ``holidays`` package, for a country and optionally a
subdivision; a holiday is closed all day) and the calendar's own closed dates. ``always_open`` is 24/7: every
instant counts, no hours, holidays or closed dates (a "24/7 except Christmas" calendar is hours 00:00-24:00 on every
day plus closed dates). Intervals are half-open: open at 08:00, closed at 17:00 sharp.

**Daylight saving time**, deliberately:
- a day's business time is the real time elapsed while the wall clock shows working hours: the spring-forward day
  of an interval across the jump is an hour shorter, the fall-back day an hour longer;
- a wall time that does not exist (in the jump forward) stands for the instant of the jump: hours "02:30-05:00" on
  the day Europe/Zurich jumps from 02:00 to 03:00 open at 03:00 CEST;
- a wall time that happens twice (fall back) opens at its first occurrence and closes at its last, so an interval
  is always one stretch of time and covers every moment its wall times are shown;
- a local day is the time from its midnight (first occurrence) to the next; stretches that would overlap after
  these rules are merged, so business time is never counted twice.

**Cost.** Each local day is localised once and cached (shared by equal calendars), and the walk skips whole weeks by
their cached total: adding 10,000 business hours is a few hundred steps, not minutes. A calendar with no working
time for ``MAX_CLOSED_DAYS`` days in a row (every working day a holiday or closed date) raises a ``CalendarError``
instead of searching on.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from ..errors import ValidationError

__all__ = [
    'ALWAYS_OPEN', 'MAX_CLOSED_DAYS', 'WEEKDAYS', 'Calendar', 'CalendarError', 'add_business_time',
    'business_time_between', 'is_open', 'make_calendar', 'next_open',
]

DAY_SECONDS = 24 * 3600
WEEKDAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
_WEEKDAY_NAMES = ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')
MAX_CLOSED_DAYS = 2 * 366
"""Days in a row without any working time after which a search gives up with a CalendarError."""
MAX_AHEAD_DAYS = 10 * 366
"""How far ahead a due time may lie: a duration that needs more of the calendar is a CalendarError. A calendar of
one working minute a week and a target of a year walked 400,000 weeks (30–80 s of the event loop, then "beyond year
9999"); no service level means anything ten years ahead."""
MAX_APART_DAYS = 30 * 366
"""How far apart two moments may be for the working time between them (a walk of ~1,600 weeks at most)."""

_ONE_DAY = timedelta(days=1)
_FULL_DAY = timedelta(seconds=DAY_SECONDS)
_ZERO = timedelta(0)
_TIME_RE = re.compile(r'^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$')

Interval = tuple[int, int]  # seconds of the local day: start < end, 0 <= start, end <= 86400 (24:00)
WeeklyHours = tuple[tuple[Interval, ...], ...]  # 7 days, Monday first
TimeInput = str | time
IntervalInput = str | Sequence[TimeInput]


class CalendarError(ValidationError, ValueError):
    """A calendar or a business-time question was refused; the message says why and is safe to show."""


# --- the calendar value -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calendar:
    """Working time: hours per weekday in a time zone, minus holidays and closed dates; or 24/7.

    ``hours`` is the normalised form (7 tuples, Monday first, of ``(start, end)`` seconds of the day, sorted, not
    touching); ``make_calendar`` and ``from_dict`` build it from readable input. Validated on construction.
    """
    timezone: str = 'UTC'
    hours: WeeklyHours = ((),) * 7
    country: str | None = None
    subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()
    always_open: bool = False
    _tz: tzinfo = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, '_tz', _zone(self.timezone))
        if not isinstance(self.hours, tuple) or len(self.hours) != 7:
            raise CalendarError('Working hours must name all 7 weekdays (Monday first).')
        for weekday, day in enumerate(self.hours):
            _check_day(weekday, day)
        country, subdivision = _check_region(self.country, self.subdivision)
        set_(self, 'country', country)
        set_(self, 'subdivision', subdivision)
        if not isinstance(self.closed_dates, frozenset):
            set_(self, 'closed_dates', frozenset(self.closed_dates))
        for closed in self.closed_dates:
            if not isinstance(closed, date) or isinstance(closed, datetime):
                raise CalendarError(f'A closed date must be a date, not {closed!r}.')
        if self.always_open:
            if any(self.hours) or self.country or self.closed_dates:
                raise CalendarError('A 24/7 calendar has no working hours, holidays or closed dates; for "24/7 '
                                    'except some days" give hours 00:00-24:00 on every day and the closed dates.')
        elif not any(self.hours):
            raise CalendarError('The calendar has no working hours at all: give hours for at least one weekday, '
                                'or make it 24/7.')
        set_(self, '_hash', hash((self.timezone, self.hours, self.country, self.subdivision, self.closed_dates,
                                  self.always_open)))

    def __hash__(self) -> int:  # cached: a calendar is a cache key on every business-time step
        return self._hash

    @property
    def tz(self) -> tzinfo:
        return self._tz

    def is_closed_day(self, day: date) -> bool:
        """A holiday or one of the calendar's own closed dates (closed all day, whatever its hours)."""
        if day in self.closed_dates:
            return True
        return self.country is not None and day in _holiday_dates(self.country, self.subdivision, day.year)

    def holiday_names(self, year: int) -> dict[date, str]:
        """The holidays of the calendar's country/subdivision in a year (not its own closed dates), for display."""
        if self.country is None:
            return {}
        return dict(sorted(holidays.country_holidays(self.country, subdiv=self.subdivision, years=year).items()))

    @property
    def weekly_hours(self) -> timedelta:
        """The nominal working time of a week without holidays or clock changes (24/7: the whole week)."""
        if self.always_open:
            return timedelta(days=7)
        return timedelta(seconds=sum(end - start for day in self.hours for start, end in day))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``Calendar.from_dict(c.to_dict()) == c``."""
        return {
            'timezone': self.timezone,
            'hours': {WEEKDAYS[i]: [f'{_fmt(s)}-{_fmt(e)}' for s, e in day] for i, day in enumerate(self.hours) if day},
            'country': self.country,
            'subdivision': self.subdivision,
            'closed_dates': sorted(d.isoformat() for d in self.closed_dates),
            'always_open': self.always_open,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calendar:
        unknown = set(data) - {'timezone', 'hours', 'country', 'subdivision', 'closed_dates', 'always_open'}
        if unknown:
            raise CalendarError(f'Unknown calendar setting(s): {", ".join(sorted(map(str, unknown)))}.')
        return make_calendar(
            timezone=data.get('timezone', 'UTC'), hours=data.get('hours') or {}, country=data.get('country'),
            subdivision=data.get('subdivision'), closed_dates=data.get('closed_dates') or (),
            always_open=bool(data.get('always_open', False)))

    def describe(self) -> str:
        """One line for people: "Mon-Fri 08:00-12:00, 13:00-17:00 (Europe/Zurich), holidays CH-ZH"."""
        if self.always_open:
            return '24/7'
        groups: list[tuple[int, int, tuple[Interval, ...]]] = []
        for i, day in enumerate(self.hours):
            if day and groups and groups[-1][1] == i - 1 and groups[-1][2] == day:
                groups[-1] = (groups[-1][0], i, day)
            elif day:
                groups.append((i, i, day))
        names = [d.capitalize() for d in WEEKDAYS]
        parts = [(names[a] if a == b else f'{names[a]}-{names[b]}') + ' ' + ', '.join(
            f'{_fmt(s)}-{_fmt(e)}' for s, e in day) for a, b, day in groups]
        text = '; '.join(parts) + f' ({self.timezone})'
        if self.country:
            text += f', holidays {self.country}' + (f'-{self.subdivision}' if self.subdivision else '')
        if self.closed_dates:
            text += f', {len(self.closed_dates)} closed date(s)'
        return text


def make_calendar(*, timezone: str = 'UTC', hours: Mapping[int | str, Iterable[IntervalInput]] | None = None,
                  country: str | None = None, subdivision: str | None = None,
                  closed_dates: Iterable[date | str] = (), always_open: bool = False) -> Calendar:
    """Build a calendar from readable input.

    ``hours``: weekday (0 = Monday .. 6, or ``'mon'``/``'monday'`` ..) → intervals, each ``'08:00-12:00'`` or a
    pair of ``'HH:MM[:SS]'`` strings / ``datetime.time``; ``'24:00'`` ends a day. Touching intervals are joined;
    overlapping, inverted, empty or out-of-range ones are refused. ``closed_dates``: dates or ISO strings.
    """
    week: list[list[Interval]] = [[] for _ in range(7)]
    for key, intervals in (hours or {}).items():
        weekday = _weekday(key)
        if isinstance(intervals, str):
            intervals = [intervals]
        if not isinstance(intervals, Iterable):
            raise CalendarError(f'{_WEEKDAY_NAMES[weekday].capitalize()}: give a list of intervals like '
                                '["08:00-12:00", "13:00-17:00"].')
        for item in intervals:
            week[weekday].append(_interval(weekday, item))
    normalised = tuple(_normalise_day(weekday, day) for weekday, day in enumerate(week))
    return Calendar(timezone=timezone, hours=normalised, country=country, subdivision=subdivision,
                    closed_dates=frozenset(_date(d) for d in closed_dates), always_open=always_open)


# --- validation helpers -------------------------------------------------------------------------------------------

def _zone(name: object) -> tzinfo:
    if not isinstance(name, str) or not name.strip():
        raise CalendarError('The calendar needs a time zone, e.g. "Europe/Zurich".')
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CalendarError(f'Unknown time zone "{name}"; use a name like "Europe/Zurich" or "UTC".') from None


def _check_region(country: str | None, subdivision: str | None) -> tuple[str | None, str | None]:
    if country is not None and not isinstance(country, str):
        raise CalendarError(f'A holiday country is a code like "CH", not {country!r}.')
    country = (country or '').strip().upper() or None
    subdivision = (subdivision or '').strip() or None
    if country is None:
        if subdivision:
            raise CalendarError('A holiday subdivision needs its country.')
        return None, None
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise CalendarError(f'Unknown holiday country "{country}": use an ISO 3166 code like "CH" or "DE".')
    if subdivision is not None:
        known = {s.upper(): s for s in supported[country]}
        if subdivision.upper() not in known:
            listed = ', '.join(supported[country]) or 'none'
            raise CalendarError(f'Unknown subdivision "{subdivision}" of {country}; known: {listed}.')
        subdivision = known[subdivision.upper()]
    return country, subdivision


def _weekday(key: int | str) -> int:
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 6:
        return key
    if isinstance(key, str):
        name = key.strip().lower()
        if name in WEEKDAYS:
            return WEEKDAYS.index(name)
        if name in _WEEKDAY_NAMES:
            return _WEEKDAY_NAMES.index(name)
    raise CalendarError(f'Unknown weekday {key!r}: use 0 (Monday) to 6 (Sunday) or mon, tue, … sun.')


def _seconds(value: TimeInput, weekday: int) -> int:
    day = _WEEKDAY_NAMES[weekday].capitalize()
    if isinstance(value, time):
        if value.microsecond or value.tzinfo is not None:
            raise CalendarError(f'{day}: working hours are wall-clock times to the second, not {value!r}.')
        return value.hour * 3600 + value.minute * 60 + value.second
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise CalendarError(f'{day}: "{value}" is not a time; write HH:MM, e.g. 08:00.')
    h, m, s = int(match[1]), int(match[2]), int(match[3] or 0)
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        raise CalendarError(f'{day}: "{value.strip()}" is out of range (00:00 to 24:00).')
    return h * 3600 + m * 60 + s


def _interval(weekday: int, item: IntervalInput) -> Interval:
    day = _WEEKDAY_NAMES[weekday].capitalize()
    pieces: list[TimeInput]
    if isinstance(item, str):
        pieces = list(item.split('-'))
        if len(pieces) != 2:
            raise CalendarError(f'{day}: "{item}" is not an interval; write start-end, e.g. 08:00-12:00.')
    elif isinstance(item, Sequence) and len(item) == 2:
        pieces = list(item)
    else:
        raise CalendarError(f'{day}: {item!r} is not an interval; write start-end, e.g. 08:00-12:00.')
    return _seconds(pieces[0], weekday), _seconds(pieces[1], weekday)


def _normalise_day(weekday: int, intervals: list[Interval]) -> tuple[Interval, ...]:
    """Sort, refuse inverted/empty/overlapping intervals, join touching ones."""
    for interval in intervals:
        _check_interval(weekday, interval)
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start < out[-1][1]:
            raise CalendarError(f'{_WEEKDAY_NAMES[weekday].capitalize()}: {_fmt(out[-1][0])}-{_fmt(out[-1][1])} '
                                f'and {_fmt(start)}-{_fmt(end)} overlap.')
        if out and start == out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return tuple(out)


def _check_interval(weekday: int, interval: object) -> None:
    day = _WEEKDAY_NAMES[weekday].capitalize()
    if not (isinstance(interval, tuple) and len(interval) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in interval)):
        raise CalendarError(f'{day}: {interval!r} is not an interval of seconds of the day.')
    start, end = interval
    if not (0 <= start <= DAY_SECONDS and 0 <= end <= DAY_SECONDS) or start == DAY_SECONDS:
        raise CalendarError(f'{day}: {interval!r} is out of range (00:00 to 24:00).')
    if end <= start:
        raise CalendarError(f'{day}: {_fmt(start)}-{_fmt(end)} ends before it starts'
                            + (' (a shift across midnight is two intervals: until 24:00 and from 00:00 the next '
                               'day).' if end < start else '.'))


def _check_day(weekday: int, day: object) -> None:
    if not isinstance(day, tuple):
        raise CalendarError(f'{_WEEKDAY_NAMES[weekday].capitalize()}: the working hours must be a tuple of intervals.')
    for interval in day:
        _check_interval(weekday, interval)
    if _normalise_day(weekday, list(day)) != day:
        raise CalendarError(f'{_WEEKDAY_NAMES[weekday].capitalize()}: intervals must be sorted and not touch '
                            '(build calendars with make_calendar).')


def _date(value: date | str) -> date:
    if isinstance(value, datetime):
        raise CalendarError(f'A closed date is a day, not a moment: {value!r}.')
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise CalendarError(f'"{value}" is not a date; write YYYY-MM-DD.') from None


def _fmt(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f'{h:02d}:{m:02d}' + (f':{s:02d}' if s else '')


@lru_cache(maxsize=4096)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


# --- local days as stretches of UTC -------------------------------------------------------------------------------

Stretch = tuple[datetime, datetime]  # aware UTC, start < end


def _wall_to_utc(tz: tzinfo, day: date, seconds: int, *, last: bool) -> datetime:
    """The UTC instant at which the wall clock in ``tz`` shows ``seconds`` into ``day`` (86400: next midnight).

    Shown twice (fall back): the first occurrence, or the last with ``last``. Never shown (spring forward): the
    instant of the jump."""
    if seconds == DAY_SECONDS:
        day, seconds = day + _ONE_DAY, 0
    wall = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(seconds=seconds)
    early = wall.replace(fold=0).astimezone(UTC)  # fold=0: the offset in force before a transition
    late = wall.replace(fold=1).astimezone(UTC)
    if early == late:
        return early
    if early < late:  # repeated wall time
        return late if last else early
    # in the gap: the offset changes at a whole second in (late, early]; find it by bisection
    before = late.astimezone(tz).utcoffset()
    lo, hi = 0, int((early - late).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (late + timedelta(seconds=mid)).astimezone(tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return late + timedelta(seconds=hi)


@lru_cache(maxsize=1 << 16)
def _midnight(cal: Calendar, day: date) -> datetime:
    return _wall_to_utc(cal.tz, day, 0, last=False)


@lru_cache(maxsize=1 << 16)
def _stretches(cal: Calendar, day: date) -> tuple[Stretch, ...]:
    """The working stretches of one local day, in UTC: sorted, disjoint, inside [midnight, next midnight)."""
    if cal.is_closed_day(day):
        return ()
    hours = cal.hours[day.weekday()]
    if not hours:
        return ()
    lo, hi = _midnight(cal, day), _midnight(cal, day + _ONE_DAY)
    if hi - lo == _FULL_DAY:  # no clock change this day (tzdata has no day with two that cancel out)
        return tuple((lo + timedelta(seconds=s), lo + timedelta(seconds=e)) for s, e in hours)
    out: list[Stretch] = []
    for start_s, end_s in hours:
        start = max(lo, _wall_to_utc(cal.tz, day, start_s, last=False))
        end = min(hi, _wall_to_utc(cal.tz, day, end_s, last=True))
        if start >= end:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


@lru_cache(maxsize=1 << 16)
def _day_total(cal: Calendar, day: date) -> timedelta:
    return sum((end - start for start, end in _stretches(cal, day)), _ZERO)


@lru_cache(maxsize=1 << 14)
def _week_total(cal: Calendar, monday: date) -> timedelta:
    return sum((_day_total(cal, monday + timedelta(days=i)) for i in range(7)), _ZERO)


def _day_of(cal: Calendar, at: datetime) -> date:
    """The local day whose [midnight, next midnight) holds ``at`` (aware UTC)."""
    day = at.astimezone(cal.tz).date()
    if at < _midnight(cal, day):
        return day - _ONE_DAY
    if at >= _midnight(cal, day + _ONE_DAY):
        return day + _ONE_DAY
    return day


def _utc(at: datetime) -> tuple[datetime, bool]:
    if not isinstance(at, datetime):
        raise TypeError(f'expected a datetime, got {type(at).__name__}')
    if at.tzinfo is None or at.utcoffset() is None:
        return at.replace(tzinfo=UTC), True
    return at.astimezone(UTC), False


def _back(at: datetime, naive: bool) -> datetime:
    return at.replace(tzinfo=None) if naive else at


def _no_working_time(cal: Calendar, since: date) -> CalendarError:
    return CalendarError(f'The calendar has no working time in the {MAX_CLOSED_DAYS} days after {since.isoformat()}: '
                         'every working day is a holiday or a closed date.')


def span_text_of(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes >= 24 * 60:
        return f'{minutes // (24 * 60):,} day(s)'
    if minutes % 60 == 0 and minutes >= 60:
        return f'{minutes // 60:,} hour(s)'
    return f'{minutes:,} minute(s)'


def _beyond() -> CalendarError:
    return CalendarError('The result lies beyond the dates a calendar can count (year 9999).')


# --- the arithmetic -----------------------------------------------------------------------------------------------

def is_open(cal: Calendar, at: datetime) -> bool:
    """Whether ``at`` is working time (an interval's start is open, its end is closed)."""
    t, _ = _utc(at)
    if cal.always_open:
        return True
    try:
        return any(start <= t < end for start, end in _stretches(cal, _day_of(cal, t)))
    except OverflowError:
        raise _beyond() from None


def next_open(cal: Calendar, at: datetime) -> datetime:
    """The first working moment at or after ``at`` (``at`` itself when open): when a business-hours escalation
    may act. Same kind (naive/aware) as ``at``."""
    t, naive = _utc(at)
    if cal.always_open:
        return at if naive else t
    try:
        day = _day_of(cal, t)
        first = day
        while True:
            for start, end in _stretches(cal, day):
                if end > t:
                    return _back(max(start, t), naive)
            day += _ONE_DAY
            if (day - first).days > MAX_CLOSED_DAYS:
                raise _no_working_time(cal, first)
    except OverflowError:
        raise _beyond() from None


def add_business_time(cal: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The moment ``duration`` of working time after ``start`` (e.g. a due time).

    Closed time is skipped; the answer is the end of the last unit counted, so it may be an interval's end exactly
    (Friday 16:00 + 1 h = Friday 17:00, not Monday 08:00). A zero duration gives ``start`` itself. Same kind
    (naive/aware) as ``start``; a negative duration is refused."""
    if not isinstance(duration, timedelta):
        raise TypeError(f'expected a timedelta, got {type(duration).__name__}')
    if duration < _ZERO:
        raise CalendarError('A business duration cannot be negative.')
    t, naive = _utc(start)
    if duration == _ZERO:
        return start if naive else t
    try:
        if cal.always_open:
            return _back(t + duration, naive)
        return _back(_add(cal, t, duration), naive)
    except OverflowError:
        raise _beyond() from None


def _add(cal: Calendar, t: datetime, remaining: timedelta) -> datetime:
    day = _day_of(cal, t)
    last = day + timedelta(days=MAX_AHEAD_DAYS)
    duration = remaining
    closed_run = 0
    closed_since = day
    cursor = t
    first = True
    while True:
        if day > last:
            raise CalendarError(f'{span_text_of(duration)} of working time lies more than {MAX_AHEAD_DAYS // 366} '
                                f'years ahead in this calendar (it has too little working time for it).')
        if not first and day.weekday() == 0:  # a whole week ahead: skip it by its total when the end lies beyond
            week = _week_total(cal, day)
            if week < remaining:
                remaining -= week
                if week:
                    closed_run, closed_since = 0, day + timedelta(days=7)
                else:
                    closed_run += 7
                    if closed_run > MAX_CLOSED_DAYS:
                        raise _no_working_time(cal, closed_since)
                day += timedelta(days=7)
                continue
        first = False
        counted = False
        for start, end in _stretches(cal, day):
            if end <= cursor:
                continue
            start = max(start, cursor)
            available = end - start
            if remaining <= available:
                return start + remaining
            remaining -= available
            cursor = end
            counted = True
        if counted:
            closed_run, closed_since = 0, day + _ONE_DAY
        else:
            closed_run += 1
            if closed_run > MAX_CLOSED_DAYS:
                raise _no_working_time(cal, closed_since)
        day += _ONE_DAY


def business_time_between(cal: Calendar, a: datetime, b: datetime) -> timedelta:
    """The working time from ``a`` to ``b`` (negative when ``b`` is before ``a``): for paused time and for the
    share of a target used. ``business_time_between(c, s, add_business_time(c, s, d)) == d``."""
    ta, _ = _utc(a)
    tb, _ = _utc(b)
    if tb < ta:
        return -business_time_between(cal, b, a)
    if cal.always_open:
        return tb - ta
    try:
        da, db = _day_of(cal, ta), _day_of(cal, tb)
        if (db - da).days > MAX_APART_DAYS:
            raise CalendarError(f'The working time between two moments more than {MAX_APART_DAYS // 366} years '
                                f'apart is not counted.')
        if da == db:
            return _overlap(_stretches(cal, da), ta, tb)
        total = _overlap(_stretches(cal, da), ta, tb) + _overlap(_stretches(cal, db), ta, tb)
        day = da + _ONE_DAY
        while day < db:
            if day.weekday() == 0 and day + timedelta(days=7) <= db:
                total += _week_total(cal, day)
                day += timedelta(days=7)
            else:
                total += _day_total(cal, day)
                day += _ONE_DAY
        return total
    except OverflowError:
        raise _beyond() from None


def _overlap(stretches: tuple[Stretch, ...], a: datetime, b: datetime) -> timedelta:
    total = _ZERO
    for start, end in stretches:
        lo, hi = max(start, a), min(end, b)
        if hi > lo:
            total += hi - lo
    return total


ALWAYS_OPEN = Calendar(always_open=True)
"""24/7 in UTC: every instant is working time."""
