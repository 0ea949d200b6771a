"""The booking's iCalendar file: built with `icalendar`, a stable UID, SEQUENCE bumped on reschedule,
METHOD:CANCEL with STATUS:CANCELLED once cancelled; served to whoever may see the booking only."""

import icalendar
import pytest
from django.utils import timezone

from services.booking import services
from services.booking.ics import booking_ics, booking_uid
from services.booking.models import Booking

pytestmark = pytest.mark.django_db


def url(booking) -> str:
    return f"/api/v1/booking/bookings/{booking.pk}/ics/"


def event_of(content: bytes) -> tuple[icalendar.Calendar, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(content)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return calendar, events[0]


def download(api, user, booking):
    response = api(user).get(url(booking))
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/calendar")
    assert f'filename="booking-{booking.reference}.ics"' in response["Content-Disposition"]
    return event_of(response.content)


def test_a_booking_downloads_as_one_confirmed_event(clinic, api):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    calendar, event = download(api, clinic.citizen, booking)
    assert str(calendar["METHOD"]) == "PUBLISH" and str(calendar["VERSION"]) == "2.0"
    assert str(event["UID"]) == booking_uid(booking)
    assert event["SEQUENCE"] == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTART") == clinic.slot.start
    assert event.decoded("DTEND") == clinic.slot.end
    assert event.decoded("DTSTART").utcoffset().total_seconds() == 0  # written in UTC
    assert clinic.service.name in str(event["SUMMARY"]) and clinic.hospital.name in str(event["SUMMARY"])
    assert booking.reference in str(event["DESCRIPTION"])
    assert str(event["ORGANIZER"]) == "mailto:noreply@civic.local"
    assert event["ORGANIZER"].params["CN"] == clinic.hospital.name
    assert list(event.walk("VALARM"))  # a reminder before it


def test_the_uid_stays_and_the_sequence_bumps_on_each_reschedule(clinic, api):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    _calendar, first = download(api, clinic.citizen, booking)
    services.booking_reschedule(actor=clinic.citizen, booking=booking, slot=clinic.later)
    _calendar, moved = download(api, clinic.citizen, booking)
    assert str(moved["UID"]) == str(first["UID"])
    assert moved["SEQUENCE"] == 1
    assert moved.decoded("DTSTART") == clinic.later.start
    services.booking_reschedule(actor=clinic.citizen, booking=Booking.objects.get(pk=booking.pk), slot=clinic.slot)
    _calendar, back = download(api, clinic.citizen, booking)
    assert str(back["UID"]) == str(first["UID"]) and back["SEQUENCE"] == 2


def test_a_cancelled_booking_is_a_cancel_with_a_higher_sequence(clinic, api):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    services.booking_reschedule(actor=clinic.citizen, booking=booking, slot=clinic.later)
    _calendar, before = download(api, clinic.citizen, booking)
    services.booking_cancel(actor=clinic.citizen, booking=Booking.objects.get(pk=booking.pk))
    calendar, cancelled = download(api, clinic.citizen, booking)
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert str(cancelled["UID"]) == str(before["UID"])
    assert cancelled["SEQUENCE"] > before["SEQUENCE"]
    assert not list(cancelled.walk("VALARM"))


def test_the_uid_differs_between_bookings(clinic):
    mine = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    other = services.booking_create(actor=clinic.desk, slot=clinic.slot)
    assert booking_uid(mine) != booking_uid(other)
    assert event_of(booking_ics(mine))[1]["UID"] != event_of(booking_ics(other))[1]["UID"]


def test_the_file_speaks_the_language_asked(clinic):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    booking = Booking.objects.select_related("slot__service__point", "slot__resource").get(pk=booking.pk)
    english = event_of(booking_ics(booking, language="en", now=timezone.now()))[1]
    chinese = event_of(booking_ics(booking, language="zh-hans"))[1]
    assert "Booking reference" in str(english["DESCRIPTION"])
    assert "预约号" in str(chinese["DESCRIPTION"])


def test_only_those_who_may_see_the_booking_download_it(clinic, api, city):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    assert api(city.users["admin"]).get(url(booking)).status_code == 200
    assert api(clinic.desk).get(url(booking)).status_code == 200  # the hospital's desk
    # Another citizen, and staff of another community (A1: the health centre, not the hospital): as if absent.
    stranger = city.users["worker2"]
    for user in (stranger, city.users["director"]):
        response = api(user).get(url(booking))
        assert response.status_code == 404
        assert response.json()["error"]["status"] == 404
    from rest_framework.test import APIClient

    assert APIClient().get(url(booking)).status_code == 401


def test_a_partners_key_reads_the_file_in_its_subtree_with_booking_read(clinic, city):
    from rest_framework.test import APIClient

    from partners.services import api_key_create, partner_ensure

    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    partner = partner_ensure(actor=None, code="his", name="医院信息系统")

    def client(scopes, node):
        _key, text = api_key_create(actor=None, partner=partner, scopes=scopes, node=node)
        keyed = APIClient()
        keyed.credentials(HTTP_AUTHORIZATION=f"Api-Key {text}")
        return keyed

    assert client(["booking.read"], city.nodes["A2"]).get(url(booking)).status_code == 200
    assert client(["booking.read"], city.nodes["A1"]).get(url(booking)).status_code == 404  # another subtree
    assert client(["cases.read"], city.nodes["A2"]).get(url(booking)).status_code == 403  # no booking scope
