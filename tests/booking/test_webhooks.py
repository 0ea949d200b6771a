"""booking.changed: registered for keys with booking.read, published on every status change with ids and
the state only, to the webhooks whose key's subtree holds the service point."""

import json

import pytest

from partners.models import Webhook, WebhookDelivery
from partners.services import api_key_create, partner_ensure
from partners.webhooks import event_types
from services.booking import services

pytestmark = pytest.mark.django_db


def test_event_is_registered_for_booking_read():
    assert event_types()["booking.changed"].scopes == ("booking.read",)


def test_status_changes_are_published_to_the_subtree(clinic):
    partner = partner_ensure(actor=None, code="his", name="医院信息系统")
    inside, _ = api_key_create(actor=None, partner=partner, scopes=["booking.read"], node=clinic.city.nodes["A2"])
    outside, _ = api_key_create(actor=None, partner=partner, scopes=["booking.read"], node=clinic.city.nodes["B"])
    for key in (inside, outside):
        Webhook.objects.create(key=key, url="https://hooks.example/civic", events=["booking.changed"], secret="s")

    booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot, hold=True)
    services.booking_confirm(actor=clinic.citizen, booking=booking)
    services.booking_cancel(actor=clinic.citizen, booking=booking)

    deliveries = WebhookDelivery.objects.order_by("id")
    assert {d.webhook.key_id for d in deliveries} == {inside.pk}
    data = [json.loads(d.body)["data"] for d in deliveries]
    assert [d["status"] for d in data] == ["held", "booked", "cancelled"]
    assert data[0] == {"id": booking.pk, "reference": booking.reference, "status": "held",
                       "slot": clinic.slot.pk, "point": clinic.hospital.pk}
