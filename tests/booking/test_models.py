"""What the database itself refuses, whatever the code above it does."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from services.booking.models import Booking, BookingStatus, PointKind, Resource, Service, ServicePoint, Slot


@pytest.fixture
def slot(city):
    point = ServicePoint.objects.create(kind=PointKind.HOSPITAL, name="市医院", code="city-hospital",
                                        node=city.nodes["A2"])
    service = Service.objects.create(point=point, name="心内科专家门诊")
    resource = Resource.objects.create(point=point, kind="expert", name="王医生")
    start = timezone.now() + timedelta(days=1)
    return Slot.objects.create(point=point, resource=resource, service=service, start=start,
                               end=start + timedelta(minutes=30), capacity=2)


def test_paths_follow_the_node(slot, city):
    assert slot.point.node_path == city.nodes["A2"].path
    assert slot.node_path == city.nodes["A2"].path


@pytest.mark.parametrize("booked", [-1, 3])
def test_booked_stays_within_capacity(slot, booked):
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(booked=booked)


def test_capacity_cannot_go_below_booked(slot):
    Slot.objects.filter(pk=slot.pk).update(booked=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(capacity=1)


def test_one_active_booking_per_person_and_slot(slot, city):
    citizen = city.users["citizen"]
    first = Booking.objects.create(citizen=citizen, slot=slot)
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(citizen=citizen, slot=slot)
    # A family member is another person; a cancelled booking no longer counts.
    Booking.objects.create(citizen=citizen, slot=slot, family_member_name="李芳", person_key="k1")
    Booking.objects.filter(pk=first.pk).update(status=BookingStatus.CANCELLED)
    assert Booking.objects.create(citizen=citizen, slot=slot).reference != first.reference
