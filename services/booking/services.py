"""Writes of appointment booking. Every multi-row write is one transaction, and the database keeps the
promises (services.booking.models):

- a place is claimed by one conditional UPDATE (``booked = booked + 1 WHERE booked < capacity``) in the
  transaction that inserts the booking, so a slot is never overbooked and a failed insert gives the
  place back with the rollback;
- a place is freed only by the transaction that moves its booking out of held/booked, under the
  booking's row lock, so it is freed exactly once;
- a reschedule claims the new place and frees the old one in one transaction: if the claim fails,
  nothing changed;
- every write that takes or frees a place locks in one order, slot rows by id and then booking rows
  (``_locked_with_slots``), so crossing reschedules, cancellations, expiring holds and closures wait
  for each other instead of deadlocking.

``actor`` is the user doing it (permissions through grid.permissions: the citizen owns their bookings,
staff manage what lies at the service points of their subtrees); None is the system (beat tasks).
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civic.audit import audit_record
from civic.errors import AlreadyDone, ConflictError
from civic.notices import notice_queue, notices_queue
from civic.workcal import load_overrides
from grid.idnumbers import id_number_hash, mask_id_number, validate_id_number
from grid.models import Post
from grid.permissions import can, grant_paths, require
from partners.webhooks import publish_many
from services.billing.services import visit_bill_issue
from services.booking.apps import MANAGE
from services.booking.models import (
    SEAT_STATUSES,
    Booking,
    BookingBlock,
    BookingStatus,
    CancelReason,
    Closure,
    FollowUpPlan,
    FollowUpTask,
    PointKind,
    Resource,
    ScheduleTemplate,
    Service,
    ServicePoint,
    Slot,
    WaitlistEntry,
    WaitlistStatus,
)

__all__ = [
    "AlreadyBooked",
    "AlreadyWaiting",
    "BookingBlocked",
    "CutOffPassed",
    "FamilyMember",
    "HoldExpired",
    "InvalidStatus",
    "SlotFull",
    "SlotHasPlaces",
    "active_block",
    "block_lift",
    "booking_cancel",
    "booking_confirm",
    "booking_create",
    "booking_reschedule",
    "check_in",
    "closure_create",
    "follow_up_plan_create",
    "follow_up_task_done",
    "follow_ups_schedule",
    "holds_expire",
    "next_free_slots",
    "no_show_mark",
    "no_shows_mark_due",
    "reminders_send",
    "slot_capacity_set",
    "slots_generate",
    "visit_result_record",
    "waitlist_join",
    "waitlist_leave",
    "working_days_ahead",
]

logger = logging.getLogger(__name__)

HOLDING = (BookingStatus.HELD, BookingStatus.BOOKED)  # what a cancellation (and a reschedule) applies to


#
# Errors (civic.api.errors maps ConflictError to 409, ValidationError to 400, PermissionDenied to 403)
#


class SlotFull(ConflictError):
    """No place left (or the slot closed meanwhile): ``suggestions`` are the next free slots of the service."""

    message = gettext_lazy("This slot is full.")

    def __init__(self, suggestions: list[Slot]):
        super().__init__(str(self.message))
        self.suggestions = suggestions


class AlreadyBooked(ConflictError):
    message = gettext_lazy("This person already has a booking in this slot.")


class AlreadyWaiting(ConflictError):
    message = gettext_lazy("You are already on this slot's waitlist.")


class SlotHasPlaces(ConflictError):
    message = gettext_lazy("This slot still has free places: book it instead of joining the waitlist.")


class InvalidStatus(ConflictError):
    message = gettext_lazy("The booking's status does not allow this.")


class HoldExpired(ConflictError):
    message = gettext_lazy("The hold expired and the place was released: book again.")


class CutOffPassed(ConflictError):
    message = gettext_lazy("It is too late to change this booking online: please contact the service point.")


class BookingBlocked(PermissionDenied):
    """Online booking is blocked for the citizen (too many no-shows) until ``until``."""

    def __init__(self, until: datetime):
        local = timezone.localtime(until)
        super().__init__(_("Online booking is blocked until %(until)s after repeated no-shows; the service point "
                           "can lift the block.") % {"until": local.strftime("%Y-%m-%d %H:%M")})
        self.until = until


#
# Helpers
#


def _now() -> datetime:
    return timezone.now()


def _system(actor) -> bool:
    return actor is None


def _manages(actor, obj) -> bool:
    """Staff (or the system) managing the object's service point, rather than its owner."""
    return _system(actor) or can(actor, "manage", obj)


def _require(actor, action: str, obj) -> None:
    if not _system(actor):
        require(actor, action, obj)


def _claim(slot_id: int) -> bool:
    """Take one place of an open slot that has not started: one conditional UPDATE (which also locks the
    slot's row until the transaction ends)."""
    return Slot.objects.filter(pk=slot_id, closed=False, start__gt=_now(), booked__lt=F("capacity")).update(
        booked=F("booked") + 1) == 1


