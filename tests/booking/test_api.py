"""The booking API: what can be booked, booking and its changes, the waitlist, bad input (a clear 4xx in
the error shape and nothing changed), partner keys, and the lists' query budgets."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from partners.services import api_key_create, partner_ensure
from services.booking import services
from services.booking.models import Booking, BookingStatus, Slot, WaitlistEntry
from tests.booking.conftest import make_slot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/booking/"


def booked(slot) -> int:
    return Slot.objects.values_list("booked", flat=True).get(pk=slot.pk)


def error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["status"] == status and body["message"]
    if code:
        assert body["code"] == code
    return body


#
# What can be booked
#


def test_points_services_resources(clinic, api):
    client = api(clinic.citizen)
    points = client.get(f"{URL}points/").json()["results"]
    assert {p["code"] for p in points} == {"hospital-1", "centre-a1"}
    assert client.get(f"{URL}points/?kind=hospital").json()["results"][0]["code"] == "hospital-1"
    services_ = client.get(f"{URL}services/?point={clinic.hospital.pk}").json()["results"]
    assert [(s["name"], s["fee"]) for s in services_] == [("心内科专家门诊", "50.00")]
    resources = client.get(f"{URL}resources/?service={clinic.service.pk}").json()["results"]
    assert {r["name"] for r in resources} == {"王建国", "李敏"}
    assert all(r["services"] == [clinic.service.pk] for r in resources)


def test_slots_with_filters_and_free_places(clinic, api):
    services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    full = make_slot(clinic.other, clinic.service, hours=70, capacity=1)
    services.booking_create(actor=UserFactory(is_staff=False), slot=full)
    client = api(clinic.citizen)
    rows = client.get(f"{URL}slots/?service={clinic.service.pk}").json()["results"]
    assert [r["id"] for r in rows] == [clinic.slot.pk, clinic.other_slot.pk, clinic.later.pk, full.pk]
    first = rows[0]
    assert (first["capacity"], first["booked"], first["free"]) == (5, 1, 4)
    assert first["resource"]["name"] == "王建国" and first["service"]["id"] == clinic.service.pk
    available = client.get(f"{URL}slots/?service={clinic.service.pk}&available=true").json()["results"]
    assert full.pk not in {r["id"] for r in available}
    unavailable = client.get(f"{URL}slots/?service={clinic.service.pk}&available=false").json()["results"]
    assert [r["id"] for r in unavailable] == [full.pk]
    day = timezone.localdate(full.start)
    dated = client.get(f"{URL}slots/?resource={clinic.other.pk}&date_from={day}&date_to={day}").json()["results"]
    assert [r["id"] for r in dated] == [full.pk]
    assert client.get(f"{URL}slots/?point={clinic.centre.pk}").json()["results"] == []


def test_slot_list_query_budget(clinic, api, query_budget):
    for hours in range(60, 80):
        make_slot(clinic.expert, clinic.service, hours=hours)
    client = api(clinic.citizen)
    with query_budget("booking.slots.list"):
        response = client.get(f"{URL}slots/?service={clinic.service.pk}&available=true")
    assert len(response.json()["results"]) == 23


#
# Booking
#


def test_book_at_once(clinic, api):
    response = api(clinic.citizen).post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "booked" and len(body["reference"]) == 8 and body["id"]
    assert body["slot"]["id"] == clinic.slot.pk and booked(clinic.slot) == 1


def test_hold_then_confirm(clinic, api):
    client = api(clinic.citizen)
    held = client.post(f"{URL}bookings/", {"slot": clinic.slot.pk, "hold": True}, format="json").json()
    assert held["status"] == "held" and held["hold_expires_at"]
    confirmed = client.post(f"{URL}bookings/{held['id']}/confirm/")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "booked"


def test_confirm_after_the_hold_lapsed(clinic, api):
    client = api(clinic.citizen)
    held = client.post(f"{URL}bookings/", {"slot": clinic.slot.pk, "hold": True}, format="json").json()
    Booking.objects.filter(pk=held["id"]).update(hold_expires_at=timezone.now() - timedelta(seconds=1))
    error(client.post(f"{URL}bookings/{held['id']}/confirm/"), 409, "hold_expired")
    assert Booking.objects.get(pk=held["id"]).status == BookingStatus.HELD  # the beat task releases it


def test_book_for_a_family_member(clinic, api):
    member = {"name": "张桂英", "id_number": "150102195001011232"}
    body = api(clinic.citizen).post(f"{URL}bookings/", {"slot": clinic.slot.pk, "family_member": member},
                                    format="json").json()
    assert body["family_member_name"] == "张桂英" and body["family_member_id_masked"] == "1501**********1232"


def test_idempotency_key_replays(clinic, api):
    client = api(clinic.citizen)
    key = str(uuid.uuid4())
    first = client.post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = client.post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert booked(clinic.slot) == 1
    error(client.post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json", HTTP_IDEMPOTENCY_KEY="nope"), 400)


def test_own_bookings_only(clinic, api):
    mine = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    theirs = services.booking_create(actor=UserFactory(is_staff=False), slot=clinic.slot)
    client = api(clinic.citizen)
    assert [b["id"] for b in client.get(f"{URL}bookings/").json()["results"]] == [mine.pk]
    error(client.get(f"{URL}bookings/{theirs.pk}/"), 404)
    error(client.post(f"{URL}bookings/{theirs.pk}/cancel/"), 404)
    assert Booking.objects.get(pk=theirs.pk).status == BookingStatus.BOOKED


def test_booking_list_query_budget(clinic, api, query_budget):
    for hours in range(60, 80):
        services.booking_create(actor=clinic.citizen, slot=make_slot(clinic.expert, clinic.service, hours=hours))
    with query_budget("booking.bookings.list"):
        response = api(clinic.citizen).get(f"{URL}bookings/")
    assert len(response.json()["results"]) == 20


def test_visit_result_shows_on_the_booking(clinic, api):
    today = make_slot(clinic.expert, clinic.service, hours=0.2)
    if timezone.localdate(today.start) != timezone.localdate():
        pytest.skip("too close to midnight")
    booking = services.booking_create(actor=clinic.citizen, slot=today)
    client = api(clinic.citizen)
    assert client.get(f"{URL}bookings/{booking.pk}/").json()["visit_result"] is None
    services.check_in(actor=clinic.desk, booking=booking)
    services.visit_result_record(actor=clinic.desk, booking=booking, text="血压正常")
    body = client.get(f"{URL}bookings/{booking.pk}/").json()
    assert (body["status"], body["visit_result"], body["visit_fee"]) == ("attended", "血压正常", "50.00")


#
# Cancel and reschedule
#


def test_cancel(clinic, api):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    response = api(clinic.citizen).post(f"{URL}bookings/{booking.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert booked(clinic.slot) == 0


def test_reschedule(clinic, api):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    response = api(clinic.citizen).post(f"{URL}bookings/{booking.pk}/reschedule/", {"slot": clinic.later.pk},
                                        format="json")
    assert response.status_code == 200, response.content
    assert response.json()["slot"]["id"] == clinic.later.pk and response.json()["sequence"] == 1
    assert (booked(clinic.slot), booked(clinic.later)) == (0, 1)


#
# Bad input: a clear 4xx in the error shape, and nothing changed
#


def test_slot_in_the_past(clinic, api):
    past = make_slot(clinic.expert, clinic.service, hours=-2)
    body = error(api(clinic.citizen).post(f"{URL}bookings/", {"slot": past.pk}, format="json"), 400, "invalid")
    assert "slot" in body["fields"]
    assert booked(past) == 0 and not Booking.objects.exists()


def test_unknown_slot_and_missing_slot(clinic, api):
    client = api(clinic.citizen)
    assert "slot" in error(client.post(f"{URL}bookings/", {"slot": 999999}, format="json"), 400)["fields"]
    assert "slot" in error(client.post(f"{URL}bookings/", {}, format="json"), 400)["fields"]
    assert not Booking.objects.exists()


def test_full_slot_answers_409_with_suggestions(clinic, api):
    full = make_slot(clinic.expert, clinic.service, hours=30, capacity=1)
    services.booking_create(actor=UserFactory(is_staff=False), slot=full)
    body = error(api(clinic.citizen).post(f"{URL}bookings/", {"slot": full.pk}, format="json"), 409, "slot_full")
    assert [s["id"] for s in body["suggestions"]] == [clinic.slot.pk, clinic.other_slot.pk, clinic.later.pk]
    assert all(s["free"] > 0 and s["service"]["id"] == clinic.service.pk for s in body["suggestions"])
    assert booked(full) == 1 and not Booking.objects.filter(citizen=clinic.citizen).exists()


def test_second_booking_of_the_same_slot(clinic, api):
    client = api(clinic.citizen)
    assert client.post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json").status_code == 201
    error(client.post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json"), 409, "already_booked")
    assert booked(clinic.slot) == 1 and Booking.objects.count() == 1


def test_cancellation_after_the_cut_off(clinic, api):
    soon = make_slot(clinic.expert, clinic.service, hours=1)
    booking = services.booking_create(actor=clinic.citizen, slot=soon)
    error(api(clinic.citizen).post(f"{URL}bookings/{booking.pk}/cancel/"), 409, "cut_off_passed")
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.BOOKED and booked(soon) == 1


def test_booking_while_blocked(clinic, api):
    from services.booking.models import BookingBlock

    BookingBlock.objects.create(citizen=clinic.citizen, reason="3 no-shows", until=timezone.now() + timedelta(days=9))
    body = error(api(clinic.citizen).post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json"), 403,
                 "booking_blocked")
    assert body["until"]
    assert booked(clinic.slot) == 0 and not Booking.objects.exists()


def test_reschedule_to_a_full_slot(clinic, api):
    full = make_slot(clinic.other, clinic.service, hours=49, capacity=1)
    services.booking_create(actor=UserFactory(is_staff=False), slot=full)
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    body = error(api(clinic.citizen).post(f"{URL}bookings/{booking.pk}/reschedule/", {"slot": full.pk},
                                          format="json"), 409, "slot_full")
    assert clinic.later.pk in [s["id"] for s in body["suggestions"]]
    booking.refresh_from_db()
    assert (booking.slot_id, booking.sequence) == (clinic.slot.pk, 0)
    assert (booked(clinic.slot), booked(full)) == (1, 1)


def test_cancel_a_cancelled_booking_again_is_a_no_op_but_confirming_it_is_refused(clinic, api):
    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    client = api(clinic.citizen)
    client.post(f"{URL}bookings/{booking.pk}/cancel/")
    assert client.post(f"{URL}bookings/{booking.pk}/cancel/").json()["status"] == "cancelled"
    error(client.post(f"{URL}bookings/{booking.pk}/confirm/"), 409, "invalid_status")
    assert booked(clinic.slot) == 0


def test_anonymous_is_refused(clinic):
    assert APIClient().get(f"{URL}slots/").status_code == 401
    assert APIClient().post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json").status_code == 401
    assert not Booking.objects.exists()


#
# Waitlist
#


def test_waitlist_join_shows_the_position_and_leave(clinic, api):
    full = make_slot(clinic.expert, clinic.service, hours=30, capacity=1)
    services.booking_create(actor=UserFactory(is_staff=False), slot=full)
    services.waitlist_join(actor=UserFactory(is_staff=False), slot=full)
    client = api(clinic.citizen)
    response = client.post(f"{URL}waitlist/", {"slot": full.pk}, format="json")
    assert response.status_code == 201 and response.json()["position"] == 2
    entry = response.json()["id"]
    error(client.post(f"{URL}waitlist/", {"slot": full.pk}, format="json"), 409, "already_waiting")
    error(client.post(f"{URL}waitlist/", {"slot": clinic.slot.pk}, format="json"), 409, "slot_has_places")
    assert [e["position"] for e in client.get(f"{URL}waitlist/").json()["results"]] == [2]
    left = client.post(f"{URL}waitlist/{entry}/leave/")
    assert left.json()["status"] == "left" and left.json()["position"] is None
    assert WaitlistEntry.objects.filter(citizen=clinic.citizen, status="waiting").count() == 0


#
# Partner keys
#


def test_partner_key_reads_bookings_of_its_subtree_only(clinic, api):
    inside = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    services.booking_create(actor=clinic.citizen, slot=make_slot(clinic.nurse, clinic.checkup))
    partner = partner_ensure(actor=None, code="hospital-his", name="医院信息系统")
    _key, text = api_key_create(actor=None, partner=partner, scopes=["booking.read"], node=clinic.city.nodes["A2"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {text}")
    assert [b["id"] for b in client.get(f"{URL}bookings/").json()["results"]] == [inside.pk]
    assert client.get(f"{URL}slots/").status_code == 200
    assert client.post(f"{URL}bookings/", {"slot": clinic.slot.pk}, format="json").status_code == 403
    _key, other = api_key_create(actor=None, partner=partner, scopes=["cases.read"], node=clinic.city.nodes["A2"])
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {other}")
    assert client.get(f"{URL}bookings/").status_code == 403
