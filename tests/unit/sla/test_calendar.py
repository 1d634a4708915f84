"""Business time (pulse_live/sla/calendar.py): worked examples, DST and holidays, Hypothesis properties, refusals.

Instants below are written in the calendar's local time with ``local(...)`` and compared in UTC, so each example
shows both what a person in that zone reads and what the app stores (naive UTC)."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pulse_live.errors import ValidationError
from pulse_live.sla import calendar as cal_module
from pulse_live.sla.calendar import (
    ALWAYS_OPEN,
    Calendar,
    CalendarError,
    add_business_time,
    business_time_between,
    is_open,
    make_calendar,
    next_open,
)

H = timedelta(hours=1)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)
OFFICE = {d: ['08:00-17:00'] for d in ('mon', 'tue', 'wed', 'thu', 'fri')}
LUNCH = {d: ['08:00-12:00', '13:00-17:00'] for d in range(5)}


def local(zone: str, *args: int) -> datetime:
    """A wall-clock time in ``zone`` as the app stores it: naive UTC."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


def zurich(*args: int) -> datetime:
    return local('Europe/Zurich', *args)


ZURICH_OFFICE = make_calendar(timezone='Europe/Zurich', hours=OFFICE)


# --- worked examples ----------------------------------------------------------------------------------------------

def test_four_business_hours_after_friday_half_past_four_is_monday_half_past_eleven():
    friday = zurich(2026, 12, 4, 16, 30)
    assert add_business_time(ZURICH_OFFICE, friday, 4 * H) == zurich(2026, 12, 7, 11, 30)
    assert business_time_between(ZURICH_OFFICE, friday, zurich(2026, 12, 7, 11, 30)) == 4 * H
    assert business_time_between(ZURICH_OFFICE, zurich(2026, 12, 7, 11, 30), friday) == -4 * H


def test_a_due_time_can_be_the_end_of_the_day_and_one_minute_more_is_the_next_working_day():
    assert add_business_time(ZURICH_OFFICE, zurich(2026, 12, 4, 16, 0), H) == zurich(2026, 12, 4, 17, 0)
    assert add_business_time(ZURICH_OFFICE, zurich(2026, 12, 4, 16, 0), H + MIN) == zurich(2026, 12, 7, 8, 1)
    assert add_business_time(ZURICH_OFFICE, zurich(2026, 12, 5, 10, 0), 30 * MIN) == zurich(2026, 12, 7, 8, 30)
    assert add_business_time(ZURICH_OFFICE, zurich(2026, 12, 5, 10, 0), timedelta(0)) == zurich(2026, 12, 5, 10, 0)


def test_the_lunch_break_does_not_count():
    cal = make_calendar(timezone='Europe/Zurich', hours=LUNCH)
    monday = (2026, 12, 7)
    assert add_business_time(cal, zurich(*monday, 11, 0), 2 * H) == zurich(*monday, 14, 0)
    assert add_business_time(cal, zurich(*monday, 11, 30), 30 * MIN) == zurich(*monday, 12, 0)
    assert add_business_time(cal, zurich(*monday, 12, 30), MIN) == zurich(*monday, 13, 1)
    assert business_time_between(cal, zurich(*monday, 0, 0), zurich(*monday, 23, 59)) == 8 * H
    assert not is_open(cal, zurich(*monday, 12, 15))
    assert next_open(cal, zurich(*monday, 12, 15)) == zurich(*monday, 13, 0)
    assert is_open(cal, zurich(*monday, 13, 0)) and not is_open(cal, zurich(*monday, 17, 0))