def _release(slot_id: int) -> None:
    Slot.objects.filter(pk=slot_id, booked__gt=0).update(booked=F("booked") - 1)


def next_free_slots(slot: Slot, limit: int | None = None) -> list[Slot]:
    """The next slots of the same service with a free place, from the requested slot's start on."""
    limit = limit or settings.BOOKING_SUGGESTIONS
    return list(
        Slot.objects.filter(service_id=slot.service_id, closed=False, booked__lt=F("capacity"),
                            start__gte=max(slot.start, _now()))
        .exclude(pk=slot.pk).select_related("resource").order_by("start", "id")[:limit]
    )


def active_block(citizen) -> BookingBlock | None:
    return (BookingBlock.objects.filter(citizen=citizen, lifted_at__isnull=True, until__gt=_now())
            .order_by("-until").first())


def _check_bookable(slot: Slot) -> None:
    if slot.start <= _now():
        raise ValidationError({"slot": [_("This slot has already started or passed.")]}, code="slot_past")
    if slot.closed or not slot.point.active:
        raise ValidationError({"slot": [_("This slot is closed.")]}, code="slot_closed")


def _point_context(slot: Slot) -> dict:
    start = timezone.localtime(slot.start)
    return {"point": slot.point.name, "service": slot.service.name, "resource": str(slot.resource),
            "start": start.strftime("%Y-%m-%d %H:%M")}


def _notify(booking: Booking, template: str, key: str, **extra) -> None:
    context = {"reference": booking.reference, "person": booking.family_member_name, **_point_context(booking.slot),
               **extra}
    notice_queue(recipient=booking.citizen, template=f"booking/{template}", context=context,
                 dedupe_key=f"booking:{booking.pk}:{key}")


def _publish(bookings: Iterable[Booking]) -> None:
    """booking.changed for partners' webhooks: ids and the state only (no personal data)."""
    publish_many("booking.changed", [
        ({"id": b.pk, "reference": b.reference, "status": b.status, "slot": b.slot_id, "point": b.slot.point_id},
         b.slot.node_path)
        for b in bookings
    ])


def _audit(actor, action: str, booking: Booking, **detail) -> None:
    if not _system(actor) and actor.pk != booking.citizen_id:
        audit_record(actor=actor, action=f"booking.{action}", target=booking, summary=booking.reference,
                     detail=detail)


def _locked(booking: Booking) -> Booking:
    """The booking under its row lock (for changes that free or take no place)."""
    return Booking.objects.select_for_update(of=("self",)).select_related(
        "slot__point", "slot__service", "slot__resource", "citizen").get(pk=booking.pk)


def _lock_slots(slot_ids) -> None:
    list(Slot.objects.select_for_update().filter(pk__in=set(slot_ids)).order_by("id").values_list("id", flat=True))


def _locked_with_slots(booking: Booking, *more_slots: int) -> Booking:
    """The booking under its row lock, after the rows of its slot and of `more_slots`, in id order.

    Every write that frees or takes a place locks in that one order: slots by id, then bookings (a claim
    locks its slot before the booking is inserted; a closure its slots before their bookings), so two
    of them never wait on each other in a cycle. Should a reschedule have moved the booking between the
    read of its slot and the lock, its new slot is locked as well and the booking read again."""
    slot_id = Booking.objects.values_list("slot_id", flat=True).get(pk=booking.pk)
    _lock_slots([slot_id, *more_slots])
    while True:
        locked = _locked(booking)
        if locked.slot_id == slot_id:
            return locked
        slot_id = locked.slot_id
        _lock_slots([slot_id])


def _person_key(id_number: str) -> str:
    return id_number_hash(id_number) if id_number else ""


#
# Booking
#


@dataclass(frozen=True)
class FamilyMember:
    name: str
    id_number: str


def booking_create(
    *, actor, slot: Slot, hold: bool = False, family_member: FamilyMember | None = None,
    client_key: uuid.UUID | None = None, citizen=None, follow_up_plan: FollowUpPlan | None = None,
) -> Booking:
    """Book a place in `slot` for the actor (or a family member of theirs), at once or held for
    BOOKING_HOLD_MINUTES until booking_confirm. ``citizen`` is for staff and the system booking on a
    citizen's behalf (a follow-up): then the no-show block does not apply.

    Raises ValidationError (a slot past or closed, a bad family member), BookingBlocked, AlreadyBooked,
    SlotFull (with the next free slots), or AlreadyDone (the same Idempotency-Key: the first booking)."""
    on_behalf = citizen is not None
    if on_behalf:
        _require(actor, "manage", slot)
    else:
        citizen = actor
        if not actor or not actor.is_authenticated:
            raise PermissionDenied
    if client_key is not None:
        AlreadyDone.raise_if_stored(Booking.objects.filter(citizen=citizen, client_key=client_key))
    name, id_number = _family_member(family_member)
    person_key = _person_key(id_number)
    _check_bookable(slot)
    if not on_behalf and (block := active_block(citizen)) is not None:
        raise BookingBlocked(block.until)
    if Booking.objects.filter(slot=slot, citizen=citizen, person_key=person_key,
                              status__in=SEAT_STATUSES).exists():
        _raise_already_booked(citizen, client_key)
    now = _now()
    booking = Booking(
        citizen=citizen, slot=slot, family_member_name=name,
        family_member_id_masked=mask_id_number(id_number) if id_number else "", person_key=person_key,
        status=BookingStatus.HELD if hold else BookingStatus.BOOKED,
        hold_expires_at=now + timedelta(minutes=settings.BOOKING_HOLD_MINUTES) if hold else None,
        booked_at=None if hold else now, client_key=client_key, follow_up_plan=follow_up_plan,
    )
    try:
        with transaction.atomic():
            if not _claim(slot.pk):
                raise SlotFull(next_free_slots(slot))
            booking.save(force_insert=True)
            if not hold:
                _notify(booking, "booking_confirmed", f"confirmed:{booking.sequence}")
            _publish([booking])
            _audit(actor, "create", booking)
    except IntegrityError:
        # A parallel copy won: the same Idempotency-Key (replay it), or the same person in the slot.
        _raise_already_booked(citizen, client_key)
    return booking


