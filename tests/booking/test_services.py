"""services.booking through its functions: booking, holds, cancellation, reschedule, the desk, closures,
blocks, waitlist, reminders, slot generation and follow-ups."""

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from civic.calendar_models import CalendarDay
from civic.errors import AlreadyDone
from civic.models import Notice
from services.booking import selectors, services
from services.booking.models import (
    Booking,
    BookingBlock,
    BookingStatus,
    CancelReason,
    FollowUpTask,
    ScheduleTemplate,
    Slot,
    WaitlistStatus,
)
from tests.booking.conftest import make_slot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def booked(slot) -> int:
    return Slot.objects.values_list("booked", flat=True).get(pk=slot.pk)


def notices(user, template) -> int:
    return Notice.objects.filter(recipient=user, template=f"booking/{template}").values("dedupe_key").distinct().count()


#
# Booking, holds, duplicates
#


def test_book_at_once(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    assert booking.status == BookingStatus.BOOKED and len(booking.reference) == 8
    assert booked(clinic.slot) == 1
    assert notices(clinic.citizen, "booking_confirmed") == 1


def test_hold_then_confirm(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot, hold=True)
    assert booking.status == BookingStatus.HELD and booking.hold_expires_at > timezone.now()
    assert booked(clinic.slot) == 1  # a hold counts against capacity
    assert notices(clinic.citizen, "booking_confirmed") == 0
    booking = services.booking_confirm(actor=clinic.citizen, booking=booking)
    assert booking.status == BookingStatus.BOOKED
    assert services.booking_confirm(actor=clinic.citizen, booking=booking).status == BookingStatus.BOOKED
    assert booked(clinic.slot) == 1 and notices(clinic.citizen, "booking_confirmed") == 1


def test_a_lapsed_hold_is_released_once_and_cannot_be_confirmed(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot, hold=True)
    later = timezone.now() + timedelta(minutes=10)
    assert services.holds_expire(now=later) == 1
    assert services.holds_expire(now=later) == 0
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED and booking.cancel_reason == CancelReason.HOLD_EXPIRED
    assert booked(clinic.slot) == 0
    with pytest.raises(services.HoldExpired):
        services.booking_confirm(actor=clinic.citizen, booking=booking)


def test_full_slot_suggests_the_next_free_slots_of_the_service(clinic):
    full = make_slot(clinic.expert, clinic.service, hours=30, capacity=1)
    services.booking_create(actor=UserFactory(is_staff=False), slot=full)
    with pytest.raises(services.SlotFull) as raised:
        services.booking_create(actor=clinic.citizen, slot=full)
    assert [s.pk for s in raised.value.suggestions] == [clinic.slot.pk, clinic.other_slot.pk, clinic.later.pk]
    assert booked(full) == 1 and not Booking.objects.filter(citizen=clinic.citizen).exists()


def test_second_booking_of_the_same_slot_is_refused_but_a_family_member_may_have_one(clinic):
    services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    with pytest.raises(services.AlreadyBooked):
        services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    member = services.FamilyMember(name="张桂英", id_number="150102195001011232")
    for_mother = services.booking_create(actor=clinic.citizen, slot=clinic.slot, family_member=member)
    assert for_mother.family_member_id_masked == "1501**********1232"
    assert "195001" not in str(Booking.objects.filter(pk=for_mother.pk).values().get())
    with pytest.raises(services.AlreadyBooked):
        services.booking_create(actor=clinic.citizen, slot=clinic.slot, family_member=member)
    assert booked(clinic.slot) == 2


def test_family_member_needs_a_valid_id_number(clinic):
    with pytest.raises(ValidationError):
        services.booking_create(actor=clinic.citizen, slot=clinic.slot,
                                family_member=services.FamilyMember(name="张桂英", id_number="150102195001011233"))
    assert booked(clinic.slot) == 0


def test_slot_in_the_past_is_refused(clinic):
    past = make_slot(clinic.expert, clinic.service, hours=-1)
    with pytest.raises(ValidationError):
        services.booking_create(actor=clinic.citizen, slot=past)
    assert booked(past) == 0


def test_client_key_replays_the_first_booking(clinic):
    import uuid

    key = uuid.uuid4()
    first = services.booking_create(actor=clinic.citizen, slot=clinic.slot, client_key=key)
    with pytest.raises(AlreadyDone) as replay:
        services.booking_create(actor=clinic.citizen, slot=clinic.slot, client_key=key)
    assert replay.value.instance == first and booked(clinic.slot) == 1


#
# Cancellation and reschedule
#


def test_cancel_frees_the_place_exactly_once(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    services.booking_cancel(actor=clinic.citizen, booking=booking)
    services.booking_cancel(actor=clinic.citizen, booking=booking)
    assert booked(clinic.slot) == 0
    assert Booking.objects.get(pk=booking.pk).cancel_reason == CancelReason.CITIZEN


def test_cancel_after_the_cut_off_is_for_staff_only(clinic, settings):
    soon = make_slot(clinic.expert, clinic.service, hours=1)
    booking = services.booking_create(actor=clinic.citizen, slot=soon)
    with pytest.raises(services.CutOffPassed):
        services.booking_cancel(actor=clinic.citizen, booking=booking)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.BOOKED and booked(soon) == 1
    services.booking_cancel(actor=clinic.desk, booking=booking)
    assert Booking.objects.get(pk=booking.pk).cancel_reason == CancelReason.STAFF and booked(soon) == 0


def test_others_cannot_cancel_a_booking(clinic, city):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    for outsider in (UserFactory(is_staff=False), city.users["director"]):  # the director runs A1, not A2
        with pytest.raises(PermissionDenied):
            services.booking_cancel(actor=outsider, booking=booking)
    assert booked(clinic.slot) == 1


def test_reschedule_moves_the_booking_and_bumps_its_sequence(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    moved = services.booking_reschedule(actor=clinic.citizen, booking=booking, slot=clinic.later)
    assert (moved.pk, moved.slot_id, moved.sequence) == (booking.pk, clinic.later.pk, 1)
    assert booked(clinic.slot) == 0 and booked(clinic.later) == 1
    assert notices(clinic.citizen, "booking_rescheduled") == 1


def test_reschedule_to_a_full_slot_changes_nothing(clinic):
    full = make_slot(clinic.other, clinic.service, hours=60, capacity=1)
    services.booking_create(actor=UserFactory(is_staff=False), slot=full)
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    with pytest.raises(services.SlotFull):
        services.booking_reschedule(actor=clinic.citizen, booking=booking, slot=full)
    booking.refresh_from_db()
    assert (booking.slot_id, booking.sequence, booking.status) == (clinic.slot.pk, 0, BookingStatus.BOOKED)
    assert booked(clinic.slot) == 1 and booked(full) == 1


def test_reschedule_only_within_the_service(clinic):
    elsewhere = make_slot(clinic.nurse, clinic.checkup)
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    with pytest.raises(ValidationError):
        services.booking_reschedule(actor=clinic.citizen, booking=booking, slot=elsewhere)
    assert booked(elsewhere) == 0


#
# The desk: check-in, results, no-shows and blocks, capacity, closures
#


def test_check_in_and_visit_result(clinic):
    today = make_slot(clinic.expert, clinic.service, hours=0.2)
    if timezone.localdate(today.start) != timezone.localdate():
        pytest.skip("too close to midnight")
    booking = services.booking_create(actor=clinic.citizen, slot=today)
    with pytest.raises(services.InvalidStatus):
        services.visit_result_record(actor=clinic.desk, booking=booking, text="血压正常")
    services.check_in(actor=clinic.desk, booking=booking)
    booking = services.visit_result_record(actor=clinic.desk, booking=booking, text="血压正常，三个月后复查")
    assert booking.status == BookingStatus.ATTENDED and booking.visit_fee == Decimal("50.00")
    assert notices(clinic.citizen, "visit_result") == 1
    with pytest.raises(PermissionDenied):
        services.check_in(actor=clinic.citizen, booking=booking)


def test_no_shows_block_online_booking_until_staff_lift_it(clinic, settings):
    settings.BOOKING_NO_SHOW_LIMIT = 2
    for hours in (-3, -2):
        slot = make_slot(clinic.expert, clinic.service, hours=hours)
        booking = Booking.objects.create(citizen=clinic.citizen, slot=slot, booked_at=timezone.now())
        services.no_show_mark(actor=clinic.desk, booking=booking)
    block = BookingBlock.objects.get(citizen=clinic.citizen)
    with pytest.raises(services.BookingBlocked):
        services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    assert booked(clinic.slot) == 0
    with pytest.raises(PermissionDenied):
        services.block_lift(actor=UserFactory(is_staff=False), block=block)
    services.block_lift(actor=clinic.desk, block=block)
    assert services.booking_create(actor=clinic.citizen, slot=clinic.slot).status == BookingStatus.BOOKED


def test_a_cancelled_booking_is_never_a_no_show(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    services.booking_cancel(actor=clinic.citizen, booking=booking)
    Slot.objects.filter(pk=clinic.slot.pk).update(start=timezone.now() - timedelta(hours=3),
                                                  end=timezone.now() - timedelta(hours=2))
    with pytest.raises(services.InvalidStatus):
        services.no_show_mark(actor=clinic.desk, booking=booking)
    assert services.no_shows_mark_due() == 0


def test_capacity_cannot_go_below_booked(clinic):
    for _ in range(3):
        services.booking_create(actor=UserFactory(is_staff=False), slot=clinic.slot)
    with pytest.raises(ValidationError):
        services.slot_capacity_set(actor=clinic.desk, slot=clinic.slot, capacity=2)
    assert Slot.objects.get(pk=clinic.slot.pk).capacity == 5
    assert services.slot_capacity_set(actor=clinic.desk, slot=clinic.slot, capacity=3).capacity == 3


def test_closure_cancels_in_bulk_and_notifies_each_citizen(clinic):
    people = [UserFactory(is_staff=False) for _ in range(3)]
    for person in people:
        services.booking_create(actor=person, slot=clinic.slot)
    services.booking_create(actor=people[0], slot=clinic.later)
    closure = services.closure_create(actor=clinic.desk, point_or_resource=clinic.expert,
                                      starts=clinic.slot.start - timedelta(minutes=1),
                                      ends=clinic.slot.end, reason="专家外出会诊")
    assert closure.cancelled_count == 3
    assert booked(clinic.slot) == 0 and Slot.objects.get(pk=clinic.slot.pk).closed
    assert booked(clinic.later) == 1 and booked(clinic.other_slot) == 0
    assert all(notices(person, "booking_closed") == 1 for person in people)
    clinic.slot.refresh_from_db()
    with pytest.raises(ValidationError):
        services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    with pytest.raises(PermissionDenied):
        services.closure_create(actor=clinic.desk, point_or_resource=clinic.centre, starts=clinic.slot.start,
                                ends=clinic.slot.end, reason="x")


#
# Waitlist
#


def test_waitlist_offers_a_freed_place_first_come_first_served(clinic, settings):
    full = make_slot(clinic.expert, clinic.service, hours=30, capacity=1)
    holder = UserFactory(is_staff=False)
    booking = services.booking_create(actor=holder, slot=full)
    with pytest.raises(services.SlotHasPlaces):
        services.waitlist_join(actor=clinic.citizen, slot=clinic.slot)
    first, second = UserFactory(is_staff=False), UserFactory(is_staff=False)
    e1 = services.waitlist_join(actor=first, slot=full)
    e2 = services.waitlist_join(actor=second, slot=full)
    with pytest.raises(services.AlreadyWaiting):
        services.waitlist_join(actor=first, slot=full)
    assert [selectors.waitlist_position(e) for e in (e1, e2)] == [1, 2]

    services.booking_cancel(actor=holder, booking=booking)
    e1.refresh_from_db()
    assert e1.status == WaitlistStatus.OFFERED and booked(full) == 1
    assert e1.booking.status == BookingStatus.HELD and notices(first, "waitlist_offer") == 1

    # The first lets the offer lapse: it passes to the second, who confirms.
    services.holds_expire(now=timezone.now() + timedelta(minutes=settings.BOOKING_WAITLIST_OFFER_MINUTES + 1))
    e1.refresh_from_db(), e2.refresh_from_db()
    assert e1.status == WaitlistStatus.LAPSED and e2.status == WaitlistStatus.OFFERED and booked(full) == 1
    services.booking_confirm(actor=second, booking=e2.booking)
    e2.refresh_from_db()
    assert e2.status == WaitlistStatus.BOOKED and booked(full) == 1


#
# Reminders
#


def test_reminders_go_once_each(clinic):
    tomorrow = make_slot(clinic.expert, clinic.service, hours=20)
    booking = services.booking_create(actor=clinic.citizen, slot=tomorrow)
    Booking.objects.filter(pk=booking.pk).update(booked_at=timezone.now() - timedelta(days=3))
    assert services.reminders_send() == 1
    assert services.reminders_send() == 0
    assert notices(clinic.citizen, "booking_reminder_day_before") == 1
    later = tomorrow.start - timedelta(hours=1, minutes=30)
    assert services.reminders_send(now=later) == 1  # two hours before
    assert services.reminders_send(now=later) == 0
    assert notices(clinic.citizen, "booking_reminder_soon") == 1


def test_a_late_booking_gets_no_day_before_reminder(clinic):
    services.booking_create(actor=clinic.citizen, slot=make_slot(clinic.expert, clinic.service, hours=20))
    assert services.reminders_send() == 0


#
# Slots from templates
#


def test_slots_from_templates_minus_holidays_and_closures(clinic):
    monday = date(2031, 3, 3)
    ScheduleTemplate.objects.create(resource=clinic.expert, service=clinic.service, weekday=0, start=time(8),
                                    end=time(10), slot_minutes=30, capacity=5)
    ScheduleTemplate.objects.create(resource=clinic.expert, service=clinic.service, weekday=2, start=time(8),
                                    end=time(9), slot_minutes=30, capacity=5)
    CalendarDay.objects.create(date=monday + timedelta(days=7), is_workday=False, name="holiday")
    tz = timezone.get_current_timezone()
    from datetime import datetime

    services.closure_create(actor=clinic.desk, point_or_resource=clinic.hospital,
                            starts=datetime.combine(monday + timedelta(days=2), time(8), tzinfo=tz),
                            ends=datetime.combine(monday + timedelta(days=2), time(8, 30), tzinfo=tz), reason="会议")
    made = services.slots_generate(first=monday, last=monday + timedelta(days=13))
    # Monday 1: 4; Wednesday 1: 2 minus the closed half hour; Monday 2: holiday; Wednesday 2: 2.
    assert made == 7
    assert services.slots_generate(first=monday, last=monday + timedelta(days=13)) == 0
    first = Slot.objects.filter(resource=clinic.expert, start__date__gte=monday).order_by("start").first()
    assert timezone.localtime(first.start).time() == time(8) and first.capacity == 5


def test_working_days_ahead_skips_weekends_and_holidays():
    CalendarDay.objects.create(date=date(2031, 3, 4), is_workday=False)
    CalendarDay.objects.create(date=date(2031, 3, 8), is_workday=True)
    assert services.working_days_ahead(5, first=date(2031, 3, 3)) == [
        date(2031, 3, 3), date(2031, 3, 5), date(2031, 3, 6), date(2031, 3, 7), date(2031, 3, 8)]


#
# Chronic follow-up
#


def test_follow_up_plan_books_the_next_appointment_and_a_miss_becomes_a_task(clinic, city):
    director = city.users["director"]  # runs community A1, where the health centre is
    slot = make_slot(clinic.nurse, clinic.checkup, hours=72, capacity=3)
    plan = services.follow_up_plan_create(actor=director, point=clinic.centre, service=clinic.checkup,
                                          citizen=clinic.citizen, every_weeks=4,
                                          first_due=timezone.localdate() + timedelta(days=2))
    with pytest.raises(PermissionDenied):
        services.follow_up_plan_create(actor=clinic.desk, point=clinic.centre, service=clinic.checkup,
                                       citizen=clinic.citizen, every_weeks=4, first_due=timezone.localdate())
    assert services.follow_ups_schedule() == 1
    assert services.follow_ups_schedule() == 0  # an appointment is still to come
    booking = Booking.objects.get(follow_up_plan=plan)
    assert booking.slot_id == slot.pk and booking.status == BookingStatus.BOOKED
    plan.refresh_from_db()
    assert plan.next_due == timezone.localdate(slot.start) + timedelta(weeks=4)
    assert notices(clinic.citizen, "booking_confirmed") == 1

    Slot.objects.filter(pk=slot.pk).update(start=timezone.now() - timedelta(hours=3),
                                           end=timezone.now() - timedelta(hours=2))
    assert services.no_shows_mark_due() == 1
    task = FollowUpTask.objects.get(plan=plan)
    assert task.booking_id == booking.pk
    assert Notice.objects.filter(recipient=director, template="booking/follow_up_missed").count() == 1
    assert list(selectors.follow_up_task_list(user=director)) == [task]
    assert list(selectors.follow_up_task_list(user=clinic.desk)) == []


#
# Reads
#


def test_staff_see_the_bookings_of_their_points_only(clinic, city):
    mine = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    at_centre = services.booking_create(actor=clinic.citizen, slot=make_slot(clinic.nurse, clinic.checkup))
    other = services.booking_create(actor=UserFactory(is_staff=False), slot=clinic.later)
    assert set(selectors.booking_list(user=clinic.citizen)) == {mine, at_centre}
    assert set(selectors.booking_list(user=clinic.desk)) == {mine, other}
    assert set(selectors.booking_list(user=city.users["director"])) == {at_centre}
    assert set(selectors.booking_list(user=city.users["street"])) == {mine, at_centre, other}  # street A
    assert set(selectors.booking_list(user=city.users["street2"])) == set()


def test_department_availability(clinic):
    services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    day = timezone.localdate(clinic.slot.start)
    rows = selectors.department_availability(department=clinic.department, first=day, last=day + timedelta(days=3))
    assert sum(row["slots"] for row in rows) == 3 and sum(row["free"] for row in rows) == 14


def test_notices_speak_the_citizens_language(clinic):
    from django.contrib.auth import get_user_model

    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    notice = Notice.objects.filter(recipient=clinic.citizen, template="booking/booking_confirmed").first()
    assert notice.subject == f"预约 {booking.reference} 已确认"
    english = UserFactory(is_staff=False)
    get_user_model().objects.filter(pk=english.pk).update(language="en")
    english.refresh_from_db()
    services.booking_create(actor=english, slot=clinic.slot)
    notice = Notice.objects.filter(recipient=english, template="booking/booking_confirmed").first()
    assert notice.subject.endswith("confirmed") and "王建国" in notice.body
