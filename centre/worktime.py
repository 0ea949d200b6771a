"""Working time between two timestamps, for many rows at once, in SQL.

civic.workcal answers "how much working time lies between a and b" for one pair, walking the
calendar day by day in Python. The command centre needs it for every case in a scope (a district
holds 100,000 cases), so it turns the question into a clock: W(t) is the working time from the start
of a window of days to t, and the working time between a and b is W(b) - W(a). W(t) is

    the working time of the window's days before t's local day      (a running sum over the days)
  + the working time of t's local day up to t's local time          (only on a working day)

The days come from one CTE, ``clock``: per local date ``work`` (the weekday rule, overridden by
civic.CalendarDay, as workcal does) and ``before`` (the running sum), as two arrays over the span of
the data (a few thousand days at most); each timestamp finds its day by subscript. The time of day
counts each working period of settings.WORKING_HOURS up to the clock time.

PostgreSQL only (``AT TIME ZONE``, ``generate_series``). ``WorkingClock`` is the same clock in
Python, for other databases (SQLite in development) and as a second opinion in the tests.
"""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from civic.calendar_models import CalendarDay
from civic.workcal import load_overrides, working_periods

__all__ = ["WorkingClock", "clock_at", "clock_cte", "clock_parts", "median"]


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _periods() -> list[tuple[int, int]]:
    return [(_seconds(start), _seconds(end)) for start, end in working_periods()]


def _day_seconds() -> int:
    return sum(end - start for start, end in _periods())


def clock_cte(low_sql: str, high_sql: str) -> tuple[str, list]:
    """A CTE ``clock`` (without the leading WITH) of one row: ``first``, the first local date of the
    timestamps ``low_sql`` .. ``high_sql`` (SQL expressions, e.g. scalar subqueries over an earlier CTE),
    and per day from there ``work`` (a working day?) and ``before`` (working seconds before that day),
    as arrays: a timestamp finds its day by subscript, with no join for the planner to misjudge."""
    day = _day_seconds()
    sql = (
        "clock AS (SELECT MIN(day) AS first, ARRAY_AGG(work ORDER BY day) AS work,"
        " ARRAY_AGG(before ORDER BY day) AS before FROM ("
        f"SELECT day, work, COALESCE(SUM(CASE WHEN work THEN {day} ELSE 0 END) OVER"
        " (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before FROM ("
        "SELECT d::date AS day, COALESCE(cd.is_workday, EXTRACT(ISODOW FROM d) < 6) AS work"
        f" FROM generate_series(({low_sql} AT TIME ZONE %s)::date, ({high_sql} AT TIME ZONE %s)::date,"
        f" interval '1 day') AS d LEFT JOIN {CalendarDay._meta.db_table} cd ON cd.date = d::date) AS days) AS cal)"
    )
    return sql, [settings.TIME_ZONE, settings.TIME_ZONE]


def clock_parts(column: str, name: str) -> tuple[str, list]:
    """Select-list items ``<name>_day`` (the index of the column's local date in the clock's arrays) and
    ``<name>_sec`` (its local time of day in seconds, as float: EXTRACT would compute in numeric), with
    the ``clock`` CTE in the FROM list: computed once per row, then read by clock_at."""
    local = f"({column} AT TIME ZONE %s)"
    sql = (f"{local}::date - clock.first + 1 AS {name}_day, DATE_PART('epoch', {local}::time) AS {name}_sec")
    return sql, [settings.TIME_ZONE, settings.TIME_ZONE]


def clock_at(name: str) -> str:
    """W(t) in seconds from clock_parts' ``<name>_day`` and ``<name>_sec`` (NULL when t is NULL), with the
    ``clock`` CTE in the FROM list."""
    day, seconds = f"{name}_day", f"{name}_sec"
    within = " + ".join(f"GREATEST(0, LEAST({seconds}, {end}) - {start})" for start, end in _periods())
    return f"(clock.before[{day}] + CASE WHEN clock.work[{day}] THEN {within} ELSE 0 END)"


class WorkingClock:
    """W(t) in Python over the local dates first..last, with the calendar loaded in one query."""

    def __init__(self, first: date, last: date):
        overrides = load_overrides(first, last)
        self.tz = timezone.get_default_timezone()
        self.first = first
        self.periods = _periods()
        day = _day_seconds()
        self.before: list[int] = []
        self.work: list[bool] = []
        running, current = 0, first
        while current <= last:
            listed = overrides.get(current)
            works = current.weekday() < 5 if listed is None else listed
            self.before.append(running)
            self.work.append(works)
            running += day if works else 0
            current += timedelta(days=1)

    @classmethod
    def covering(cls, moments: list[datetime]) -> "WorkingClock":
        tz = timezone.get_default_timezone()
        days = [m.astimezone(tz).date() for m in moments]
        return cls(min(days), max(days))

    def at(self, moment: datetime) -> float:
        local = moment.astimezone(self.tz)
        index = (local.date() - self.first).days
        if not self.work[index]:
            return float(self.before[index])
        clock = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return self.before[index] + sum(max(0.0, min(clock, end) - start) for start, end in self.periods)

    def between(self, start: datetime, end: datetime) -> float:
        return self.at(end) - self.at(start)


def median(values: list[float]) -> float | None:
    """The median as PostgreSQL's percentile_cont(0.5) computes it."""
    if not values:
        return None
    ordered = sorted(values)
    middle = (len(ordered) - 1) / 2
    low = ordered[int(middle)]
    high = ordered[min(int(middle) + 1, len(ordered) - 1)]
    return low + (high - low) * (middle - int(middle))

