"""A citizen books an appointment in a phone browser, in each language: log in, pick a slot in the
service's week, book it, find it among their appointments, download its .ics file, and cancel it."""

from pathlib import Path

import icalendar
import pytest
from playwright.sync_api import expect

from portal.booking.selectors import week_start
from services.booking.ics import booking_uid
from services.booking.models import Booking, BookingStatus, Slot
from tests.booking.conftest import clinic  # noqa: F401
from tests.browser.conftest import check_accessibility
from tests.browser.helpers import LANGUAGES, Words, log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

CITIZEN_PHONE = "13900000013"


@pytest.mark.parametrize("language", LANGUAGES)
def test_book_see_download_and_cancel(clinic, new_page, language):  # noqa: F811
    from django.utils import timezone

    words = Words(language)
    citizen = clinic.citizen
    citizen.phone = CITIZEN_PHONE
    citizen.save()
    page = new_page(language, accept_downloads=True)
    log_in(page, words, CITIZEN_PHONE, PASSWORD)

    # Service points → the hospital → its expert clinic → the slot's week.
    page.get_by_role("navigation").get_by_role("link", name=words("Book an appointment")).click()
    page.get_by_role("link", name=clinic.hospital.name).click()
    page.get_by_role("link", name=clinic.service.name).click()
    slot = clinic.slot
    if week_start(timezone.localtime(slot.start).date()) != week_start(None):
        page.get_by_role("link", name=words("Next week")).click()
    check_accessibility(page, context="the service's week")
    start = timezone.localtime(slot.start).strftime("%H:%M")
    page.locator(f'a[href="/booking/slots/{slot.pk}/"]').click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(clinic.service.name)
    expect(page.get_by_role("main")).to_contain_text(start)
    check_accessibility(page, context="the booking form")
    page.get_by_role("button", name=words("Book this time"), exact=True).click()

    booking = Booking.objects.get(citizen=citizen)
    expect(page.get_by_role("status")).to_contain_text(
        words("Booked: your reference is %(reference)s.") % {"reference": booking.reference})
    assert booking.status == BookingStatus.BOOKED and Slot.objects.get(pk=slot.pk).booked == 1
    check_accessibility(page, context="the booking's page")

    # Among my appointments.
    page.get_by_role("navigation").get_by_role("link", name=words("My appointments")).click()
    expect(page.get_by_role("link", name=booking.reference)).to_be_visible()
    page.get_by_role("link", name=booking.reference).click()

    # The calendar file.
    with page.expect_download() as info:
        page.get_by_role("link", name=words("Add to my calendar (.ics)")).click()
    download = info.value
    assert download.suggested_filename == f"booking-{booking.reference}.ics"
    calendar = icalendar.Calendar.from_ical(Path(download.path()).read_bytes())
    event = next(iter(calendar.walk("VEVENT")))
    assert str(event["UID"]) == booking_uid(booking) and event.decoded("DTSTART") == slot.start
    assert str(calendar["METHOD"]) == "PUBLISH"

    # Cancel it: the place is free again.
    page.get_by_role("button", name=words("Cancel the appointment"), exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(
        words("The booking %(reference)s is cancelled.") % {"reference": booking.reference})
    expect(page.get_by_role("button", name=words("Cancel the appointment"), exact=True)).to_have_count(0)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED and Slot.objects.get(pk=slot.pk).booked == 0


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_booking_page_passes_axe_in_normal_and_large_text(clinic, new_page, language):  # noqa: F811
    """Each page of the booking section, with axe-core in normal and large text and no sideways scroll
    at phone width (tests/browser/test_portal_accessibility.Walk)."""
    from django.utils import timezone

    from services.booking import services
    from tests.browser.conftest import AXE
    from tests.browser.test_portal_accessibility import Walk

    words = Words(language)
    citizen = clinic.citizen
    citizen.phone = CITIZEN_PHONE
    citizen.save()
    services.slot_capacity_set(actor=None, slot=clinic.other_slot, capacity=1)
    services.booking_create(actor=clinic.desk, slot=clinic.other_slot)  # a full slot
    mine = services.booking_create(actor=citizen, slot=clinic.slot)
    services.waitlist_join(actor=citizen, slot=clinic.other_slot)
    gone = services.booking_create(actor=citizen, slot=clinic.later)
    services.booking_cancel(actor=citizen, booking=gone)
    page = new_page(language)
    page.context.add_init_script(path=str(AXE))
    walk = Walk(page, words, {}, None)
    log_in(page, words, CITIZEN_PHONE, PASSWORD)
    week = timezone.localtime(clinic.slot.start).date()
    walk.visit("service points", "/booking/")
    walk.visit("a service point", f"/booking/points/{clinic.hospital.pk}/")
    walk.visit("a week of slots", f"/booking/services/{clinic.service.pk}/?week={week:%Y-%m-%d}")
    walk.visit("the booking form", f"/booking/slots/{clinic.later.pk}/")
    page.get_by_label(words("For a family member")).check()
    walk.submit("Book this time")
    expect(page.get_by_label(words("Family member's name"))).to_have_accessible_description(
        words("Give the family member's name."))
    walk.check("the booking form with errors")
    walk.visit("a full slot", f"/booking/slots/{clinic.other_slot.pk}/")
    expect(page.get_by_role("status")).to_contain_text(
        words("You are on the waitlist: number %(position)s in line.") % {"position": 1})
    walk.visit("my appointments", "/booking/mine/")
    walk.visit("a booking", f"/booking/mine/{mine.reference}/")
    expect(page.get_by_role("region", name=words("Move to another time"))).to_be_visible()
    walk.visit("a cancelled booking", f"/booking/mine/{gone.reference}/")
