"""A booking as an iCalendar file (RFC 5545), built with the maintained `icalendar` library.

One VEVENT per booking:

* UID is stable for the booking's whole life (its primary key and reference), so a calendar that
  imported the file once updates the same event when the citizen downloads it again;
* SEQUENCE is the booking's revision: 0 when booked, bumped by every reschedule (the core keeps it on
  the booking), so the calendar takes the newer time;
* a cancelled booking is sent as METHOD:CANCEL with STATUS:CANCELLED (same UID, SEQUENCE one higher
  than the last version sent), which removes the event from the citizen's calendar.

Times are written in UTC (``...Z``): no VTIMEZONE block is needed and every client shows them in its
own zone.
"""

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import icalendar
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

__all__ = ["UID_DOMAIN", "booking_ics", "booking_sequence", "booking_uid", "ics_filename"]

UID_DOMAIN = getattr(settings, "BOOKING_ICS_UID_DOMAIN", "booking.civic.hohhot.gov.cn")
PRODID = "-//Civic city services//Appointments//ZH"
# The calendar reminds the citizen this long before the appointment.
ALARM_BEFORE = timedelta(hours=2)


def booking_uid(booking) -> str:
    """Stable for the booking: neither the slot nor the status is in it."""
    return f"booking-{booking.pk}-{booking.reference}@{UID_DOMAIN}".lower()


def booking_sequence(booking) -> int:
    """The booking's revision: the core's counter of reschedules; a cancellation is one more revision."""
    sequence = int(getattr(booking, "sequence", 0) or 0)
    return sequence + 1 if _cancelled(booking) else sequence


def _cancelled(booking) -> bool:
    return booking.status == "cancelled"


def ics_filename(booking) -> str:
    return f"booking-{booking.reference}.ics"


def _utc(moment: datetime) -> datetime:
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.astimezone(UTC)


def booking_ics(booking, *, now: datetime | None = None, language: str | None = None) -> bytes:
    """The .ics file of `booking` (with its slot, service and point loaded), in `language` (the
    active one by default)."""
    with translation.override(language or translation.get_language()):
        return _build(booking, now or timezone.now())


def _build(booking, now: datetime) -> bytes:
    slot = booking.slot
    service = slot.service
    point = service.point
    cancelled = _cancelled(booking)

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")

    event = icalendar.Event()
    event.add("uid", booking_uid(booking))
    event.add("sequence", booking_sequence(booking))
    event.add("dtstamp", _utc(now))
    event.add("dtstart", _utc(slot.start))
    event.add("dtend", _utc(slot.end))
    # RFC 5546 wants an ORGANIZER on PUBLISH and CANCEL alike: the service point, at the city's no-reply address.
    organizer = icalendar.vCalAddress(f"mailto:{parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}")
    organizer.params["cn"] = icalendar.vText(point.name)
    event.add("organizer", organizer)
    event.add("summary", _("%(service)s at %(point)s") % {"service": service.name, "point": point.name})
    resource = getattr(slot, "resource", None)
    lines = [_("Booking reference: %(reference)s") % {"reference": booking.reference}]
    if resource is not None:
        lines.append(_("With: %(resource)s") % {"resource": resource.name})
    if booking.family_member_name:
        lines.append(_("For: %(name)s") % {"name": booking.family_member_name})
    event.add("description", "\n".join(lines))
    address = getattr(point, "address", "") or point.name
    event.add("location", address)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
    if not cancelled:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", _("Appointment reminder"))
        alarm.add("trigger", -ALARM_BEFORE)
        event.add_component(alarm)
    calendar.add_component(event)
    return calendar.to_ical()

