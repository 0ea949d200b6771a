"""civic.workcal: deadlines in working time over China's calendar, and the calendar behind it.

The holidays are the real arrangements that ``load_holidays`` reads from chinesecalendar 1.11.0:
National Day 2025 (Oct 1-8 off, Sunday Sep 28 and Saturday Oct 11 worked) and the Spring Festival
2026 (Feb 15-23 off, Saturdays Feb 14 and Feb 28 worked).
"""

from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.urls import reverse

from civic.calendar_models import CalendarDay
from civic.workcal import add_working_time, is_workday, working_day_length, working_time_between

SHANGHAI = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
WORKING_DAY = timedelta(hours=7)


def at(year, month, day, hour, minute=0, second=0, microsecond=0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=SHANGHAI)


@pytest.fixture
def holidays(db):
    call_command("load_holidays", "--years", "2025", "2026", stdout=StringIO())


# --- The normal week ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_friday_afternoon_plus_two_hours_is_monday_morning():
    assert add_working_time(at(2025, 3, 14, 16, 30), 2 * H) == at(2025, 3, 17, 10)


@pytest.mark.django_db
def test_lunch_break_is_skipped():
    assert add_working_time(at(2025, 3, 11, 11, 30), H) == at(2025, 3, 11, 14)
    # Reported during lunch: counting starts at 13:30.
    assert add_working_time(at(2025, 3, 11, 12, 30), H / 2) == at(2025, 3, 11, 14)


@pytest.mark.django_db
def test_start_outside_working_hours_counts_from_the_next_period():
    assert add_working_time(at(2025, 3, 11, 20), H) == at(2025, 3, 12, 10)
    assert add_working_time(at(2025, 3, 12, 6, 45), H) == at(2025, 3, 12, 10)
    assert add_working_time(at(2025, 3, 15, 10), H) == at(2025, 3, 17, 10)  # a Saturday


@pytest.mark.django_db
def test_an_end_at_closing_time_stays_at_closing_time():
    assert add_working_time(at(2025, 3, 11, 9), 3 * H) == at(2025, 3, 11, 12)
    assert add_working_time(at(2025, 3, 11, 9), WORKING_DAY) == at(2025, 3, 11, 17, 30)
    assert add_working_time(at(2025, 3, 11, 9), WORKING_DAY + timedelta(minutes=1)) == at(2025, 3, 12, 9, 1)


@pytest.mark.django_db
def test_zero_duration_returns_the_start():
    assert add_working_time(at(2025, 3, 11, 20), timedelta(0)) == at(2025, 3, 11, 20)


@pytest.mark.django_db
def test_result_is_in_local_time_whatever_the_start_zone():
    start_utc = at(2025, 3, 14, 16, 30).astimezone(ZoneInfo("UTC"))
    result = add_working_time(start_utc, 2 * H)
    assert result == at(2025, 3, 17, 10)
    assert result.utcoffset() == timedelta(hours=8)


@pytest.mark.django_db
def test_working_days_are_seven_hours_by_default():
    assert working_day_length() == WORKING_DAY
    # Five working days from a Monday morning end on Friday evening.
    assert add_working_time(at(2025, 3, 10, 9), 5 * WORKING_DAY) == at(2025, 3, 14, 17, 30)


@pytest.mark.django_db
def test_working_hours_come_from_settings(settings):
    settings.WORKING_HOURS = (((8, 30), (12, 0)), ((14, 0), (18, 0)))
    assert working_day_length() == timedelta(hours=7, minutes=30)
    assert add_working_time(at(2025, 3, 11, 11), 2 * H) == at(2025, 3, 11, 15)


@pytest.mark.parametrize(
    "hours",
    [(), (((12, 0), (9, 0)),), (((9, 0), (12, 0)), ((11, 0), (17, 0))), (((25, 0), (26, 0)),), "9-17"],
)
def test_bad_working_hours_are_a_configuration_error(settings, hours):
    settings.WORKING_HOURS = hours
    with pytest.raises(ImproperlyConfigured):
        working_day_length()


def test_naive_datetimes_and_negative_durations_are_refused():
    with pytest.raises(ValueError, match="aware"):
        add_working_time(datetime(2025, 3, 11, 9), H)
    with pytest.raises(ValueError, match="aware"):
        working_time_between(at(2025, 3, 11, 9), datetime(2025, 3, 11, 10))
    with pytest.raises(ValueError, match="negative"):
        add_working_time(at(2025, 3, 11, 9), -H)


# --- Holidays and make-up working days ------------------------------------------------------------