def test_whit_monday_is_a_holiday_in_zurich_but_not_in_the_national_calendar():
    zh = make_calendar(timezone='Europe/Zurich', hours=OFFICE, country='CH', subdivision='ZH')
    national = make_calendar(timezone='Europe/Zurich', hours=OFFICE, country='CH')
    friday = zurich(2026, 5, 22, 16, 30)
    assert zh.holiday_names(2026)[date(2026, 5, 25)] == 'Pentecost Monday'
    assert add_business_time(zh, friday, 4 * H) == zurich(2026, 5, 26, 11, 30)
    assert add_business_time(national, friday, 4 * H) == zurich(2026, 5, 25, 11, 30)
    assert not is_open(zh, zurich(2026, 5, 25, 10, 0))
    assert next_open(zh, zurich(2026, 5, 23, 9, 0)) == zurich(2026, 5, 26, 8, 0)
    # Ascension day is national
    assert not is_open(national, zurich(2026, 5, 14, 10, 0))


def test_own_closed_dates_are_closed_all_day():
    cal = make_calendar(timezone='Europe/Zurich', hours=OFFICE, closed_dates=['2026-12-24', date(2026, 12, 31)])
    assert not is_open(cal, zurich(2026, 12, 24, 10, 0))
    assert add_business_time(cal, zurich(2026, 12, 23, 16, 0), 2 * H) == zurich(2026, 12, 25, 9, 0)
    assert business_time_between(cal, zurich(2026, 12, 28, 0, 0), zurich(2027, 1, 2, 0, 0)) == 4 * 9 * H


def test_around_the_clock():
    start = datetime(2026, 12, 5, 23, 15)
    assert add_business_time(ALWAYS_OPEN, start, 4 * H) == start + 4 * H
    assert business_time_between(ALWAYS_OPEN, start, start + timedelta(days=3)) == timedelta(days=3)
    assert is_open(ALWAYS_OPEN, start) and next_open(ALWAYS_OPEN, start) == start
    assert ALWAYS_OPEN.describe() == '24/7'
    # 24/7 except Christmas: hours around the clock plus a closed date
    nearly = make_calendar(hours={d: ['00:00-24:00'] for d in range(7)}, closed_dates=['2026-12-25'])
    assert add_business_time(nearly, datetime(2026, 12, 24, 22, 0), 4 * H) == datetime(2026, 12, 26, 2, 0)
    assert is_open(nearly, datetime(2026, 12, 24, 23, 59, 59)) and not is_open(nearly, datetime(2026, 12, 25, 0, 0))
    assert add_business_time(nearly, datetime(2026, 12, 21, 22, 0), 4 * H) == datetime(2026, 12, 22, 2, 0)


def test_naive_utc_in_gives_naive_utc_out_and_aware_in_gives_aware_utc_out():
    naive = zurich(2026, 12, 4, 16, 30)
    aware = datetime(2026, 12, 4, 16, 30, tzinfo=ZoneInfo('Europe/Zurich'))
    due = add_business_time(ZURICH_OFFICE, naive, 4 * H)
    assert due.tzinfo is None
    assert add_business_time(ZURICH_OFFICE, aware, 4 * H) == due.replace(tzinfo=UTC)
    assert add_business_time(ZURICH_OFFICE, aware, 4 * H).tzinfo is UTC
    assert next_open(ZURICH_OFFICE, aware.replace(hour=18)).tzinfo is UTC
    assert next_open(ZURICH_OFFICE, naive.replace(hour=18)).tzinfo is None
    assert business_time_between(ZURICH_OFFICE, naive, aware + timedelta(days=3)) == 9 * H  # Fri 16:30 to Mon 16:30


def test_an_escalation_at_night_or_on_a_weekend_waits_for_the_next_working_moment():
    assert next_open(ZURICH_OFFICE, zurich(2026, 12, 5, 0, 0)) == zurich(2026, 12, 7, 8, 0)  # Saturday midnight
    assert next_open(ZURICH_OFFICE, zurich(2026, 12, 8, 23, 59)) == zurich(2026, 12, 9, 8, 0)
    assert next_open(ZURICH_OFFICE, zurich(2026, 12, 8, 9, 0)) == zurich(2026, 12, 8, 9, 0)


