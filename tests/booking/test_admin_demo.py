"""The demo's desk account `clinic` in the admin: the hospital and nothing else of the demo's three
service points, in every list of the booking admin, the desk and the forms; the health centre's and
the service hall's records can neither be opened nor acted on. The seed runs once for the module in a
transaction rolled back at the end."""

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse

from services.booking import services
from services.booking.models import BookingStatus, PointKind, ServicePoint
from services.booking.selectors import slot_list

pytestmark = pytest.mark.slow

POINT_OF = {"servicepoint": "pk", "department": "point", "service": "point", "resource": "point",
            "scheduletemplate": "resource__point", "slot": "point", "booking": "slot__point"}


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture
def clinic_client(seeded, db):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(get_user_model().objects.get(username="clinic"))
    return client


def url(model: str, view: str, *args) -> str:
    return reverse(f"admin:booking_{model}_{view}", args=args)


@pytest.mark.parametrize("model", list(POINT_OF))
def test_clinic_lists_the_hospital_only(clinic_client, model):
    hospital = ServicePoint.objects.get(kind=PointKind.HOSPITAL)
    others = ServicePoint.objects.exclude(pk=hospital.pk)
    assert others.count() == 2
    rows = apps.get_model("booking", model).objects
    mine = set(rows.filter(**{POINT_OF[model]: hospital.pk}).values_list("pk", flat=True))
    response = clinic_client.get(url(model, "changelist"), {"all": ""} if model == "slot" else {})
    assert response.status_code == 200
    listed = {obj.pk for obj in response.context["cl"].queryset}
    assert listed == mine and mine
    for other in others:
        theirs = rows.filter(**{POINT_OF[model]: other.pk}).first()
        if theirs is not None:
            assert clinic_client.get(url(model, "change", theirs.pk)).status_code == 302


def test_clinic_cannot_act_on_the_health_centre(clinic_client):
    centre = ServicePoint.objects.get(kind=PointKind.HEALTH_CENTRE)
    hall = ServicePoint.objects.get(kind=PointKind.SERVICE_HALL)
    for point in (centre, hall):
        assert clinic_client.get(url("booking", "desk"), {"point": point.pk}).status_code == 404
    citizen = get_user_model().objects.get(username="citizen")
    for point in (centre, hall):
        slot = slot_list(available=True).filter(point=point).order_by("start").first()
        theirs = services.booking_create(actor=citizen, slot=slot)
        assert clinic_client.post(url("booking", "desk"), {"booking": theirs.pk, "do": "check_in"}).status_code == 404
        clinic_client.post(url("booking", "changelist"),
                           {"action": "cancel", "_selected_action": [theirs.pk], "index": 0})
        assert clinic_client.get(url("booking", "result", theirs.pk)).status_code == 404
        theirs.refresh_from_db()
        assert theirs.status == BookingStatus.BOOKED
    html = clinic_client.get(url("closure", "add")).content.decode()
    assert ServicePoint.objects.get(kind=PointKind.HOSPITAL).name in html
    assert centre.name not in html and hall.name not in html
