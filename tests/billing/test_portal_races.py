"""The portal's pay form sent many times at once (a double tap, a phone resending), on PostgreSQL with
parallel connections (tests/support/race.py): one token pays once, whatever the copies' order; each
copy lands on that payment or on the list saying it is being processed."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from services.billing.models import Card, Payment
from tests.billing.conftest import card_with
from tests.billing.test_portal import portal_client, token_of
from tests.support.race import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


def test_the_same_pay_form_sent_ten_times_at_once_pays_once(subscribed, citizen):
    card_with(citizen, "500.00")
    page = portal_client(citizen).get(reverse("portal:billing:pay"), {"bills": [subscribed.bill.pk]})
    form = {"bills": [subscribed.bill.pk], "method": "card", "token": token_of(page)}

    def send(_index, client: Client):
        response = client.post(reverse("portal:billing:pay"), form)
        return response.status_code, response.get("Location", "")

    outcome = race(send, threads=10, prepare=lambda index: portal_client(citizen))
    assert outcome.errors == []
    payment = Payment.objects.get()
    assert (payment.status, payment.amount) == ("succeeded", Decimal("100.00"))
    assert Card.objects.get(holder=citizen).balance == Decimal("400.00")
    landing = {reverse("portal:billing:payment", args=[payment.pk]), reverse("portal:billing:payments")}
    assert all(status == 302 and location in landing for status, location in outcome.results), outcome.results
    assert (302, reverse("portal:billing:payment", args=[payment.pk])) in outcome.results


def test_two_pay_forms_for_one_bill_at_once_pay_it_once(subscribed, citizen):
    """Two tabs, each with its own form (its own token): the database lets one payment hold the bill."""
    card_with(citizen, "500.00")

    def prepare(_index):
        client = portal_client(citizen)
        page = client.get(reverse("portal:billing:pay"), {"bills": [subscribed.bill.pk]})
        return client, {"bills": [subscribed.bill.pk], "method": "card", "token": token_of(page)}

    def send(_index, prepared):
        client, form = prepared
        return client.post(reverse("portal:billing:pay"), form).status_code

    outcome = race(send, threads=6, prepare=prepare)
    assert outcome.errors == []
    assert sorted(outcome.results) == [302] + [409] * 5
    assert Payment.objects.count() == 1
    assert Card.objects.get(holder=citizen).balance == Decimal("400.00")