def _raise_already_booked(citizen, client_key: uuid.UUID | None):
    """The person is in the slot already: if by a copy of this very request (its Idempotency-Key,
    committed meanwhile by a parallel request), that is a replay, not a refusal."""
    if client_key is not None:
        AlreadyDone.raise_if_stored(Booking.objects.filter(citizen=citizen, client_key=client_key))
    raise AlreadyBooked


def _family_member(member: FamilyMember | None) -> tuple[str, str]:
    if member is None:
        return "", ""
    name, number = (member.name or "").strip(), (member.id_number or "").strip().upper()
    errors = {}
    if not name:
        errors["family_member"] = [_("Give the family member's name.")]
    if not number:
        errors.setdefault("family_member", []).append(_("Give the family member's ID card number."))
    else:
        try:
            validate_id_number(number)
        except ValidationError as exc:
            errors.setdefault("family_member", []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    return name, number


def booking_confirm(*, actor, booking: Booking) -> Booking:
    """Turn a held place into a booking, while the hold lasts. Confirming a booked one is a no-op."""
    _require(actor, "confirm", booking)
    with transaction.atomic():
        booking = _locked(booking)
        if booking.status == BookingStatus.BOOKED:
            return booking
        if booking.status != BookingStatus.HELD:
            raise HoldExpired if booking.cancel_reason == CancelReason.HOLD_EXPIRED else InvalidStatus
        if booking.hold_expires_at is None or booking.hold_expires_at <= _now():
            raise HoldExpired
        booking.status, booking.booked_at = BookingStatus.BOOKED, _now()
        booking.save(update_fields=["status", "booked_at", "updated_at"])
        WaitlistEntry.objects.filter(booking=booking, status=WaitlistStatus.OFFERED).update(
            status=WaitlistStatus.BOOKED)
        _notify(booking, "booking_confirmed", f"confirmed:{booking.sequence}")
        _publish([booking])
    return booking


def _check_cut_off(actor, booking: Booking) -> None:
    """Citizens change a booking online until the cut-off before its start; staff (and the system) always."""
    if _manages(actor, booking) or booking.status == BookingStatus.HELD:
        return
    cut_off = booking.slot.start - timedelta(hours=settings.BOOKING_CANCEL_CUTOFF_HOURS)
    if _now() >= cut_off:
        raise CutOffPassed


def booking_cancel(*, actor, booking: Booking, reason: str | None = None) -> Booking:
    """Cancel a held or booked booking and free its place, exactly once (under the booking's row lock);
    the place is offered to the first in the slot's waitlist. Cancelling a cancelled booking is a no-op."""
    _require(actor, "cancel", booking)
    with transaction.atomic():
        booking = _locked_with_slots(booking)
        if booking.status == BookingStatus.CANCELLED:
            return booking
        if booking.status not in HOLDING:
            raise InvalidStatus
        _check_cut_off(actor, booking)
        if reason is None:
            own = not _system(actor) and actor.pk == booking.citizen_id
            reason = CancelReason.CITIZEN if own else CancelReason.STAFF
        _cancel_locked(booking, reason)
        _audit(actor, "cancel", booking, reason=reason)
    return booking


def _cancel_locked(booking: Booking, reason: str, *, offer: bool = True, notify: bool = True) -> None:
    was_held = booking.status == BookingStatus.HELD
    booking.status, booking.cancel_reason, booking.cancelled_at = BookingStatus.CANCELLED, reason, _now()
    booking.save(update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"])
    _release(booking.slot_id)
    offered = WaitlistEntry.objects.filter(booking=booking, status=WaitlistStatus.OFFERED)
    offered.update(status=WaitlistStatus.LAPSED if reason == CancelReason.HOLD_EXPIRED else WaitlistStatus.LEFT)
    if notify and not (was_held and reason == CancelReason.CITIZEN):
        _notify(booking, "booking_cancelled", f"cancelled:{booking.sequence}",
                reason=booking.get_cancel_reason_display())
    _publish([booking])
    if offer:
        _offer_places(booking.slot)


def booking_reschedule(*, actor, booking: Booking, slot: Slot) -> Booking:
    """Move a booking to another slot of the same service: the new place is claimed before the old one is
    freed, in one transaction; if the new slot is full (SlotFull, with suggestions) nothing changed."""
    _require(actor, "reschedule", booking)
    if slot.service_id != booking.slot.service_id:
        raise ValidationError({"slot": [_("A booking can only move to a slot of the same service.")]})
    if slot.pk == booking.slot_id:
        raise ValidationError({"slot": [_("The booking is already in this slot.")]})
    _check_bookable(slot)
    with transaction.atomic():
        booking = _locked_with_slots(booking, slot.pk)
        if booking.status not in HOLDING:
            raise InvalidStatus
        _check_cut_off(actor, booking)
        if Booking.objects.filter(slot=slot, citizen_id=booking.citizen_id, person_key=booking.person_key,
                                  status__in=SEAT_STATUSES).exists():
            raise AlreadyBooked
        old_slot = booking.slot
        # Both slot rows are locked already (in id order): the new place is claimed first, and a full
        # slot raises before anything changed.
        if not _claim(slot.pk):
            raise SlotFull(next_free_slots(slot))
        _release(old_slot.pk)
        booking.slot, booking.sequence = slot, booking.sequence + 1
        booking.reminded_day_before_at = booking.reminded_soon_at = None
        try:
            with transaction.atomic():
                booking.save(update_fields=["slot", "sequence", "reminded_day_before_at", "reminded_soon_at",
                                            "updated_at"])
        except IntegrityError:
            raise AlreadyBooked from None
        booking.slot = Slot.objects.select_related("point", "service", "resource").get(pk=slot.pk)
        if booking.status == BookingStatus.BOOKED:
            _notify(booking, "booking_rescheduled", f"rescheduled:{booking.sequence}",
                    previous=timezone.localtime(old_slot.start).strftime("%Y-%m-%d %H:%M"))
        _publish([booking])
        _audit(actor, "reschedule", booking, from_slot=old_slot.pk, to_slot=slot.pk)
        _offer_places(old_slot)
    return booking


def holds_expire(*, now: datetime | None = None, batch: int = 500) -> int:
    """Cancel the held bookings whose hold lapsed (beat task): their places go back, or on to the next in
    the waitlist. One transaction per booking, re-checked under its locks: one confirmed meanwhile stays."""
    now = now or _now()
    done = 0
    due = list(Booking.objects.filter(status=BookingStatus.HELD, hold_expires_at__lte=now)
               .order_by("hold_expires_at", "id").values_list("pk", flat=True)[:batch])
    for pk in due:
        with transaction.atomic():
            booking = _locked_with_slots(Booking(pk=pk))
            expires = booking.hold_expires_at
            if booking.status == BookingStatus.HELD and expires is not None and expires <= now:
                _cancel_locked(booking, CancelReason.HOLD_EXPIRED)
                done += 1
    return done


#
# Waitlist
#


def waitlist_join(*, actor, slot: Slot) -> WaitlistEntry:
    """Join a full slot's waitlist (first come, first served)."""
    if not actor or not actor.is_authenticated:
        raise PermissionDenied
    slot.refresh_from_db(fields=["booked", "capacity", "closed"])
    _check_bookable(slot)
    if (block := active_block(actor)) is not None:
        raise BookingBlocked(block.until)
    if slot.booked < slot.capacity:
        raise SlotHasPlaces
    if Booking.objects.filter(slot=slot, citizen=actor, person_key="", status__in=SEAT_STATUSES).exists():
        raise AlreadyBooked
    try:
        with transaction.atomic():
            return WaitlistEntry.objects.create(slot=slot, citizen=actor)
    except IntegrityError:
        raise AlreadyWaiting from None


def waitlist_leave(*, actor, entry: WaitlistEntry) -> WaitlistEntry:
    """Leave the waitlist; a place offered and still held is given back (and offered to the next)."""
    _require(actor, "leave", entry)
    with transaction.atomic():
        # The slot first (the order of every write that frees a place), then the offer's booking, then the entry.
        _lock_slots([entry.slot_id])
        booking_id = WaitlistEntry.objects.values_list("booking_id", flat=True).get(pk=entry.pk)
        booking = _locked(Booking(pk=booking_id)) if booking_id else None
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.status == WaitlistStatus.WAITING:
            entry.status = WaitlistStatus.LEFT
            entry.save(update_fields=["status"])
        elif entry.status == WaitlistStatus.OFFERED and booking is not None:
            if booking.status == BookingStatus.HELD:
                _cancel_locked(booking, CancelReason.CITIZEN)
            entry.refresh_from_db()
    return entry


def _offer_places(slot: Slot) -> None:
    """Offer the slot's free places to the first in its waitlist, each as a held booking for
    BOOKING_WAITLIST_OFFER_MINUTES; a lapsed hold (holds_expire) passes the place on to the next.
    Runs in the transaction that freed the place (which holds the slot's row lock)."""
    if slot.closed or slot.start <= _now():
        return
    while True:
        entry = (WaitlistEntry.objects.select_for_update(skip_locked=True)
                 .filter(slot_id=slot.pk, status=WaitlistStatus.WAITING).select_related("citizen")
                 .order_by("id").first())
        if entry is None:
            return
        if active_block(entry.citizen) is not None or Booking.objects.filter(
                slot_id=slot.pk, citizen=entry.citizen, person_key="", status__in=SEAT_STATUSES).exists():
            entry.status = WaitlistStatus.LAPSED
            entry.save(update_fields=["status"])
            continue
        if not _claim(slot.pk):
            return
        until = _now() + timedelta(minutes=settings.BOOKING_WAITLIST_OFFER_MINUTES)
        booking = Booking.objects.create(citizen=entry.citizen, slot_id=slot.pk, status=BookingStatus.HELD,
                                         hold_expires_at=until)
        booking.slot = Slot.objects.select_related("point", "service", "resource").get(pk=slot.pk)
        entry.status, entry.offered_until, entry.booking = WaitlistStatus.OFFERED, until, booking
        entry.save(update_fields=["status", "offered_until", "booking"])
        _notify(booking, "waitlist_offer", "offer",
                until=timezone.localtime(until).strftime("%Y-%m-%d %H:%M"))
        _publish([booking])


#
# The desk: check-in, no-shows, visit results, blocks, capacity, closures
#


def check_in(*, actor, booking: Booking) -> Booking:
    """The citizen arrived (on the slot's day): booked → checked in."""
    _require(actor, "manage", booking)
    with transaction.atomic():
        booking = _locked(booking)
        if booking.status == BookingStatus.CHECKED_IN:
            return booking
        if booking.status != BookingStatus.BOOKED:
            raise InvalidStatus
        if timezone.localdate(booking.slot.start) != timezone.localdate():
            raise ValidationError(_("A booking is checked in on its day only."))
        booking.status, booking.checked_in_at = BookingStatus.CHECKED_IN, _now()
        booking.save(update_fields=["status", "checked_in_at", "updated_at"])
        _publish([booking])
        _audit(actor, "check_in", booking)
    return booking


def no_show_mark(*, actor, booking: Booking) -> Booking:
    """A booked citizen did not come (only once the slot started; a cancelled booking is never a no-show).
    BOOKING_NO_SHOW_LIMIT no-shows within BOOKING_NO_SHOW_WINDOW_DAYS block online booking; a missed
    follow-up becomes a task for the community's staff."""
    _require(actor, "manage", booking)
    with transaction.atomic():
        booking = _locked(booking)
        if booking.status == BookingStatus.NO_SHOW:
            return booking
        if booking.status != BookingStatus.BOOKED:
            raise InvalidStatus
        if booking.slot.start > _now():
            raise ValidationError(_("A booking becomes a no-show only once its slot has started."))
        booking.status = BookingStatus.NO_SHOW
        booking.save(update_fields=["status", "updated_at"])
        _publish([booking])
        _audit(actor, "no_show", booking)
        _block_if_due(booking.citizen)
        if booking.follow_up_plan_id:
            _follow_up_missed(booking)
    return booking


def no_shows_mark_due(*, now: datetime | None = None, batch: int = 500) -> int:
    """Bookings not checked in BOOKING_NO_SHOW_AFTER_MINUTES after their slot ended become no-shows (beat)."""
    now = now or _now()
    cut = now - timedelta(minutes=settings.BOOKING_NO_SHOW_AFTER_MINUTES)
    due = list(Booking.objects.filter(status=BookingStatus.BOOKED, slot__end__lte=cut).order_by("id")
               .values_list("pk", flat=True)[:batch])
    for pk in due:
        try:
            no_show_mark(actor=None, booking=Booking(pk=pk))
        except InvalidStatus:
            continue  # changed meanwhile
    return len(due)


def _block_if_due(citizen) -> BookingBlock | None:
    since = _now() - timedelta(days=settings.BOOKING_NO_SHOW_WINDOW_DAYS)
    misses = Booking.objects.filter(citizen=citizen, status=BookingStatus.NO_SHOW, slot__start__gte=since).count()
    if misses < settings.BOOKING_NO_SHOW_LIMIT or active_block(citizen) is not None:
        return None
    block = BookingBlock.objects.create(
        citizen=citizen, until=_now() + timedelta(days=settings.BOOKING_BLOCK_DAYS),
        reason=_("%(count)d no-shows in %(days)d days") % {
            "count": misses, "days": settings.BOOKING_NO_SHOW_WINDOW_DAYS},
    )
    notice_queue(recipient=citizen, template="booking/booking_blocked", dedupe_key=f"booking-block:{block.pk}",
                 context={"until": timezone.localtime(block.until).strftime("%Y-%m-%d"), "count": misses})
    return block


def block_lift(*, actor, block: BookingBlock) -> BookingBlock:
    """Staff lift a citizen's block (any desk staff: a block is the citizen's, not a service point's)."""
    if not _system(actor):
        paths = grant_paths(actor, MANAGE)
        if paths is not None and not paths:
            raise PermissionDenied
    lifted = BookingBlock.objects.filter(pk=block.pk, lifted_at__isnull=True).update(
        lifted_at=_now(), lifted_by=actor)
    block.refresh_from_db()
    if lifted:
        audit_record(actor=actor, action="booking.block_lift", target=block, summary=str(block.citizen))
    return block


def visit_result_record(*, actor, booking: Booking, text: str, fee: Decimal | None = None) -> Booking:
    """Record the visit's result (checked in → attended; an attended visit's result may be corrected).
    The fee is the one given, else the service's; with a fee the visit is billed after the fact (see the
    doctor first, pay later) through billing's module API, once per booking."""
    _require(actor, "manage", booking)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": [_("Write the visit's result.")]})
    if fee is not None and fee < 0:
        raise ValidationError({"fee": [_("A fee cannot be negative.")]})
    with transaction.atomic():
        booking = _locked(booking)
        if booking.status not in (BookingStatus.CHECKED_IN, BookingStatus.ATTENDED):
            raise InvalidStatus
        first = booking.status == BookingStatus.CHECKED_IN
        if booking.bill_reference and fee is not None and fee != booking.visit_fee:
            raise ValidationError({"fee": [_("The visit is billed already: its fee cannot change here.")]})
        booking.status, booking.visit_result, booking.visit_result_at = BookingStatus.ATTENDED, text, _now()
        if first or fee is not None:
            booking.visit_fee = fee if fee is not None else booking.slot.service.fee
        booking.save(update_fields=["status", "visit_result", "visit_result_at", "visit_fee", "updated_at"])
        _notify(booking, "visit_result", f"result:{booking.visit_result_at.isoformat()}")
        if first:
            _publish([booking])
        _audit(actor, "visit_result", booking)
        if booking.visit_fee and not booking.bill_reference:
            _visit_bill(booking)
    return booking


def _visit_bill(booking: Booking) -> None:
    """Bill the attended visit's fee among the citizen's bills, through billing's module API (no second
    billing system): the service point is the issuer, the booking's reference the bill's, so issuing is
    idempotent; it runs in the transaction that records the result, so both happen or neither."""
    slot, fee = booking.slot, booking.visit_fee
    if fee is None:  # nothing to bill
        return
    service, point = slot.service, slot.point
    visited = timezone.localtime(slot.start).strftime("%Y-%m-%d %H:%M")
    description = f"{point.name} · {service.name} · {visited}"
    if booking.family_member_name:
        description += f" · {booking.family_member_name}"
    bill = visit_bill_issue(
        citizen=booking.citizen, issuer_code=point.code, issuer_name=point.name, reference=booking.reference,
        description=description, amount=fee,
        due_date=timezone.localdate() + timedelta(days=settings.BOOKING_VISIT_BILL_DUE_DAYS),
        lines=[(f"{service.name} ({slot.resource})", fee)],
    )
    booking.bill_reference = bill.payment_reference
    booking.save(update_fields=["bill_reference", "updated_at"])


def slot_capacity_set(*, actor, slot: Slot, capacity: int) -> Slot:
    """Change a slot's capacity: never below what is booked (one conditional UPDATE; the CHECK constraint
    backs it). More places are offered to the waitlist."""
    _require(actor, "manage", slot)
    if capacity < 1:
        raise ValidationError({"capacity": [_("A slot has at least one place.")]})
    with transaction.atomic():
        if not Slot.objects.filter(pk=slot.pk, booked__lte=capacity).update(capacity=capacity):
            booked = Slot.objects.values_list("booked", flat=True).get(pk=slot.pk)
            raise ValidationError({"capacity": [
                _("%(booked)d places are booked: the capacity cannot be set below that. Move or cancel bookings "
                  "first.") % {"booked": booked}]})
        slot.refresh_from_db()
        _offer_places(slot)
    return slot


def closure_create(*, actor, point_or_resource: ServicePoint | Resource, starts: datetime, ends: datetime,
                   reason: str) -> Closure:
    """Close a service point (or one resource) from `starts` to `ends`: its slots in that time are closed,
    their bookings cancelled in bulk and each citizen notified; waitlists of those slots end. One transaction."""
    resource = point_or_resource if isinstance(point_or_resource, Resource) else None
    point: ServicePoint = resource.point if resource else point_or_resource  # type: ignore[assignment]
    _require(actor, "manage", point)
    if ends <= starts:
        raise ValidationError({"ends": [_("A closure ends after it starts.")]})
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("Give the reason for the closure.")]})
    with transaction.atomic():
        closure = Closure.objects.create(point=point, resource=resource, starts=starts, ends=ends,
                                         reason=reason.strip(), created_by=None if _system(actor) else actor)
        slots = Slot.objects.filter(point=point, start__lt=ends, end__gt=starts)
        if resource:
            slots = slots.filter(resource=resource)
        slot_ids = list(slots.select_for_update().order_by("id").values_list("pk", flat=True))
        Slot.objects.filter(pk__in=slot_ids).update(closed=True)
        bookings = list(Booking.objects.select_for_update(of=("self",))
                        .filter(slot_id__in=slot_ids, status__in=HOLDING)
                        .select_related("slot__point", "slot__service", "slot__resource", "citizen").order_by("id"))
        now = _now()
        Booking.objects.filter(pk__in=[b.pk for b in bookings]).update(
            status=BookingStatus.CANCELLED, cancel_reason=CancelReason.CLOSURE, cancelled_at=now, updated_at=now)
        freed: dict[int, int] = {}
        for booking in bookings:
            freed[booking.slot_id] = freed.get(booking.slot_id, 0) + 1
            booking.status, booking.cancel_reason = BookingStatus.CANCELLED, CancelReason.CLOSURE
        for slot_id, count in freed.items():
            Slot.objects.filter(pk=slot_id).update(booked=F("booked") - count)
        WaitlistEntry.objects.filter(slot_id__in=slot_ids,
                                     status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED]).update(
            status=WaitlistStatus.LAPSED)
        for booking in bookings:
            _notify(booking, "booking_closed", f"closed:{closure.pk}", reason=closure.reason)
        _publish(bookings)
        if not _system(actor):
            audit_record(actor=actor, action="booking.closure", target=closure, summary=closure.reason,
                         detail={"cancelled": len(bookings), "slots": len(slot_ids)})
    closure.cancelled_count = len(bookings)
    return closure


