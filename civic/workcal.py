"""Working time: deadlines that count only the hours a government office is open.

Why working time: the service levels of Chinese grid management and of the 12345 citizen hotline
are written in working days and hours ("签收 within 1 working day", "办结 within 5 working days").
A case reported on the Friday evening before National Day must not turn overdue during the Golden
Week, and the make-up Saturday the State Council declares a working day (调休) counts like any
Tuesday. A deadline is therefore "this much working time after the report", not a calendar span.

The calendar: Monday to Friday are working days and Saturday and Sunday are not, except the dates
listed in ``CalendarDay`` (public holidays and make-up working days, filled by
``manage.py load_holidays`` and editable in the admin). A working day consists of the periods in
``settings.WORKING_HOURS`` (default 09:00-12:00 and 13:30-17:30), local time in
``settings.TIME_ZONE``. "N working days" is N times ``working_day_length()`` (7 hours by default).

The overrides (a few dozen rows a year) are kept in each process and reloaded whenever any process
changes one (civic.cached: a save or delete in the admin, ``load_holidays``): an edit moves the next
deadline computed, and a report costs no query for the calendar.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from civic.cached import SharedVersion
from civic.calendar_models import CalendarDay

__all__ = [
    "DEFAULT_WORKING_HOURS",
    "add_working_time",
    "is_workday",
    "load_overrides",
    "working_day_length",
    "working_periods",
    "working_time_between",
]

DEFAULT_WORKING_HOURS = (((9, 0), (12, 0)), ((13, 30), (17, 30)))

# Calendar days searched beyond the estimate on the first load: covers the longest run of days off
# in the Chinese calendar (Spring Festival, 8-9 days) so that long holidays rarely cost a 2nd query.
_SLACK_DAYS = 14
_EXTENSION_DAYS = 366

Period = tuple[time, time]


def working_periods() -> tuple[Period, ...]:
    """settings.WORKING_HOURS as (start, end) times, checked to be ordered and not overlapping."""
    raw = getattr(settings, "WORKING_HOURS", DEFAULT_WORKING_HOURS)
    try:
        periods = tuple((time(*start), time(*end)) for start, end in raw)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"WORKING_HOURS must be ((hour, minute), (hour, minute)) pairs: {exc}") from exc
    if not periods:
        raise ImproperlyConfigured("WORKING_HOURS needs at least one working period.")
    previous_end = time.min
    for index, (start, end) in enumerate(periods):
        if not start < end or (index and start < previous_end):
            raise ImproperlyConfigured("WORKING_HOURS periods must be increasing and must not overlap.")
        previous_end = end
    return periods


def working_day_length() -> timedelta:
    """The working time in one working day (7 hours with the default WORKING_HOURS)."""
    day = date(2000, 1, 1)
    return sum((datetime.combine(day, end) - datetime.combine(day, start) for start, end in working_periods()),
               timedelta(0))


OVERRIDES = SharedVersion("workcal", lambda: dict(CalendarDay.objects.values_list("date", "is_workday")))


def load_overrides(first: date, last: date) -> dict[date, bool]:
    """The CalendarDay overrides from ``first`` to ``last`` inclusive, as {date: is_workday}."""
    return {day: workday for day, workday in OVERRIDES.get().items() if first <= day <= last}


def _is_workday(day: date, overrides: dict[date, bool]) -> bool:
    listed = overrides.get(day)
    return day.weekday() < 5 if listed is None else listed


def is_workday(day: date) -> bool:
    """Whether ``day`` is a working day (a datetime counts by its local date)."""
    if isinstance(day, datetime):
        day = timezone.localtime(day, timezone.get_default_timezone()).date()
    return _is_workday(day, load_overrides(day, day))


def _periods_on(day: date, periods: tuple[Period, ...], tz) -> list[tuple[datetime, datetime]]:
    # Compute in UTC: subtracting two aware datetimes of the same zone ignores a DST change between them.
    return [
        (datetime.combine(day, start, tzinfo=tz).astimezone(UTC), datetime.combine(day, end, tzinfo=tz).astimezone(UTC))
        for start, end in periods
    ]


def _require_aware(value: datetime, name: str) -> None:
    if timezone.is_naive(value):
        raise ValueError(f"{name} must be an aware datetime")


def _days_to_load(remaining: timedelta, per_day: timedelta) -> int:
    """Calendar days likely to hold ``remaining`` working time: 5 working days in 7, plus slack."""
    working_days = math.ceil(remaining / per_day)
    return math.ceil(working_days * 7 / 5) + _SLACK_DAYS


def add_working_time(start: datetime, duration: timedelta) -> datetime:
    """The moment ``duration`` of working time has elapsed after ``start`` (aware, in TIME_ZONE).

    Nights, the lunch break, weekends and holidays are skipped and make-up working days count. A start
    outside working hours counts from the next working period; a zero duration returns ``start``. An
    end exactly at the close of a period is returned as that close (17:30), not as the next opening.
    """
    _require_aware(start, "start")
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    tz = timezone.get_default_timezone()
    if not duration:
        return start.astimezone(tz)
    periods = working_periods()
    per_day = working_day_length()
    remaining = duration
    at = start.astimezone(UTC)
    day = start_day = start.astimezone(tz).date()
    overrides: dict[date, bool] = {}
    loaded_until = day - timedelta(days=1)
    while True:
        if day > loaded_until:
            # The first window covers the duration with slack. Outrunning it means an unusual run of
            # days off: the next window takes at least a year (a year has ~25 rows), so a query per
            # window never becomes a query per day.
            days = _days_to_load(remaining, per_day)
            if loaded_until >= start_day:
                days = max(days, _EXTENSION_DAYS)
            loaded_until = day + timedelta(days=days)
            overrides = load_overrides(day, loaded_until)
        if _is_workday(day, overrides):
            for period_start, period_end in _periods_on(day, periods, tz):
                begin = max(period_start, at)
                if begin >= period_end:
                    continue
                available = period_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(tz)
                remaining -= available
        day += timedelta(days=1)


def working_time_between(start: datetime, end: datetime) -> timedelta:
    """The working time from ``start`` to ``end`` (negative when ``end`` comes first), in one query."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end < start:
        return -working_time_between(end, start)
    if end == start:
        return timedelta(0)
    tz = timezone.get_default_timezone()
    periods = working_periods()
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    overrides = load_overrides(first, last)
    low, high = start.astimezone(UTC), end.astimezone(UTC)
    total = timedelta(0)
    day = first
    while day <= last:
        if _is_workday(day, overrides):
            for period_start, period_end in _periods_on(day, periods, tz):
                overlap = min(period_end, high) - max(period_start, low)
                if overlap > timedelta(0):
                    total += overlap
        day += timedelta(days=1)
    return total
