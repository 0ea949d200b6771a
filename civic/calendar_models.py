"""The working calendar's override table: public holidays and make-up working days (调休).

A date listed here is either a holiday (``is_workday`` False, usually a weekday off) or a make-up
working day (``is_workday`` True, usually a Saturday or Sunday worked in exchange for a longer
holiday). Dates not listed follow the normal week: Monday to Friday work, Saturday and Sunday rest.
The State Council publishes the year's arrangement each November; ``manage.py load_holidays`` fills
the table from the ``chinesecalendar`` package and staff correct it in the admin (a local holiday,
a late announcement). ``civic.workcal`` reads it.

The model lives in the ``civic`` app (its label is derived from this module's package) and is
imported at the end of ``civic/models.py`` so that Django registers it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["CalendarDay"]


class CalendarDay(models.Model):
    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(
        _("working day"),
        default=False,
        help_text=_("Ticked: a make-up working day (usually a weekend). Unticked: a public holiday."),
    )
    name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("For example: Spring Festival."))

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        kind = _("working day") if self.is_workday else _("holiday")
        label = f"{self.date.isoformat()} {kind}"
        return f"{label} ({self.name})" if self.name else label
