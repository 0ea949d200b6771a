"""Citizens' booking pages: service points → services → a week of slots → book (for oneself or a family
member); a full slot offers the next free ones and the waitlist; my bookings (cancel, reschedule,
the .ics file, visit results).

Every write goes through services.booking.services; a citizen's bookings are read only through
portal.booking.selectors, which filter by the citizen: someone else's booking answers 404.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civic.errors import AlreadyDone, ConflictError
from civic.forms import add_service_errors
from portal.booking import selectors
from portal.booking.forms import BookForm, RescheduleForm, WeekForm
from services.booking import services
from services.booking.models import BookingStatus, Service, Slot
from services.booking.selectors import next_free_slots, waitlist_position

__all__ = ["book", "booking_cancel", "booking_confirm", "booking_page", "booking_reschedule", "my_bookings",
           "point_page", "points", "service_week", "waitlist_join"]

# How far ahead a reschedule offers the service's free slots.
RESCHEDULE_CHOICES = 20


def points(request):
    return render(request, "portal/booking/points.html", {"points": selectors.point_list()})


def point_page(request, pk: int):
    point = get_object_or_404(selectors.point_list(), pk=pk)
    return render(request, "portal/booking/point.html", {"point": point, "groups": selectors.point_services(point)})


def service_week(request, pk: int):
    service = get_object_or_404(Service.objects.filter(active=True, point__active=True).select_related("point",
                                                                                                       "department"),
                                pk=pk)
    form = WeekForm(request.GET or None)
    chosen = form.cleaned_data if form.is_valid() else {}
    monday = selectors.week_start(chosen.get("week"))
    this_monday = selectors.week_start(None)
    resources = list(selectors.service_resources(service))
    resource = next((r for r in resources if r.pk == chosen.get("resource")), None)
    days = selectors.service_week(service, monday, resource.pk if resource else None)
    context = {
        "service": service, "point": service.point, "days": days, "monday": monday, "resources": resources,
        "resource": resource, "resource_query": f"&resource={resource.pk}" if resource else "",
        "previous": monday - timedelta(days=7) if monday > this_monday else None,
        "next": monday + timedelta(days=7),
        "any_slot": any(slots for _day, slots in days),
    }
    return render(request, "portal/booking/service_week.html", context)


def _slot(pk: int) -> Slot:
    return get_object_or_404(Slot.objects.select_related("point", "service", "resource")
                             .filter(point__active=True, service__active=True), pk=pk)


def _full(request, slot: Slot, form: BookForm, suggestions: list[Slot] | None = None, status: int = 409):
    """The slot is full: the next free slots of the service, and the waitlist (with the place in line
    of whoever is already on it)."""
    entry = selectors.my_waitlist(request.user).filter(slot=slot).first()
    context = {"slot": slot, "form": form, "full": True, "entry": entry,
               "position": waitlist_position(entry) if entry else None,
               "suggestions": next_free_slots(slot) if suggestions is None else suggestions}
    return render(request, "portal/booking/book.html", context, status=status)


@login_required
def book(request, pk: int):
    slot = _slot(pk)
    if request.method != "POST":
        form = BookForm()
        if slot.closed or slot.start <= timezone.now():
            # Passed, or closed by the service point: nothing to book here, but the next free times are.
            return render(request, "portal/booking/book.html",
                          {"slot": slot, "form": form, "gone": True, "suggestions": next_free_slots(slot)})
        if slot.free == 0:
            return _full(request, slot, form, status=200)
        return render(request, "portal/booking/book.html", {"slot": slot, "form": form})
    form = BookForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        member = None
        if data["who"] == BookForm.FOR_FAMILY:
            member = services.FamilyMember(name=data["family_member_name"], id_number=data["family_member_id_number"])
        try:
            booking = services.booking_create(actor=request.user, slot=slot, family_member=member,
                                              client_key=data["client_key"])
        except AlreadyDone as done:
            booking = done.instance
        except services.SlotFull as full:
            return _full(request, slot, form, full.suggestions)
        except ValidationError as exc:
            add_service_errors(form, exc, field_map={"family_member": "family_member_id_number"})
        except (ConflictError, PermissionDenied) as exc:
            form.add_error(None, _refused(exc))
        else:
            messages.success(request, _("Booked: your reference is %(reference)s.") % {"reference": booking.reference})
            return redirect("portal:booking:detail", reference=booking.reference)
        if not form.errors:  # a replay: the first booking stands
            return redirect("portal:booking:detail", reference=booking.reference)
    return render(request, "portal/booking/book.html", {"slot": slot, "form": form}, status=400)


@login_required
@require_POST
def waitlist_join(request, pk: int):
    slot = _slot(pk)
    try:
        entry = services.waitlist_join(actor=request.user, slot=slot)
    except services.AlreadyWaiting:
        entry = selectors.my_waitlist(request.user).filter(slot=slot).first()
    except services.SlotHasPlaces as exc:
        messages.info(request, _refused(exc))
        return redirect("portal:booking:book", pk=slot.pk)
    except (ValidationError, ConflictError, PermissionDenied) as exc:
        messages.error(request, _refused(exc))
        return redirect("portal:booking:book", pk=slot.pk)
    if entry is not None:
        messages.success(request, _("You are on the waitlist: number %(position)d in line.")
                         % {"position": waitlist_position(entry) or 0})
    return redirect("portal:booking:mine")


@login_required
def my_bookings(request):
    bookings = selectors.my_bookings(request.user)
    entries = list(selectors.my_waitlist(request.user))
    return render(request, "portal/booking/my_bookings.html", {
        "upcoming": list(selectors.upcoming(bookings)),
        "past": [b for b in bookings[:100] if b.status not in (BookingStatus.HELD, BookingStatus.BOOKED,
                                                                 BookingStatus.CHECKED_IN)
                 or b.slot.end < timezone.now()],
        "entries": entries,
    })


def _mine(request, reference: str):
    booking = selectors.my_booking(request.user, reference)
    if booking is None:
        raise Http404
    return booking


def _changeable(booking) -> bool:
    """May the citizen still cancel or move it online (the core checks again when they do)?"""
    if booking.status == BookingStatus.HELD:
        return True
    if booking.status != BookingStatus.BOOKED:
        return False
    return timezone.now() < booking.slot.start - timedelta(hours=settings.BOOKING_CANCEL_CUTOFF_HOURS)


@login_required
def booking_page(request, reference: str, *, error: str = "", status: int = 200):
    booking = _mine(request, reference)
    changeable = _changeable(booking)
    choices = []
    if changeable:
        choices = [s for s in next_free_slots(booking.slot, RESCHEDULE_CHOICES * 2)
                   if s.pk != booking.slot_id][:RESCHEDULE_CHOICES]
    context = {
        "booking": booking, "changeable": changeable, "choices": choices, "error": error,
        "cut_off_hours": settings.BOOKING_CANCEL_CUTOFF_HOURS,
        "ics_url": reverse("booking-ics", kwargs={"pk": booking.pk}),
    }
    return render(request, "portal/booking/detail.html", context, status=status)


def _refused(exc) -> str:
    """A service's refusal in words: a ValidationError's messages, a ConflictError's message."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or str(getattr(exc, "message", "")) or _("This cannot be done.")