#
# Slots from templates
#


def working_days_ahead(count: int, *, first: date | None = None) -> list[date]:
    """The next `count` working days from `first` (today) on, by the working calendar (one query)."""
    first = first or timezone.localdate()
    overrides = load_overrides(first, first + timedelta(days=count * 2 + 30))
    days: list[date] = []
    day = first
    while len(days) < count:
        listed = overrides.get(day)
        if (day.weekday() < 5) if listed is None else listed:
            days.append(day)
        day += timedelta(days=1)
    return days


def slots_generate(*, first: date, last: date, point: ServicePoint | None = None) -> int:
    """Make the slots of every template from `first` to `last` (inclusive): on each template's weekday,
    except the calendar's holidays and the point's closures; existing slots stay as they are (unique per
    resource and start), so running it again adds nothing. Returns how many were made."""
    active = ScheduleTemplate.objects.select_related("resource__point", "service").filter(
        resource__active=True, service__active=True, resource__point__active=True)
    if point is not None:
        active = active.filter(resource__point=point)
    templates = list(active)
    tz = timezone.get_current_timezone()
    overrides = load_overrides(first, last)
    closures = list(Closure.objects.filter(starts__lt=datetime.combine(last + timedelta(days=1), time(), tzinfo=tz),
                                           ends__gt=datetime.combine(first, time(), tzinfo=tz)))
    rows = []
    day = first
    while day <= last:
        if overrides.get(day) is not False:  # a holiday (or a working day moved away) has no slots
            for template in templates:
                if template.weekday != day.weekday() or not _template_valid(template, day):
                    continue
                rows += _template_slots(template, day, tz, closures)
        day += timedelta(days=1)
    if not rows:
        return 0
    existing = set(Slot.objects.filter(resource_id__in={row.resource_id for row in rows},
                                       start__gte=min(row.start for row in rows),
                                       start__lte=max(row.start for row in rows)).values_list("resource_id", "start"))
    rows = [row for row in rows if (row.resource_id, row.start) not in existing]
    Slot.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)  # a parallel run's rows stay
    return len(rows)


