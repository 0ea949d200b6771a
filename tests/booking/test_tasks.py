"""The beat tasks run the services' scans (each run here in this process with apply(), whatever the broker:
CI has Redis and no worker), and a reschedule starts the reminders
over for the new time."""

from datetime import time, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from civic.models import Notice
from services.booking import services, tasks
from services.booking.models import Booking, BookingStatus, ScheduleTemplate, Slot
from tests.booking.conftest import make_slot

pytestmark = pytest.mark.django_db


def test_every_task_is_on_the_beat_schedule():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {f"services.booking.tasks.{name}" for name in tasks.__all__} <= scheduled


def test_expire_holds_task(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot, hold=True)
    Booking.objects.filter(pk=booking.pk).update(hold_expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.expire_holds.apply().get() == 1
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CANCELLED
    assert Slot.objects.get(pk=clinic.slot.pk).booked == 0


def test_a_hold_confirmed_in_time_is_not_expired(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot, hold=True)
    services.booking_confirm(actor=clinic.citizen, booking=booking)
    assert services.holds_expire(now=timezone.now() + timedelta(hours=1)) == 0
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.BOOKED


def test_mark_no_shows_task(clinic, settings):
    slot = make_slot(clinic.expert, clinic.service, hours=-3)
    booking = Booking.objects.create(citizen=clinic.citizen, slot=slot, booked_at=timezone.now() - timedelta(days=2))
    assert tasks.mark_no_shows.apply().get() == 1
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.NO_SHOW


def test_generate_slots_task(clinic):
    for weekday in range(5):  # Monday to Friday: the next 14 working days, no holidays in the test calendar
        ScheduleTemplate.objects.create(resource=clinic.nurse, service=clinic.checkup, weekday=weekday,
                                        start=time(9), end=time(10), slot_minutes=30, capacity=2)
    made = tasks.generate_slots.apply().get()
    assert made == 2 * settings.BOOKING_HORIZON_DAYS
    assert tasks.generate_slots.apply().get() == 0


def test_send_reminders_task_and_a_reschedule_starts_them_over(clinic):
    first = make_slot(clinic.expert, clinic.service, hours=20)
    second = make_slot(clinic.other, clinic.service, hours=22)
    booking = services.booking_create(actor=clinic.citizen, slot=first)
    Booking.objects.filter(pk=booking.pk).update(booked_at=timezone.now() - timedelta(days=3))
    assert tasks.send_reminders.apply().get() == 1
    services.booking_reschedule(actor=clinic.citizen, booking=booking, slot=second)
    assert tasks.send_reminders.apply().get() == 1  # the new time's day-before reminder
    assert tasks.send_reminders.apply().get() == 0
    keys = set(Notice.objects.filter(template="booking/booking_reminder_day_before")
               .values_list("dedupe_key", flat=True))
    assert {key.rsplit(":", 1)[0] for key in keys} == {f"booking:{booking.pk}:booking_reminder_day_before:0",
                                                      f"booking:{booking.pk}:booking_reminder_day_before:1"}