# --- daylight saving time -----------------------------------------------------------------------------------------

def test_zurich_spring_forward_monday_due_time_is_an_hour_earlier_in_utc():
    """Friday 27 March 2026 16:30 CET + 4 h: Monday 30 March 11:30 CEST, which is 09:30 UTC (10:30 UTC in winter)."""
    due = add_business_time(ZURICH_OFFICE, zurich(2026, 3, 27, 16, 30), 4 * H)
    assert due == zurich(2026, 3, 30, 11, 30) == datetime(2026, 3, 30, 9, 30)


def test_zurich_clock_change_days_are_23_and_25_hours_long():
    sundays = make_calendar(timezone='Europe/Zurich', hours={'sun': ['00:00-24:00']})
    assert business_time_between(sundays, datetime(2026, 3, 27), datetime(2026, 3, 31)) == 23 * H
    assert business_time_between(sundays, datetime(2026, 10, 23), datetime(2026, 10, 27)) == 25 * H
    assert business_time_between(sundays, datetime(2026, 11, 27), datetime(2026, 12, 1)) == 24 * H
    # an hour added at 01:30 on the spring day ends at 03:30 CEST: the clock jumped from 02:00 to 03:00
    assert add_business_time(sundays, zurich(2026, 3, 29, 1, 30), H) == zurich(2026, 3, 29, 3, 30)
    assert add_business_time(sundays, zurich(2026, 3, 29, 1, 30), H) - zurich(2026, 3, 29, 1, 30) == H


def test_a_night_shift_through_the_missing_hour_opens_at_the_jump():
    """Hours 02:30-05:00: on the spring day 02:30 never shows, the shift opens when the clock jumps to 03:00."""
    cal = make_calendar(timezone='Europe/Zurich', hours={'sun': ['02:30-05:00']})
    assert next_open(cal, zurich(2026, 3, 29, 0, 0)) == datetime(2026, 3, 29, 1, 0) == zurich(2026, 3, 29, 3, 0)
    assert business_time_between(cal, datetime(2026, 3, 28), datetime(2026, 3, 30)) == 2 * H
    assert business_time_between(cal, datetime(2026, 3, 21), datetime(2026, 3, 23)) == 2.5 * H