def _act(request, reference: str, action, done: str):
    """Run a core service on the citizen's own booking; its refusal comes back on the booking's page."""
    booking = _mine(request, reference)
    try:
        action(actor=request.user, booking=booking)
    except (ValidationError, ConflictError, PermissionDenied) as exc:
        return booking_page(request, reference, error=_refused(exc), status=409)
    messages.success(request, done % {"reference": booking.reference})
    return redirect("portal:booking:detail", reference=booking.reference)


@login_required
@require_POST
def booking_cancel(request, reference: str):
    return _act(request, reference, services.booking_cancel, _("The booking %(reference)s is cancelled."))


@login_required
@require_POST
def booking_confirm(request, reference: str):
    """Take a place held for the citizen (a waitlist offer) while the hold lasts."""
    return _act(request, reference, services.booking_confirm, _("Booked: your reference is %(reference)s."))


@login_required
@require_POST
def booking_reschedule(request, reference: str):
    booking = _mine(request, reference)
    form = RescheduleForm(request.POST)
    if not form.is_valid():
        return booking_page(request, reference, error=_("Choose a new time."), status=400)
    slot = Slot.objects.select_related("point", "service", "resource").filter(pk=form.cleaned_data["slot"]).first()
    if slot is None:
        return booking_page(request, reference, error=_("Choose a new time."), status=400)
    try:
        services.booking_reschedule(actor=request.user, booking=booking, slot=slot)
    except services.SlotFull:
        return booking_page(request, reference, error=_("That time was taken meanwhile: choose another one."),
                            status=409)
    except (ValidationError, ConflictError, PermissionDenied) as exc:
        return booking_page(request, reference, error=_refused(exc), status=409)
    messages.success(request, _("The booking %(reference)s is moved.") % {"reference": booking.reference})
    return redirect("portal:booking:detail", reference=booking.reference)