def test_is_workday_follows_the_calendar(holidays):
    assert is_workday(date(2025, 3, 14))  # an ordinary Friday
    assert not is_workday(date(2025, 3, 15))  # an ordinary Saturday
    assert not is_workday(date(2025, 10, 1))  # National Day
    assert not is_workday(date(2025, 10, 8))  # the Golden Week's last day
    assert is_workday(date(2025, 9, 28))  # a make-up Sunday
    assert is_workday(date(2025, 10, 11))  # a make-up Saturday
    assert is_workday(at(2025, 10, 10, 23, 30).astimezone(ZoneInfo("UTC")))  # a datetime counts by its local date


def test_national_day_golden_week_is_skipped(holidays):
    # Tuesday Sep 30, one hour before closing: the next working hour is Thursday Oct 9.
    assert add_working_time(at(2025, 9, 30, 16, 30), 2 * H) == at(2025, 10, 9, 10)


def test_make_up_working_days_count(holidays):
    # Friday Oct 10 -> Saturday Oct 11, a make-up working day.
    assert add_working_time(at(2025, 10, 10, 16, 30), 2 * H) == at(2025, 10, 11, 10)
    # Saturday Sep 27 is a rest day, Sunday Sep 28 is worked.
    assert add_working_time(at(2025, 9, 27, 10), H) == at(2025, 9, 28, 10)


def test_spring_festival_is_skipped(holidays):
    # Friday Feb 13 2026 -> make-up Saturday Feb 14 -> nine days off -> Tuesday Feb 24.
    assert add_working_time(at(2026, 2, 13, 17), H) == at(2026, 2, 14, 9, 30)
    assert add_working_time(at(2026, 2, 14, 17), H) == at(2026, 2, 24, 9, 30)
    assert working_time_between(at(2026, 2, 13, 9), at(2026, 2, 25, 9)) == 3 * WORKING_DAY


def test_working_time_between(holidays):
    assert working_time_between(at(2025, 3, 14, 16, 30), at(2025, 3, 17, 10)) == 2 * H
    assert working_time_between(at(2025, 3, 17, 10), at(2025, 3, 14, 16, 30)) == -2 * H
    assert working_time_between(at(2025, 3, 11, 12), at(2025, 3, 11, 13, 30)) == timedelta(0)
    assert working_time_between(at(2025, 3, 11, 10), at(2025, 3, 11, 10)) == timedelta(0)
    # National Day week: Sep 28 (Sunday, worked), Sep 29, Sep 30, then nothing until Oct 9.
    assert working_time_between(at(2025, 9, 27, 0), at(2025, 10, 9, 0)) == 3 * WORKING_DAY


@pytest.mark.parametrize(
    ("start", "duration"),
    [
        (at(2025, 3, 14, 16, 30), 2 * H),
        (at(2025, 3, 11, 20), H),
        (at(2025, 3, 11, 12, 15), timedelta(minutes=95)),
        (at(2025, 9, 26, 11, 59, 59, microsecond=250_000), timedelta(hours=13, microseconds=3)),
        (at(2025, 9, 30, 16, 30), 2 * H),
        (at(2025, 12, 31, 17), 30 * WORKING_DAY),
        (at(2026, 2, 10, 9), 10 * WORKING_DAY + timedelta(minutes=7)),
        (at(2025, 1, 1, 0), 250 * WORKING_DAY),
    ],
)
def test_round_trip(holidays, start, duration):
    end = add_working_time(start, duration)
    assert end > start
    assert working_time_between(start, end) == duration


# --- Edits in the admin take effect ----------------------------------------------------------------


def test_a_holiday_added_in_the_admin_moves_deadlines(admin_client):
    start = at(2025, 3, 14, 16, 30)
    assert add_working_time(start, 2 * H) == at(2025, 3, 17, 10)

    response = admin_client.post(
        reverse("admin:civic_calendarday_add"), {"date": "2025-03-17", "name": "Local holiday"}
    )
    assert response.status_code == 302, response.content
    assert CalendarDay.objects.get(date=date(2025, 3, 17)).is_workday is False
    assert add_working_time(start, 2 * H) == at(2025, 3, 18, 10)

    # And a make-up Saturday.
    response = admin_client.post(
        reverse("admin:civic_calendarday_add"), {"date": "2025-03-15", "is_workday": "on", "name": "Make-up day"}
    )
    assert response.status_code == 302, response.content
    assert add_working_time(start, 2 * H) == at(2025, 3, 15, 10)


def test_the_admin_lists_the_calendar(admin_client, holidays):
    response = admin_client.get(reverse("admin:civic_calendarday_changelist") + "?date__year=2025")
    assert response.status_code == 200
    assert "国庆节" in response.content.decode()