def test_a_night_shift_through_the_repeated_hour_runs_from_the_first_to_the_last_showing():
    """On the autumn day 02:00-03:00 shows twice: a shift from 02:30 opens at the first 02:30 (CEST); one until
    02:30 closes at the second 02:30 (CET)."""
    opening = make_calendar(timezone='Europe/Zurich', hours={'sun': ['02:30-05:00']})
    assert next_open(opening, datetime(2026, 10, 24, 22, 0)) == datetime(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert business_time_between(opening, datetime(2026, 10, 24), datetime(2026, 10, 26)) == 3.5 * H
    closing = make_calendar(timezone='Europe/Zurich', hours={'sun': ['00:00-02:30']})
    assert business_time_between(closing, datetime(2026, 10, 24), datetime(2026, 10, 26)) == 3.5 * H
    assert is_open(closing, datetime(2026, 10, 25, 1, 29)) and not is_open(closing, datetime(2026, 10, 25, 1, 30))


def test_los_angeles_friday_afternoon_to_monday_across_the_spring_change():
    la = make_calendar(timezone='America/Los_Angeles', hours=OFFICE, country='US', subdivision='CA')
    friday = local('America/Los_Angeles', 2026, 3, 6, 16, 30)
    assert friday == datetime(2026, 3, 7, 0, 30)  # already Saturday in UTC
    assert add_business_time(la, friday, 4 * H) == local('America/Los_Angeles', 2026, 3, 9, 11, 30)
    assert add_business_time(la, friday, 4 * H) == datetime(2026, 3, 9, 18, 30)  # PDT: UTC-7
    # Thanksgiving (US) is closed
    assert not is_open(la, local('America/Los_Angeles', 2026, 11, 26, 10, 0))


def test_auckland_a_day_ahead_of_utc():
    nz = make_calendar(timezone='Pacific/Auckland', hours={d: ['09:00-17:00'] for d in range(5)}, country='NZ')
    friday_morning = datetime(2026, 12, 3, 20, 0)  # Thursday in UTC, Friday 09:00 NZDT (UTC+13)
    assert friday_morning == local('Pacific/Auckland', 2026, 12, 4, 9, 0)
    due = add_business_time(nz, friday_morning, 9 * H)
    assert due == local('Pacific/Auckland', 2026, 12, 7, 10, 0) == datetime(2026, 12, 6, 21, 0)  # Sunday in UTC
    assert next_open(nz, datetime(2026, 12, 6, 18, 0)) == datetime(2026, 12, 6, 20, 0)  # Monday 09:00 NZDT
    assert not is_open(nz, local('Pacific/Auckland', 2026, 12, 25, 10, 0))  # Christmas


def test_ten_thousand_business_hours_are_counted_day_by_day_at_most():
    cal = make_calendar(timezone='Europe/Zurich', hours=LUNCH, country='CH', subdivision='BE')
    cal_module._stretches.cache_clear()
    start = zurich(2026, 12, 4, 16, 30)
    due = add_business_time(cal, start, 10_000 * H)
    days = (due - start).days + 8  # the days walked, and the rest of the last week summed up
    assert cal_module._stretches.cache_info().misses <= days  # each local day looked at once, no minute steps
    assert business_time_between(cal, start, due) == 10_000 * H
    assert is_open(cal, due - US)


# --- properties ---------------------------------------------------------------------------------------------------

ZONES = ['UTC', 'Europe/Zurich', 'America/Los_Angeles', 'Pacific/Auckland', 'Asia/Kolkata', 'Asia/Kathmandu',
         'Australia/Lord_Howe', 'America/Santiago', 'America/Havana']
# clock changes of 2026 (and near them) are where the arithmetic is most likely to slip
ANCHORS = [datetime(2026, 3, 29), datetime(2026, 10, 25), datetime(2026, 3, 8), datetime(2026, 11, 1),
           datetime(2026, 4, 5), datetime(2026, 9, 27), datetime(2026, 9, 6), datetime(2026, 10, 4),
           datetime(2026, 3, 15), datetime(2026, 11, 1), datetime(2026, 12, 25), datetime(2026, 5, 25)]

minute_of_day = st.one_of(st.integers(0, 1440), st.integers(0, 300), st.sampled_from([0, 60, 120, 150, 180, 1440]))


@st.composite
def day_hours(draw) -> list[str]:
    points = sorted(draw(st.lists(minute_of_day, max_size=4, unique=True)))
    if len(points) % 2:
        points = points[:-1]
    return [f'{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}' for a, b in zip(points[::2], points[1::2],
                                                                                    strict=True)]


@st.composite
def calendars(draw) -> Calendar:
    patterns = draw(st.lists(day_hours(), min_size=1, max_size=3))  # a few kinds of day, spread over the week
    hours = {d: patterns[i] for d, i in enumerate(draw(st.lists(st.integers(0, len(patterns) - 1), min_size=7,
                                                                 max_size=7)))}
    assume(any(hours.values()))
    region = draw(st.sampled_from([(None, None), ('CH', 'ZH'), ('US', 'CA'), ('NZ', None)]))
    closed = draw(st.lists(st.dates(date(2026, 1, 1), date(2027, 6, 30)), max_size=5))
    return make_calendar(timezone=draw(st.sampled_from(ZONES)), hours=hours, country=region[0],
                         subdivision=region[1], closed_dates=closed)


instants = st.one_of(
    st.datetimes(datetime(2025, 6, 1), datetime(2027, 6, 1)),
    st.builds(lambda anchor, offset: anchor + offset, st.sampled_from(ANCHORS),
              st.timedeltas(timedelta(days=-3), timedelta(days=3))),
    # whole quarter hours: exactly on the opening and closing times
    st.builds(lambda anchor, quarters: anchor + quarters * timedelta(minutes=15), st.sampled_from(ANCHORS),
              st.integers(-300, 300)),
)
durations = st.one_of(st.timedeltas(timedelta(0), timedelta(hours=30)),
                      st.timedeltas(timedelta(0), timedelta(hours=3000)),
                      st.integers(0, 200).map(lambda quarters: quarters * timedelta(minutes=15)))

PROPERTY = settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _wall_clock_open(cal: Calendar, at: datetime) -> bool | None:
    """The plain reading of a calendar (wall clock inside its hours, not a closed day); None on a day the clock
    changes, where the documented DST rules apply instead."""
    tz = cal.tz
    wall = at.replace(tzinfo=UTC).astimezone(tz)
    day = wall.date()
    midnight = datetime.combine(day, time(), tz)
    if midnight.utcoffset() != (midnight + timedelta(days=1)).utcoffset() or wall.utcoffset() != midnight.utcoffset():
        return None
    if cal.is_closed_day(day):
        return False
    seconds = wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6
    return any(start <= seconds < end for start, end in cal.hours[day.weekday()])


def _add(cal: Calendar, start: datetime, duration: timedelta) -> datetime:
    """``add_business_time`` where the answer lies within the calendar's reach (``MAX_AHEAD_DAYS``); the properties
    are about those (a sparse calendar and a long duration lie decades ahead: not an example)."""
    try:
        return add_business_time(cal, start, duration)
    except CalendarError as e:
        if 'years ahead' not in str(e):
            raise
        assume(False)
        raise


@PROPERTY
@given(calendars(), instants, durations)
def test_a_due_time_always_falls_in_working_hours_or_at_an_interval_end(cal, start, duration):
    assume(duration > timedelta(0))
    due = _add(cal, start, duration)
    assert due > start
    assert is_open(cal, due - US)  # the last microsecond counted was working time
    plain = _wall_clock_open(cal, due - US)
    assert plain in (True, None)


@PROPERTY
@given(calendars(), instants, durations, durations)
def test_adding_is_monotonic_in_the_duration(cal, start, d1, d2):
    d1, d2 = sorted((d1, d2))
    assert _add(cal, start, d1) <= _add(cal, start, d2)


@PROPERTY
@given(calendars(), instants, durations)
def test_add_then_measure_gives_back_the_duration(cal, start, duration):
    assert business_time_between(cal, start, _add(cal, start, duration)) == duration


@PROPERTY
@given(calendars(), instants, durations, durations)
def test_adding_twice_is_adding_the_sum(cal, start, d1, d2):
    assert _add(cal, _add(cal, start, d1), d2) == _add(cal, start, d1 + d2)


@PROPERTY
@given(calendars(), instants)
def test_is_open_agrees_with_next_open(cal, at):
    following = next_open(cal, at)
    assert following >= at
    assert is_open(cal, following)
    assert (following == at) == is_open(cal, at)
    assert business_time_between(cal, at, following) == timedelta(0)
    assert _wall_clock_open(cal, at) in (is_open(cal, at), None)


@PROPERTY
@given(calendars(), instants, st.timedeltas(timedelta(0), timedelta(days=2)),
       st.timedeltas(timedelta(0), timedelta(days=20)))
def test_measuring_adds_up_and_matches_counting_minute_by_minute(cal, a, step, longer):
    a = a.replace(second=0, microsecond=0)
    b = a + step // MIN * MIN
    c = b + longer
    assert business_time_between(cal, a, b) + business_time_between(cal, b, c) == business_time_between(cal, a, c)
    assert business_time_between(cal, c, a) == -business_time_between(cal, a, c)
    minutes = sum(is_open(cal, a + i * MIN) for i in range((b - a) // MIN))
    assert business_time_between(cal, a, b) == minutes * MIN


@PROPERTY
@given(calendars(), instants, durations)
def test_naive_and_aware_give_the_same_instant(cal, start, duration):
    naive = _add(cal, start, duration)
    assert _add(cal, start.replace(tzinfo=UTC), duration) == naive.replace(tzinfo=UTC)
    assert next_open(cal, start.replace(tzinfo=UTC)) == next_open(cal, start).replace(tzinfo=UTC)


@PROPERTY
@given(calendars())
def test_a_calendar_survives_storage(cal):
    again = Calendar.from_dict(cal.to_dict())
    assert again == cal and hash(again) == hash(cal)


# --- the value ----------------------------------------------------------------------------------------------------

def test_touching_intervals_are_joined_and_the_description_reads_well():
    cal = make_calendar(timezone='Europe/Zurich', hours={'mon': ['08:00-12:00', '12:00-17:00'], 1: ['08:00-17:00'],
                                                         'Wednesday': [('08:00', time(17, 0))]},
                        country='ch', subdivision='zh')
    assert cal.hours[0] == cal.hours[1] == cal.hours[2] == ((8 * 3600, 17 * 3600),)
    assert (cal.country, cal.subdivision) == ('CH', 'ZH')
    assert cal.describe() == 'Mon-Wed 08:00-17:00 (Europe/Zurich), holidays CH-ZH'
    assert cal.weekly_hours == 27 * H
    assert make_calendar(timezone='Europe/Zurich', hours=LUNCH).describe() == \
        'Mon-Fri 08:00-12:00, 13:00-17:00 (Europe/Zurich)'


# --- refusals -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('settings_', 'message'), [
    ({'timezone': 'Mars/Olympus'}, 'Unknown time zone "Mars/Olympus"'),
    ({'timezone': '../etc/passwd'}, 'Unknown time zone'),
    ({'timezone': 'Europe'}, 'Unknown time zone'),
    ({'timezone': ''}, 'needs a time zone'),
    ({'country': 'XX'}, 'Unknown holiday country "XX"'),
    ({'country': 'CH', 'subdivision': 'QQ'}, 'Unknown subdivision "QQ" of CH; known: AG, AI'),
    ({'subdivision': 'ZH'}, 'subdivision needs its country'),
    ({'hours': {}}, 'no working hours at all'),
    ({'hours': {'mon': []}}, 'no working hours at all'),
    ({'hours': {'mon': ['08:00-12:00', '11:00-13:00']}}, 'Monday: 08:00-12:00 and 11:00-13:00 overlap'),
    ({'hours': {'tue': ['17:00-08:00']}}, 'Tuesday: 17:00-08:00 ends before it starts (a shift across midnight'),
    ({'hours': {'mon': ['08:00-08:00']}}, '08:00-08:00 ends before it starts.'),
    ({'hours': {'mon': ['25:00-26:00']}}, '"25:00" is out of range'),
    ({'hours': {'mon': ['08:60-09:00']}}, '"08:60" is out of range'),
    ({'hours': {'mon': ['08:00-24:01']}}, '"24:01" is out of range'),
    ({'hours': {'mon': ['24:00-24:00']}}, 'out of range'),
    ({'hours': {'mon': ['8am-5pm']}}, '"8am" is not a time'),
    ({'hours': {'mon': ['morning']}}, '"morning" is not an interval'),
    ({'hours': {'mon': [('08:00', '12:00', '13:00')]}}, 'is not an interval'),
    ({'hours': {'mon': [(time(8, 0, 0, 5), '12:00')]}}, 'to the second'),
    ({'hours': {'mon': 8}}, 'give a list of intervals'),
    ({'hours': {'funday': ['08:00-17:00']}}, "Unknown weekday 'funday'"),
    ({'hours': {7: ['08:00-17:00']}}, 'Unknown weekday 7'),
    ({'always_open': True, 'hours': OFFICE}, 'A 24/7 calendar has no working hours'),
    ({'always_open': True, 'country': 'CH'}, 'A 24/7 calendar has no working hours, holidays'),
    ({'closed_dates': ['2026-13-01']}, '"2026-13-01" is not a date'),
    ({'closed_dates': [datetime(2026, 12, 24, 10, 0)]}, 'is a day, not a moment'),
])
def test_a_bad_calendar_is_refused_with_a_clear_message(settings_, message):
    given_ = {'timezone': 'Europe/Zurich', 'hours': OFFICE} | settings_
    with pytest.raises(CalendarError) as refused:
        make_calendar(**given_)
    assert message in str(refused.value)
    assert isinstance(refused.value, ValidationError) and isinstance(refused.value, ValueError)


def test_a_calendar_built_directly_is_checked_too():
    with pytest.raises(CalendarError, match='all 7 weekdays'):
        Calendar(hours=(((0, 3600),),))
    with pytest.raises(CalendarError, match='sorted and not touch'):
        Calendar(hours=(((7200, 9000), (0, 3600)),) + ((),) * 6)
    with pytest.raises(CalendarError, match='out of range'):
        Calendar(hours=(((0, 90_000),),) + ((),) * 6)
    with pytest.raises(CalendarError, match='Unknown calendar setting'):
        Calendar.from_dict({'timezone': 'UTC', 'hours': OFFICE, 'weekends': True})


def test_a_negative_duration_is_refused():
    with pytest.raises(CalendarError, match='cannot be negative'):
        add_business_time(ZURICH_OFFICE, datetime(2026, 12, 4), -MIN)


def test_a_calendar_whose_working_days_are_all_closed_for_years_fails_clearly_instead_of_hanging():
    mondays = [date(2026, 1, 5) + timedelta(weeks=i) for i in range(52 * 4)]
    cal = make_calendar(timezone='Europe/Zurich', hours={'mon': ['08:00-17:00']}, closed_dates=mondays)
    with pytest.raises(CalendarError, match='no working time in the 732 days after 2026-01-0'):
        add_business_time(cal, datetime(2026, 1, 1), H)
    with pytest.raises(CalendarError, match='no working time'):
        next_open(cal, datetime(2026, 1, 1))
    # a date after the closed years still works, and so does a measurement across them
    assert next_open(cal, datetime(2030, 1, 1)) == zurich(2030, 1, 7, 8, 0)
    assert business_time_between(cal, datetime(2026, 1, 1), datetime(2029, 12, 25)) == timedelta(0)


def test_a_result_beyond_the_year_9999_is_refused():
    with pytest.raises(CalendarError, match='year 9999'):
        add_business_time(ZURICH_OFFICE, datetime(9999, 12, 1), 1000 * H)
    with pytest.raises(CalendarError, match='year 9999'):
        add_business_time(ALWAYS_OPEN, datetime(9999, 12, 1), timedelta(days=100))


def test_a_due_time_more_than_ten_years_ahead_is_refused_not_walked_to():
    """One working minute a week: a year of working time lies ~10,000 years ahead; the walk stopped only at year
    9999 (400,000 weeks, 30–80 s). It stops after ten years of the calendar now, and says why."""
    cal = make_calendar(timezone='Europe/Zurich', hours={'mon': ['08:00-08:01']})
    start = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert add_business_time(cal, start, timedelta(minutes=500)) < start + timedelta(days=10 * 366)
    with pytest.raises(CalendarError, match=r'365 day\(s\) of working time lies more than 10 years ahead'):
        add_business_time(cal, start, timedelta(days=365))
    with pytest.raises(CalendarError, match='more than 30 years apart'):
        business_time_between(cal, start, datetime(9000, 1, 1, tzinfo=UTC))
    assert business_time_between(cal, start, start + timedelta(days=20 * 366)) > timedelta(minutes=1000)
