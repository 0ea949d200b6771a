"""Reads of appointment booking.

What can be booked (points, services, resources, slots with their free places) is open to every
signed-in user: a citizen must see it to book. Bookings and waitlist entries go through
grid.permissions.scope: a citizen sees their own, staff those at the service points of their subtrees,
a partner's key (booking.read) those of its subtree. ``*_managed`` lists are the staff's own scope
(the admin): the slots, closures, plans and tasks of the points they manage or view.
"""

from datetime import date, datetime, time, timedelta

from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from grid.permissions import scope
from services.booking.models import (
    Booking,
    BookingBlock,
    Closure,
    Department,
    FollowUpPlan,
    FollowUpTask,
    Resource,
    Service,
    ServicePoint,
    Slot,
    WaitlistEntry,
    WaitlistStatus,
)
from services.booking.services import active_block, next_free_slots

__all__ = [
    "active_block",
    "block_list",
    "booking_detail",
    "booking_list",
    "closure_list",
    "department_availability",
    "department_list",
    "follow_up_plan_list",
    "follow_up_task_list",
    "next_free_slots",
    "point_list",
    "resource_list",
    "service_list",
    "slot_available_q",
    "slot_list",
    "slot_list_managed",
    "today_desk",
    "waitlist_list",
    "waitlist_position",
]


def point_list() -> QuerySet:
    return ServicePoint.objects.filter(active=True).select_related("node")


def department_list(*, point: ServicePoint | None = None) -> QuerySet:
    departments = Department.objects.select_related("point")
    return departments.filter(point=point) if point is not None else departments


def service_list() -> QuerySet:
    return Service.objects.filter(active=True, point__active=True).select_related("point", "department")


def resource_list() -> QuerySet:
    return (Resource.objects.filter(active=True, point__active=True).select_related("point", "department")
            .prefetch_related("services"))


def slot_available_q(available: bool = True) -> Q:
    """Slots with a free place (open, still to come); with False, those without."""
    q = Q(closed=False, booked__lt=F("capacity"), start__gt=timezone.now())
    return q if available else ~q


def slot_list(*, available: bool | None = None) -> QuerySet:
    """Every slot of an active point, with what a list row shows joined in; `available`: only those with
    a free place, or only those without."""
    slots = Slot.objects.filter(point__active=True).select_related("point", "service", "resource")
    return slots if available is None else slots.filter(slot_available_q(available))


def slot_list_managed(*, user, action: str = "view") -> QuerySet:
    """The slots of the points in the user's scope (staff), for the admin."""
    return scope(Slot.objects.select_related("point", "service", "resource"), user, action)


def booking_list(*, user) -> QuerySet:
    """The bookings the user may see: their own (a citizen), their subtrees' (staff, keys)."""
    return scope(
        Booking.objects.select_related("slot__point", "slot__service", "slot__resource"), user, "view"
    )


def booking_detail(*, user) -> QuerySet:
    return booking_list(user=user)


def today_desk(*, user, point: ServicePoint | None = None, day: date | None = None) -> QuerySet:
    """The day's bookings at the points the user manages, by start: the check-in desk."""
    day = day or timezone.localdate()
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, time(), tzinfo=tz)
    bookings = scope(Booking.objects.select_related("slot__point", "slot__service", "slot__resource", "citizen"),
                     user, "manage").filter(slot__start__gte=start, slot__start__lt=start + timedelta(days=1))
    if point is not None:
        bookings = bookings.filter(slot__point=point)
    return bookings.exclude(status="cancelled").order_by("slot__start", "id")


def _position() -> Subquery:
    ahead = (WaitlistEntry.objects.filter(slot_id=OuterRef("slot_id"), id__lte=OuterRef("id"),
                                          status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED])
             .order_by().values("slot_id").annotate(n=Count("id")).values("n"))
    return Subquery(ahead, output_field=IntegerField())


def waitlist_list(*, user) -> QuerySet:
    """The waitlist entries the user may see, each with its `position` (1 = first in line) while waiting."""
    return scope(WaitlistEntry.objects.select_related("slot__point", "slot__service", "slot__resource"),
                 user, "view").annotate(position=_position())


def waitlist_position(entry: WaitlistEntry) -> int | None:
    if entry.status not in (WaitlistStatus.WAITING, WaitlistStatus.OFFERED):
        return None
    return WaitlistEntry.objects.filter(slot_id=entry.slot_id, id__lte=entry.pk,
                                        status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED]).count()


def closure_list(*, user) -> QuerySet:
    return scope(Closure.objects.select_related("point", "resource"), user, "view")


def block_list(*, active_only: bool = True) -> QuerySet:
    blocks = BookingBlock.objects.select_related("citizen", "lifted_by")
    if active_only:
        blocks = blocks.filter(lifted_at__isnull=True, until__gt=timezone.now())
    return blocks


def follow_up_plan_list(*, user) -> QuerySet:
    return scope(FollowUpPlan.objects.select_related("point", "service", "citizen", "resident"), user, "view")


def follow_up_task_list(*, user, open_only: bool = True) -> QuerySet:
    tasks = scope(FollowUpTask.objects.select_related("plan__point", "plan__citizen", "booking__slot"), user, "view")
    return tasks.filter(done_at__isnull=True) if open_only else tasks


def department_availability(*, department: Department, first: date, last: date) -> list[dict]:
    """Free places per day and service of a department, from `first` to `last` (inclusive), in one
    aggregate over the (service, start) index: [{"day", "service_id", "slots", "free"}]."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(first, time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    rows = (Slot.objects.filter(service__department=department, start__gte=start, start__lt=end, closed=False)
            .annotate(day=TruncDate("start", tzinfo=tz)).values("day", "service_id").order_by("day", "service_id")
            .annotate(slots=Count("id"),
                      places=Coalesce(Sum(Greatest(F("capacity") - F("booked"), Value(0))), Value(0))))
    # "places", not "free": a slot's own property is called free.
    return [{"day": row["day"], "service_id": row["service_id"], "slots": row["slots"], "free": row["places"]}
            for row in rows]
