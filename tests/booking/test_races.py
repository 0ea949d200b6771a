"""The booking guarantees under at least 200 concurrent requests through the API, on PostgreSQL: capacity
never exceeded, no duplicate booking, a cancellation frees its place exactly once, a reschedule is atomic
(and reschedules crossing each other never deadlock). Each thread has its own connection (tests/support/race.py)."""

import uuid
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from services.booking import services
from services.booking.models import SEAT_STATUSES, Booking, Slot
from tests.booking.conftest import make_slot
from tests.factories import UserFactory
from tests.support.race import race

pytestmark = [pytest.mark.django_db(transaction=True)]
URL = "/api/v1/booking/bookings/"
THREADS = 200


def client_for(user_pk: int) -> APIClient:
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(pk=user_pk))
    return client


def citizens(count: int) -> list[int]:
    return [UserFactory(username=f"racer{i}", is_staff=False).pk for i in range(count)]


def seats(slot: Slot) -> int:
    return Booking.objects.filter(slot=slot, status__in=SEAT_STATUSES).count()


def assert_counters_true(*slots: Slot) -> None:
    for slot in slots:
        slot.refresh_from_db()
        assert slot.booked == seats(slot) <= slot.capacity


def test_capacity_is_never_exceeded(postgres, clinic):
    slot = make_slot(clinic.expert, clinic.service, capacity=5, hours=30)
    people = citizens(THREADS)

    outcome = race(lambda i, client: client.post(URL, {"slot": slot.pk}, format="json").status_code, THREADS,
                   prepare=lambda i: client_for(people[i]))

    assert outcome.errors == []
    assert Counter(outcome.results) == {201: 5, 409: THREADS - 5}
    assert_counters_true(slot)
    assert slot.booked == 5


def test_one_person_gets_one_booking_however_often_they_click(postgres, clinic):
    slot = make_slot(clinic.expert, clinic.service, capacity=THREADS, hours=30)
    citizen = clinic.citizen.pk

    outcome = race(lambda i, client: client.post(URL, {"slot": slot.pk}, format="json").status_code, THREADS,
                   prepare=lambda i: client_for(citizen))

    assert outcome.errors == []
    assert Counter(outcome.results) == {201: 1, 409: THREADS - 1}
    assert_counters_true(slot)
    assert slot.booked == 1


def test_the_same_idempotency_key_books_once_and_replays(postgres, clinic):
    slot = make_slot(clinic.expert, clinic.service, capacity=THREADS, hours=30)
    citizen, key = clinic.citizen.pk, str(uuid.uuid4())

    def send(i, client):
        response = client.post(URL, {"slot": slot.pk}, format="json", HTTP_IDEMPOTENCY_KEY=key)
        return response.status_code, response.json().get("id")

    outcome = race(send, THREADS, prepare=lambda i: client_for(citizen))

    assert outcome.errors == []
    statuses = Counter(status for status, _id in outcome.results)
    assert statuses == {201: 1, 200: THREADS - 1}
    assert len({booking_id for _status, booking_id in outcome.results}) == 1
    assert_counters_true(slot)


def test_a_cancellation_frees_its_place_exactly_once(postgres, clinic):
    slot = make_slot(clinic.expert, clinic.service, capacity=5, hours=30)
    others = [UserFactory(is_staff=False) for _ in range(2)]
    for person in others:
        services.booking_create(actor=person, slot=slot)
    booking = services.booking_create(actor=clinic.citizen, slot=slot)
    citizen = clinic.citizen.pk

    outcome = race(lambda i, client: client.post(f"{URL}{booking.pk}/cancel/").status_code, THREADS,
                   prepare=lambda i: client_for(citizen))

    assert outcome.errors == []
    assert Counter(outcome.results) == {200: THREADS}
    assert_counters_true(slot)
    assert slot.booked == 2  # freed once: 3 → 2, never 1


def test_bookings_and_cancellations_mixed_keep_the_counter_true(postgres, clinic):
    slot = make_slot(clinic.expert, clinic.service, capacity=50, hours=30)
    people = citizens(THREADS)
    existing = [services.booking_create(actor=get_user_model().objects.get(pk=pk), slot=slot)
                for pk in people[:50]]

    def act(i, client):
        if i < 50:
            return client.post(f"{URL}{existing[i].pk}/cancel/").status_code
        return client.post(URL, {"slot": slot.pk}, format="json").status_code

    outcome = race(act, THREADS, prepare=lambda i: client_for(people[i]))

    assert outcome.errors == []
    counts = Counter(outcome.results)
    assert counts[200] == 50 and counts[201] + counts[409] == THREADS - 50 and counts[201] <= 50
    assert_counters_true(slot)
    assert slot.booked == counts[201]


def test_reschedules_are_atomic_and_crossing_ones_do_not_deadlock(postgres, clinic):
    left = make_slot(clinic.expert, clinic.service, capacity=150, hours=40)
    right = make_slot(clinic.other, clinic.service, capacity=120, hours=40)
    people = citizens(THREADS)
    users = get_user_model().objects.in_bulk(people)
    bookings = [services.booking_create(actor=users[pk], slot=left if i % 2 == 0 else right)
                for i, pk in enumerate(people)]

    def move(i, client):
        target = right if bookings[i].slot_id == left.pk else left
        response = client.post(f"{URL}{bookings[i].pk}/reschedule/", {"slot": target.pk}, format="json")
        return response.status_code, response.json().get("error", {}).get("code")

    outcome = race(move, THREADS, prepare=lambda i: client_for(people[i]))

    assert outcome.errors == []
    assert set(outcome.results) <= {(200, None), (409, "slot_full")}
    assert_counters_true(left, right)
    assert left.booked + right.booked == THREADS  # every booking holds exactly one place
    moved = Booking.objects.filter(sequence=1).count()
    assert moved == sum(1 for status, _code in outcome.results if status == 200)
    # A refused move left its booking where it was, unchanged.
    assert Booking.objects.filter(sequence=0).count() == THREADS - moved


def test_a_closure_racing_cancellations_and_bookings_leaves_no_booking_and_a_true_counter(postgres, clinic):
    from datetime import timedelta

    slot = make_slot(clinic.expert, clinic.service, capacity=150, hours=30)
    people = citizens(THREADS - 1)
    users = get_user_model().objects.in_bulk(people)
    existing = [services.booking_create(actor=users[pk], slot=slot) for pk in people[:100]]
    desk = clinic.desk.pk

    def act(i, loaded):
        if i == THREADS - 1:
            closure = services.closure_create(actor=loaded, point_or_resource=clinic.expert,
                                              starts=slot.start - timedelta(minutes=1), ends=slot.end,
                                              reason="专家停诊")
            return "closed", closure.cancelled_count
        if i < 100:
            return "cancel", loaded.post(f"{URL}{existing[i].pk}/cancel/").status_code
        return "book", loaded.post(URL, {"slot": slot.pk}, format="json").status_code

    def load(i):
        return get_user_model().objects.get(pk=desk) if i == THREADS - 1 else client_for(people[i])

    outcome = race(act, THREADS, prepare=load)

    assert outcome.errors == []
    results = Counter((kind, code) for kind, code in outcome.results if kind != "closed")
    assert set(results) <= {("cancel", 200), ("book", 201), ("book", 400), ("book", 409)}
    assert results[("cancel", 200)] == 100
    slot.refresh_from_db()
    assert slot.closed and slot.booked == seats(slot) == 0
