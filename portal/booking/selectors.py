"""What the citizens' booking pages read: the catalogue (open to everyone) and a citizen's own bookings
and waitlist entries (nobody else's: every query here filters by the citizen)."""

from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from services.booking.models import (
    ACTIVE_STATUSES,
    Booking,
    Department,
    Service,
    ServicePoint,
    Slot,
    WaitlistStatus,
)
from services.booking.selectors import waitlist_list

__all__ = ["my_booking", "my_bookings", "my_waitlist", "point_list", "point_services", "service_resources",
           "service_week", "upcoming", "week_start"]


def point_list() -> QuerySet:
    return ServicePoint.objects.filter(active=True).order_by("kind", "name")


def point_services(point: ServicePoint) -> list[tuple[Department | None, list[Service]]]:
    """The point's active services, by department (those without one last)."""
    services = list(point.services.filter(active=True).select_related("department").order_by("department__name",
                                                                                            "name"))
    grouped: dict[int | None, tuple] = {}
    for service in services:
        grouped.setdefault(service.department_id, (service.department, []))[1].append(service)
    return sorted(grouped.values(), key=lambda group: (group[0] is None, group[0].name if group[0] else ""))


def week_start(day: date | None) -> date:
    day = day or timezone.localdate()
    return day - timedelta(days=day.weekday())


def service_resources(service: Service) -> QuerySet:
    return service.resources.filter(active=True).order_by("name")


def service_week(service: Service, monday: date, resource: int | None = None) -> list[tuple[date, list[Slot]]]:
    """The service's open slots in the week from `monday` (of one resource, if given), still to come, by
    day (days without any included, so the week reads as a week)."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(monday, time.min), tz)
    end = start + timedelta(days=7)
    slots = (Slot.objects.filter(service=service, closed=False, start__gte=max(start, timezone.now()), start__lt=end)
             .select_related("resource").order_by("start", "resource__name", "id"))
    if resource is not None:
        slots = slots.filter(resource_id=resource)
    days: dict[date, list[Slot]] = {monday + timedelta(days=n): [] for n in range(7)}
    for slot in slots:
        days[timezone.localtime(slot.start, tz).date()].append(slot)
    return list(days.items())


def my_bookings(user) -> QuerySet:
    return (Booking.objects.filter(citizen=user)
            .select_related("slot__point", "slot__service__department", "slot__resource")
            .order_by("-slot__start", "-id"))


def my_booking(user, reference: str) -> Booking | None:
    return my_bookings(user).filter(reference=reference).first()


def my_waitlist(user) -> QuerySet:
    """The citizen's waitlist entries still in line (or offered a place), each with its ``position``."""
    return (waitlist_list(user=user)
            .filter(citizen=user, status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED],
                    slot__start__gt=timezone.now())
            .select_related("booking").order_by("slot__start", "id"))


def upcoming(bookings: QuerySet) -> QuerySet:
    return bookings.filter(status__in=ACTIVE_STATUSES, slot__end__gte=timezone.now())

