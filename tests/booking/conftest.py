"""A hospital (in community A2) with one expert clinic, a health centre (A1) and slots ahead, built with
the real services; `desk` manages the hospital only."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from services.booking.models import (
    Department,
    PointKind,
    Resource,
    ResourceKind,
    Service,
    ServicePoint,
    Slot,
)
from tests.factories import UserFactory


def make_slot(resource, service, *, hours=48, capacity=5, minutes=30):
    start = (timezone.now() + timedelta(hours=hours)).replace(second=0, microsecond=0)
    return Slot.objects.create(point=resource.point, resource=resource, service=service, start=start,
                               end=start + timedelta(minutes=minutes), capacity=capacity)


@pytest.fixture
def clinic(city):
    hospital = ServicePoint.objects.create(kind=PointKind.HOSPITAL, name="市第一医院", code="hospital-1",
                                           node=city.nodes["A2"])
    cardiology = Department.objects.create(point=hospital, name="心内科", code="cardiology")
    service = Service.objects.create(point=hospital, department=cardiology, name="心内科专家门诊",
                                     duration_minutes=15, fee=Decimal("50.00"))
    expert = Resource.objects.create(point=hospital, department=cardiology, kind=ResourceKind.EXPERT, name="王建国",
                                     title="主任医师")
    expert.services.add(service)
    other = Resource.objects.create(point=hospital, department=cardiology, kind=ResourceKind.EXPERT, name="李敏",
                                    title="副主任医师")
    other.services.add(service)
    centre = ServicePoint.objects.create(kind=PointKind.HEALTH_CENTRE, name="社区A1卫生服务中心", code="centre-a1",
                                         node=city.nodes["A1"])
    checkup = Service.objects.create(point=centre, name="慢病随访", duration_minutes=20)
    nurse = Resource.objects.create(point=centre, kind=ResourceKind.COUNTER, name="随访门诊", title="1号诊室")
    nurse.services.add(checkup)
    desk = UserFactory(username="desk")
    for codename in ("view_gridnode", "view_booking", "manage_booking"):
        assign_perm(f"grid.{codename}", desk, city.nodes["A2"])
    citizen = city.users["citizen"]
    return SimpleNamespace(
        city=city, hospital=hospital, department=cardiology, service=service, expert=expert, other=other,
        centre=centre, checkup=checkup, nurse=nurse, desk=desk, citizen=citizen,
        slot=make_slot(expert, service), later=make_slot(expert, service, hours=50),
        other_slot=make_slot(other, service, hours=48),
    )


@pytest.fixture
def api():
    def client_for(user):
        client = APIClient()
        client.force_authenticate(user)
        return client
    return client_for
