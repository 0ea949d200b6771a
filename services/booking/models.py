"""Appointment booking: service points in the grid tree, their services and resources, slots made from
weekly templates, and the bookings citizens make of them.

The database keeps the promises (see ../shared/services.md, C1):
- a slot's ``booked`` never leaves 0..capacity (a CHECK constraint; services claim a place with one
  conditional UPDATE in the same transaction as the booking's insert);
- one person (the citizen, or one family member of theirs) holds at most one place in a slot (a partial
  unique index over the statuses that hold a place);
- a template or a slot is unique per resource and start.

A service point, and every slot, carries its grid node's path (``node_path``, rewritten by
grid.services.node_move) so a staff grant on a subtree covers the points below it, in one index range.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from grid.fields import GridPathField
from grid.models import GridNode, Resident

__all__ = [
    "ACTIVE_STATUSES",
    "SEAT_STATUSES",
    "Booking",
    "BookingBlock",
    "BookingStatus",
    "CancelReason",
    "Closure",
    "Department",
    "FollowUpPlan",
    "FollowUpTask",
    "PointKind",
    "Resource",
    "ResourceKind",
    "ScheduleException",
    "ScheduleTemplate",
    "Service",
    "ServicePoint",
    "Slot",
    "WaitlistEntry",
    "WaitlistStatus",
    "new_reference",
]


class PointKind(models.TextChoices):
    HOSPITAL = "hospital", _("hospital")
    HEALTH_CENTRE = "health_centre", _("community health centre")
    SERVICE_HALL = "service_hall", _("government service hall")


class ServicePoint(models.Model):
    """A hospital, a community health centre or a government service hall, placed at a grid node."""

    kind = models.CharField(_("kind"), max_length=20, choices=PointKind.choices)
    name = models.CharField(_("name"), max_length=100)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    node = models.ForeignKey(GridNode, verbose_name=_("grid node"), on_delete=models.PROTECT,
                             related_name="service_points")
    node_path = GridPathField(max_length=255, editable=False)
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(pgettext_lazy("booking", "phone number"), max_length=20, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service point")
        verbose_name_plural = _("service points")
        ordering = ["name"]
        indexes = [models.Index(fields=["node_path", "id"], name="booking_point_path")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.node_path = self.node.path
        super().save(*args, **kwargs)


class Department(models.Model):
    """A clinical department of a hospital (cardiology) or a section of a service hall."""

    point = models.ForeignKey(ServicePoint, verbose_name=_("service point"), on_delete=models.CASCADE,
                              related_name="departments")
    name = models.CharField(_("name"), max_length=100)
    code = models.SlugField(_("code"), max_length=50)

    class Meta:
        verbose_name = pgettext_lazy("booking", "department")
        verbose_name_plural = pgettext_lazy("booking", "departments")
        ordering = ["point", "name"]
        constraints = [models.UniqueConstraint(fields=["point", "code"], name="booking_department_code_once")]

    def __str__(self):
        return f"{self.point} · {self.name}"


class Service(models.Model):
    """What can be booked: an expert consultation, a passport application."""

    point = models.ForeignKey(ServicePoint, verbose_name=_("service point"), on_delete=models.CASCADE,
                              related_name="services")
    department = models.ForeignKey(Department, verbose_name=pgettext_lazy("booking", "department"),
                                   on_delete=models.PROTECT, related_name="services", null=True, blank=True)
    name = models.CharField(_("name"), max_length=100)
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=15)
    # The visit fee billed after an attended visit (see the doctor first, pay later); none: free.
    fee = models.DecimalField(_("visit fee"), max_digits=10, decimal_places=2, null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["point", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(fee__isnull=True) | Q(fee__gte=0),
                                   name="booking_service_fee_not_negative"),
            models.CheckConstraint(condition=Q(duration_minutes__gte=1), name="booking_service_duration_positive"),
        ]

    def __str__(self):
        return self.name


class ResourceKind(models.TextChoices):
    EXPERT = "expert", _("expert")
    COUNTER = "counter", _("counter")


class Resource(models.Model):
    """Who or what serves a booking: an expert (a doctor) or a counter of a service hall."""

    point = models.ForeignKey(ServicePoint, verbose_name=_("service point"), on_delete=models.CASCADE,
                              related_name="resources")
    department = models.ForeignKey(Department, verbose_name=pgettext_lazy("booking", "department"),
                                   on_delete=models.PROTECT, related_name="resources", null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ResourceKind.choices)
    name = models.CharField(_("name"), max_length=100)
    title = models.CharField(_("title"), max_length=50, blank=True)  # 主任医师, 一号窗口
    services = models.ManyToManyField(Service, verbose_name=_("services"), related_name="resources", blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("resource")
        verbose_name_plural = _("resources")
        ordering = ["point", "name"]

    def __str__(self):
        return f"{self.name} ({self.title})" if self.title else self.name


class ScheduleTemplate(models.Model):
    """A weekly opening of a resource for a service: every <weekday>, start to end, slots of slot_minutes
    with capacity places each. Slots are generated from these, minus closures and non-working days."""

    resource = models.ForeignKey(Resource, verbose_name=_("resource"), on_delete=models.CASCADE,
                                 related_name="templates")
    service = models.ForeignKey(Service, verbose_name=_("service"), on_delete=models.CASCADE, related_name="templates")
    weekday = models.PositiveSmallIntegerField(
        _("weekday"), choices=[(0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")),
                               (4, _("Friday")), (5, _("Saturday")), (6, _("Sunday"))])
    start = models.TimeField(_("start"))
    end = models.TimeField(_("end"))
    slot_minutes = models.PositiveSmallIntegerField(_("slot length (minutes)"), default=30)
    capacity = models.PositiveSmallIntegerField(_("capacity per slot"), default=1)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("schedule template")
        verbose_name_plural = _("schedule templates")
        ordering = ["resource", "weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="booking_template_end_after_start"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="booking_template_weekday"),
            models.CheckConstraint(condition=Q(slot_minutes__gte=1), name="booking_template_slot_positive"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="booking_template_capacity_positive"),
            models.UniqueConstraint(fields=["resource", "weekday", "start"], name="booking_template_once"),
        ]

    def __str__(self):
        return f"{self.resource} · {self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class Closure(models.Model):
    """A schedule exception: the point (or one resource of it) is closed from starts to ends. Slots in it
    are not generated, and those that exist are closed, their bookings cancelled (services.closure_create)."""

    point = models.ForeignKey(ServicePoint, verbose_name=_("service point"), on_delete=models.CASCADE,
                              related_name="closures")
    resource = models.ForeignKey(Resource, verbose_name=_("resource"), on_delete=models.CASCADE,
                                 related_name="closures", null=True, blank=True)  # none: the whole point
    starts = models.DateTimeField(_("starts"))
    ends = models.DateTimeField(_("ends"))
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT,
                                   related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Set by services.closure_create: how many bookings the closure cancelled (not stored).
    cancelled_count: int = 0

    class Meta:
        verbose_name = _("closure")
        verbose_name_plural = _("closures")
        ordering = ["-starts"]
        constraints = [
            models.CheckConstraint(condition=Q(ends__gt=F("starts")), name="booking_closure_ends_after_starts"),
        ]
        indexes = [models.Index(fields=["point", "starts", "ends"], name="booking_closure_point")]

    def __str__(self):
        return f"{self.resource or self.point} · {self.starts:%Y-%m-%d %H:%M} · {self.reason}"


ScheduleException = Closure


class Slot(models.Model):
    """One bookable time of a resource for a service, with its places: ``booked`` counts the places held,
    booked, checked in, attended or missed; cancelling frees one."""

    point = models.ForeignKey(ServicePoint, verbose_name=_("service point"), on_delete=models.CASCADE,
                              related_name="slots")
    node_path = GridPathField(max_length=255, editable=False)
    resource = models.ForeignKey(Resource, verbose_name=_("resource"), on_delete=models.CASCADE, related_name="slots")
    service = models.ForeignKey(Service, verbose_name=_("service"), on_delete=models.CASCADE, related_name="slots")
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    capacity = models.PositiveSmallIntegerField(_("capacity"))
    booked = models.PositiveSmallIntegerField(_("booked"), default=0)
    closed = models.BooleanField(pgettext_lazy("booking", "closed"), default=False)  # by a closure: not bookable

    class Meta:
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(booked__gte=0) & Q(booked__lte=F("capacity")),
                                   name="booking_slot_booked_within_capacity"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="booking_slot_end_after_start"),
            models.UniqueConstraint(fields=["resource", "start"], name="booking_slot_resource_start"),
        ]
        indexes = [
            models.Index(fields=["service", "start"], name="booking_slot_service_start"),
            models.Index(fields=["point", "start"], name="booking_slot_point_start"),
            models.Index(fields=["node_path", "start"], name="booking_slot_path_start"),
        ]

    def __str__(self):
        return f"{self.resource} · {self.start:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        self.node_path = self.point.node_path
        super().save(*args, **kwargs)

    @property
    def free(self) -> int:
        return 0 if self.closed else max(self.capacity - self.booked, 0)


class BookingStatus(models.TextChoices):
    HELD = "held", _("held")
    BOOKED = "booked", _("booked")
    CHECKED_IN = "checked_in", _("checked in")
    ATTENDED = "attended", _("attended")
    NO_SHOW = "no_show", _("no-show")
    CANCELLED = "cancelled", _("cancelled")


# The statuses that take a place of the slot (everything but cancelled) and those still to come.
SEAT_STATUSES = (BookingStatus.HELD, BookingStatus.BOOKED, BookingStatus.CHECKED_IN, BookingStatus.ATTENDED,
                 BookingStatus.NO_SHOW)
ACTIVE_STATUSES = (BookingStatus.HELD, BookingStatus.BOOKED, BookingStatus.CHECKED_IN)


class CancelReason(models.TextChoices):
    CITIZEN = "citizen", _("cancelled by the citizen")
    STAFF = "staff", _("cancelled by staff")
    CLOSURE = "closure", _("the service point is closed")
    HOLD_EXPIRED = "hold_expired", _("the hold expired")


# Short references read out at a desk: no 0/O, 1/I/L.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class Booking(models.Model):
    """A citizen's place in a slot, for themselves or a family member: held → booked → checked in →
    attended | no-show | cancelled. Rescheduling moves it to another slot (same row, ``sequence`` + 1)."""

    reference = models.CharField(pgettext_lazy("booking", "reference"), max_length=12, unique=True,
                                 default=new_reference, editable=False)
    citizen = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("citizen"), on_delete=models.PROTECT,
                                related_name="bookings")
    slot = models.ForeignKey(Slot, verbose_name=_("slot"), on_delete=models.PROTECT, related_name="bookings")
    # For a family member: their name and masked ID number; ``person_key`` tells people apart in the
    # one-booking-per-person index ("" is the citizen themselves, else a keyed hash of the ID number).
    family_member_name = models.CharField(_("family member"), max_length=50, blank=True)
    family_member_id_masked = models.CharField(_("family member's ID number"), max_length=18, blank=True)
    person_key = models.CharField(max_length=64, blank=True, default="", editable=False)
    status = models.CharField(_("status"), max_length=12, choices=BookingStatus.choices, default=BookingStatus.BOOKED)
    hold_expires_at = models.DateTimeField(_("hold expires at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=20, choices=CancelReason.choices, blank=True)
    sequence = models.PositiveIntegerField(_("iCalendar sequence"), default=0)  # bumped on every reschedule
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    booked_at = models.DateTimeField(_("booked at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    visit_result = models.TextField(_("visit result"), blank=True)
    visit_result_at = models.DateTimeField(_("visit result recorded at"), null=True, blank=True)
    visit_fee = models.DecimalField(_("visit fee"), max_digits=10, decimal_places=2, null=True, blank=True)
    bill_reference = models.CharField(_("bill reference"), max_length=64, blank=True)  # billing's, once issued
    # Reminders, each sent once (the beat task sets these in the transaction that queues the notice).
    reminded_day_before_at = models.DateTimeField(null=True, blank=True, editable=False)
    reminded_soon_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The Idempotency-Key of the POST that made it: a second copy answers with this booking.
    client_key = models.UUIDField(null=True, blank=True, editable=False)
    follow_up_plan = models.ForeignKey("FollowUpPlan", verbose_name=_("follow-up plan"), on_delete=models.SET_NULL,
                                       related_name="bookings", null=True, blank=True)

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["slot", "citizen", "person_key"], condition=Q(status__in=SEAT_STATUSES),
                                    name="booking_one_per_person_and_slot"),
            models.UniqueConstraint(fields=["citizen", "client_key"], condition=Q(client_key__isnull=False),
                                    name="booking_client_key_once"),
            models.CheckConstraint(condition=Q(visit_fee__isnull=True) | Q(visit_fee__gte=0),
                                   name="booking_visit_fee_not_negative"),
            models.CheckConstraint(condition=~Q(status=BookingStatus.HELD) | Q(hold_expires_at__isnull=False),
                                   name="booking_held_expires"),
        ]
        indexes = [
            models.Index(fields=["citizen", "-created_at"], name="booking_citizen_created"),
            models.Index(fields=["slot", "status"], name="booking_slot_status"),
            models.Index(fields=["hold_expires_at"], condition=Q(status=BookingStatus.HELD), name="booking_held_due"),
            models.Index(fields=["citizen", "status", "updated_at"], name="booking_citizen_status"),
        ]

    def __str__(self):
        return self.reference

    @property
    def for_family_member(self) -> bool:
        return bool(self.family_member_name)


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", pgettext_lazy("booking", "waiting")
    OFFERED = "offered", _("offered a place")
    BOOKED = "booked", _("booked")
    LAPSED = "lapsed", _("offer lapsed")
    LEFT = "left", _("left the waitlist")


class WaitlistEntry(models.Model):
    """A citizen waiting for a place in a full slot; first come, first served (by id)."""

    slot = models.ForeignKey(Slot, verbose_name=_("slot"), on_delete=models.CASCADE, related_name="waitlist")
    citizen = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("citizen"), on_delete=models.CASCADE,
                                related_name="waitlist_entries")
    status = models.CharField(_("status"), max_length=10, choices=WaitlistStatus.choices,
                              default=WaitlistStatus.WAITING)
    created_at = models.DateTimeField(_("joined at"), auto_now_add=True)
    offered_until = models.DateTimeField(_("offered until"), null=True, blank=True)
    booking = models.ForeignKey(Booking, verbose_name=_("booking"), on_delete=models.SET_NULL, related_name="+",
                                null=True, blank=True)  # the held booking of the offer

    class Meta:
        verbose_name = _("waitlist entry")
        verbose_name_plural = _("waitlist entries")
        ordering = ["slot", "id"]
        constraints = [
            models.UniqueConstraint(fields=["slot", "citizen"],
                                    condition=Q(status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
                                    name="booking_waitlist_once_per_slot"),
        ]
        indexes = [models.Index(fields=["slot", "status", "id"], name="booking_waitlist_line")]

    def __str__(self):
        return f"{self.citizen} · {self.slot}"


class BookingBlock(models.Model):
    """Online booking refused to a citizen until ``until`` (after too many no-shows); staff may lift it."""

    citizen = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("citizen"), on_delete=models.CASCADE,
                                related_name="booking_blocks")
    reason = models.CharField(_("reason"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    until = models.DateTimeField(_("until"))
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("lifted by"), on_delete=models.PROTECT,
                                  related_name="+", null=True, blank=True)

    class Meta:
        verbose_name = _("booking block")
        verbose_name_plural = _("booking blocks")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["citizen", "until"], name="booking_block_citizen_until")]

    def __str__(self):
        return f"{self.citizen} · {self.until:%Y-%m-%d}"


class FollowUpPlan(models.Model):
    """A community health centre's plan for a chronic patient: an appointment every N weeks."""

    point = models.ForeignKey(ServicePoint, verbose_name=_("community health centre"), on_delete=models.CASCADE,
                              related_name="follow_up_plans", limit_choices_to={"kind": PointKind.HEALTH_CENTRE})
    service = models.ForeignKey(Service, verbose_name=_("service"), on_delete=models.PROTECT, related_name="+")
    citizen = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("citizen"), on_delete=models.PROTECT,
                                related_name="follow_up_plans")  # whose account the appointments are booked on
    resident = models.ForeignKey(Resident, verbose_name=_("resident"), on_delete=models.SET_NULL, related_name="+",
                                 null=True, blank=True)
    every_weeks = models.PositiveSmallIntegerField(_("every (weeks)"))
    next_due = models.DateField(_("next due"))
    active = models.BooleanField(_("active"), default=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT,
                                   related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow-up plan")
        verbose_name_plural = _("follow-up plans")
        ordering = ["next_due", "id"]
        constraints = [models.CheckConstraint(condition=Q(every_weeks__gte=1), name="booking_plan_every_positive")]
        indexes = [models.Index(fields=["next_due"], condition=Q(active=True), name="booking_plan_due")]

    def __str__(self):
        return f"{self.citizen} · {self.point} · {self.every_weeks}w"


class FollowUpTask(models.Model):
    """A missed follow-up appointment, for the community's staff to chase."""

    plan = models.ForeignKey(FollowUpPlan, verbose_name=_("follow-up plan"), on_delete=models.CASCADE,
                             related_name="tasks")
    booking = models.OneToOneField(Booking, verbose_name=_("booking"), on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("done by"), on_delete=models.PROTECT,
                                related_name="+", null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["done_at", "-created_at"]

    def __str__(self):
        return f"{self.plan} · {self.booking}"