# --- Bounded queries ----------------------------------------------------------------------------


def test_queries_are_bounded_whatever_the_duration(holidays, django_assert_max_num_queries):
    start = at(2025, 12, 20, 10)  # the window spans New Year's Day and the Spring Festival
    with django_assert_max_num_queries(2):
        end = add_working_time(start, 30 * WORKING_DAY)
    with django_assert_max_num_queries(1):
        assert working_time_between(start, end) == 30 * WORKING_DAY
    with django_assert_max_num_queries(2):
        add_working_time(start, 500 * WORKING_DAY)


def test_a_long_run_of_holidays_costs_one_more_window_not_a_query_per_day(db, django_assert_max_num_queries):
    # Staff close the office for 60 days: the first window (estimated from the duration) is not enough.
    CalendarDay.objects.bulk_create(CalendarDay(date=date(2025, 3, 3) + timedelta(days=n)) for n in range(60))
    with django_assert_max_num_queries(2):
        assert add_working_time(at(2025, 3, 3, 9), H) == at(2025, 5, 2, 10)


# --- load_holidays ------------------------------------------------------------------------------


def test_load_holidays_writes_only_the_exceptions_and_is_idempotent(db):
    out = StringIO()
    call_command("load_holidays", "--years", "2025", stdout=out)
    assert "Wrote 23 calendar days for 2025: 23 created, 0 updated" in out.getvalue()
    rows = {row.date: row for row in CalendarDay.objects.all()}
    assert len(rows) == 23
    assert rows[date(2025, 10, 1)].is_workday is False
    assert rows[date(2025, 10, 1)].name == "国庆节"
    assert rows[date(2025, 10, 6)].name == "中秋"
    assert rows[date(2025, 10, 11)].is_workday is True
    assert date(2025, 10, 4) not in rows  # a Saturday off anyway
    assert all((row.date.weekday() >= 5) == row.is_workday for row in rows.values())

    CalendarDay.objects.filter(date=date(2025, 10, 1)).update(name="edited")
    CalendarDay.objects.create(date=date(2025, 7, 1), name="a local holiday")
    out = StringIO()
    call_command("load_holidays", "--years", "2025", stdout=out)
    assert "Wrote 1 calendar days for 2025: 0 created, 1 updated, 22 already up to date." in out.getvalue()
    assert CalendarDay.objects.get(date=date(2025, 10, 1)).name == "国庆节"
    assert CalendarDay.objects.filter(date=date(2025, 7, 1)).exists()  # staff's own rows stay


def test_load_holidays_defaults_to_this_year_and_the_next(db, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args, **kwargs: date(2025, 6, 1))
    out, err = StringIO(), StringIO()
    call_command("load_holidays", stdout=out, stderr=err)
    assert "for 2025, 2026" in out.getvalue()
    assert CalendarDay.objects.filter(date__year=2026).exists()
    assert err.getvalue() == ""


def test_load_holidays_warns_about_years_the_package_does_not_know(db):
    out, err = StringIO(), StringIO()
    call_command("load_holidays", "--years", "2026", "2099", stdout=out, stderr=err)
    assert "no arrangement for 2099" in err.getvalue()
    assert "for 2026:" in out.getvalue()
    with pytest.raises(Exception, match="None of the requested years"):
        call_command("load_holidays", "--years", "2099", stdout=StringIO(), stderr=StringIO())


def test_the_calendar_is_read_once_and_again_after_any_change(db, django_assert_num_queries):
    """Kept in the process (civic.cached), so a deadline costs no query; a saved or deleted day is seen
    at once, whichever process saved it (the version lives in the shared cache)."""
    from civic.workcal import OVERRIDES

    start = at(2025, 4, 30, 16)  # Wednesday 16:00; the day ends at 17:30
    add_working_time(start, H)
    with django_assert_num_queries(0):
        assert add_working_time(start, 2 * H) == at(2025, 5, 1, 9, 30)
    holiday = CalendarDay.objects.create(date=date(2025, 5, 1), is_workday=False, name="劳动节")
    assert add_working_time(start, 2 * H) == at(2025, 5, 2, 9, 30)
    holiday.delete()
    assert add_working_time(start, 2 * H) == at(2025, 5, 1, 9, 30)
    CalendarDay.objects.bulk_create([CalendarDay(date=date(2025, 5, 1), is_workday=False)])  # no signal:
    OVERRIDES.forget()  # whoever writes in bulk says so (load_holidays saves row by row)
    assert add_working_time(start, 2 * H) == at(2025, 5, 2, 9, 30)