def _template_valid(template: ScheduleTemplate, day: date) -> bool:
    return ((template.valid_from is None or template.valid_from <= day)
            and (template.valid_until is None or day <= template.valid_until))


def _template_slots(template: ScheduleTemplate, day: date, tz, closures: list[Closure]) -> list[Slot]:
    point = template.resource.point
    start = datetime.combine(day, template.start, tzinfo=tz)
    day_end = datetime.combine(day, template.end, tzinfo=tz)
    length = timedelta(minutes=template.slot_minutes)
    rows = []
    while start + length <= day_end:
        end = start + length
        closed = any(c.point_id == point.pk and c.resource_id in (None, template.resource_id)
                     and c.starts < end and c.ends > start for c in closures)
        if not closed:
            rows.append(Slot(point=point, node_path=point.node_path, resource=template.resource,
                             service=template.service, start=start, end=end, capacity=template.capacity))
        start = end
    return rows


#
# Reminders (beat task: scans what is due, never twice)
#


REMINDERS = (
    # flag field, hours before the start, template
    ("reminded_day_before_at", 24, "booking_reminder_day_before"),
    ("reminded_soon_at", 2, "booking_reminder_soon"),
)


def reminders_send(*, now: datetime | None = None, batch: int = 500) -> int:
    """Queue the reminders that are due: a day before and two hours before the start, for bookings made
    before that moment (a booking made an hour ahead gets its confirmation only). Each booking's flag is
    set in the transaction that queues the notice (rows other workers hold are skipped), and the notice's
    dedupe key carries the booking's sequence: a reminder goes once per time the booking is at."""
    now = now or _now()
    sent = 0
    for flag, hours, template in REMINDERS:
        ahead = timedelta(hours=hours)
        with transaction.atomic():
            due = list(
                Booking.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(**{f"{flag}__isnull": True}, status=BookingStatus.BOOKED, slot__start__gt=now,
                        slot__start__lte=now + ahead, booked_at__lte=F("slot__start") - ahead)
                .select_related("slot__point", "slot__service", "slot__resource", "citizen").order_by("id")[:batch]
            )
            if not due:
                continue
            Booking.objects.filter(pk__in=[b.pk for b in due]).update(**{flag: now})
            for booking in due:
                _notify(booking, template, f"{template}:{booking.sequence}")
            sent += len(due)
    return sent


