"""``manage.py load_holidays [--years 2025 2026]``: China's public holidays and make-up working days.

Fills ``CalendarDay`` from the ``chinesecalendar`` package (module ``chinese_calendar``), which
carries the State Council's arrangements. Only the dates that differ from the normal week need a
row: holidays falling Monday to Friday and make-up working days (调休) falling on a weekend. The
default is the current and the next year, as far as the package knows them (it learns a year when
the arrangement is announced, each November, so upgrade the package then).

Idempotent: a second run writes nothing. A date the package lists overwrites an edit made in the
admin for that same date; rows for other dates (a local holiday added by staff) are left alone.
"""

import chinese_calendar
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from civic.calendar_models import CalendarDay

__all__ = ["Command", "arrangements"]


def _chinese_name(english: str) -> str:
    # The package stores English names; the portal's users read Chinese (春节, 国庆节, ...).
    try:
        return chinese_calendar.Holiday(english).chinese
    except ValueError:
        return english


def arrangements(years: list[int]) -> dict:
    """{date: (is_workday, name)} for the given years: weekday holidays and weekend working days."""
    wanted = set(years)
    rows = {}
    for day, name in chinese_calendar.holidays.items():
        if day.year in wanted and day.weekday() < 5:
            rows[day] = (False, _chinese_name(name))
    for day, name in chinese_calendar.workdays.items():
        if day.year in wanted and day.weekday() >= 5:
            rows[day] = (True, _chinese_name(name))
    return rows


class Command(BaseCommand):
    help = (
        "Load China's public holidays and make-up working days into the working calendar from the chinesecalendar "
        "package (default: the current and the next year). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--years", type=int, nargs="+", metavar="YEAR",
                            help="Years to load (default: the current and the next year).")

    def handle(self, *args, years=None, **options):
        explicit = bool(years)
        if not explicit:
            current = timezone.localdate().year
            years = [current, current + 1]
        known = {day.year for day in chinese_calendar.holidays}
        unknown = sorted(set(years) - known)
        loadable = sorted(set(years) & known)
        for year in unknown:
            self.stderr.write(self.style.WARNING(
                f"chinesecalendar {chinese_calendar.__version__} has no arrangement for {year} "
                f"(it knows {min(known)}-{max(known)}); upgrade it once the State Council publishes one."
            ))
        if not loadable:
            if explicit:
                raise CommandError("None of the requested years is known to chinesecalendar.")
            self.stdout.write("Wrote 0 calendar days.")
            return
        created = updated = 0
        rows = arrangements(loadable)
        with transaction.atomic():
            existing = {
                row.date: (row.is_workday, row.name) for row in CalendarDay.objects.filter(date__in=list(rows))
            }
            for day, (workday, name) in sorted(rows.items()):
                if existing.get(day) == (workday, name):
                    continue
                _, was_created = CalendarDay.objects.update_or_create(
                    date=day, defaults={"is_workday": workday, "name": name}
                )
                created += was_created
                updated += not was_created
        unchanged = len(rows) - created - updated
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {created + updated} calendar days for {', '.join(map(str, loadable))}: "
            f"{created} created, {updated} updated, {unchanged} already up to date."
        ))