#
# Chronic follow-up
#


def follow_up_plan_create(*, actor, point: ServicePoint, service: Service, citizen, every_weeks: int,
                          first_due: date, resident=None, note: str = "") -> FollowUpPlan:
    _require(actor, "manage", point)
    if point.kind != PointKind.HEALTH_CENTRE:
        raise ValidationError({"point": [_("Follow-up plans are kept by community health centres.")]})
    if service.point_id != point.pk:
        raise ValidationError({"service": [_("The service must be one of the health centre's.")]})
    if every_weeks < 1:
        raise ValidationError({"every_weeks": [_("Every one week at least.")]})
    return FollowUpPlan.objects.create(point=point, service=service, citizen=citizen, resident=resident,
                                       every_weeks=every_weeks, next_due=first_due, note=note,
                                       created_by=None if _system(actor) else actor)


def follow_ups_schedule(*, today: date | None = None) -> int:
    """Book the next appointment of every plan due within BOOKING_FOLLOW_UP_LEAD_DAYS (beat task): the
    first free slot of the plan's service on or after the due date; the confirmation notice tells the
    citizen, the usual reminders follow. A plan with an appointment still to come is left alone."""
    today = today or timezone.localdate()
    horizon = today + timedelta(days=settings.BOOKING_FOLLOW_UP_LEAD_DAYS)
    made = 0
    tz = timezone.get_current_timezone()
    plans = FollowUpPlan.objects.filter(active=True, next_due__lte=horizon).select_related("citizen", "point")
    for plan in plans:
        if plan.bookings.filter(status__in=HOLDING, slot__start__gt=_now()).exists():
            continue
        due_from = max(datetime.combine(plan.next_due, time(), tzinfo=tz), _now())
        candidates = (Slot.objects.filter(service_id=plan.service_id, closed=False, start__gte=due_from,
                                          booked__lt=F("capacity"))
                      .select_related("point", "service", "resource").order_by("start", "id")[:5])
        for slot in candidates:
            try:
                with transaction.atomic():
                    booking_create(actor=None, slot=slot, citizen=plan.citizen, follow_up_plan=plan)
                    FollowUpPlan.objects.filter(pk=plan.pk).update(
                        next_due=max(plan.next_due, timezone.localdate(slot.start)) + timedelta(weeks=plan.every_weeks))
                made += 1
                break
            except (SlotFull, AlreadyBooked):
                continue
    return made


def _follow_up_missed(booking: Booking) -> None:
    """A missed follow-up: a task for the community's staff, and an in-app notice to those posted at the
    health centre's node."""
    task, created = FollowUpTask.objects.get_or_create(plan_id=booking.follow_up_plan_id, booking=booking)
    if not created:
        return
    point = booking.slot.point
    staff = {post.user for post in Post.objects.filter(node_id=point.node_id).select_related("user")
             if post.user.is_active}
    if staff:
        notices_queue(recipients=staff, template="booking/follow_up_missed", channels=["in_app"],
                      context={"reference": booking.reference, "point": point.name,
                               "citizen": booking.family_member_name or booking.citizen.get_full_name()
                               or booking.citizen.get_username(),
                               "start": timezone.localtime(booking.slot.start).strftime("%Y-%m-%d %H:%M")},
                      dedupe_key=lambda user: f"booking-follow-up:{task.pk}:{user.pk}")


def follow_up_task_done(*, actor, task: FollowUpTask, note: str = "") -> FollowUpTask:
    _require(actor, "manage", task)
    FollowUpTask.objects.filter(pk=task.pk, done_at__isnull=True).update(
        done_at=_now(), done_by=actor, note=(note or "")[:200])
    task.refresh_from_db()
    return task
