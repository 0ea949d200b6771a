"""Paying bills: all or nothing, never twice, never below zero; Idempotency-Key semantics; the simulated
gateway's outcomes and its signed callback."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from services.billing import gateway, selectors, services
from services.billing.models import (
    Bill,
    Card,
    GatewayCharge,
    IdempotencyRecord,
    JournalLeg,
    Payment,
    PaymentBill,
)
from services.billing.tasks import purge_idempotency_records, requery_unknown_payments
from tests.billing.conftest import card_with, new_key

pytestmark = pytest.mark.django_db

PAY = "/api/v1/billing/payments/"


def pay(client, bills, method="card", key=None):
    return client.post(PAY, {"bills": bills, "method": method}, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key())


def nothing_moved(card: Card, balance: str):
    card.refresh_from_db()
    assert card.balance == Decimal(balance)
    assert not PaymentBill.objects.filter(holds=True).exists()
    assert not JournalLeg.objects.filter(account__startswith="provider:").exists()


def test_several_bills_as_one_payment(subscribed, citizen, citizen_client):
    card = card_with(citizen, "500.00")
    response = pay(citizen_client, [subscribed.bill.pk, subscribed.old_bill.pk])
    assert response.status_code == 201
    assert response.json()["amount"] == "180.00" and sorted(response.json()["bills"]) == sorted(
        [subscribed.bill.pk, subscribed.old_bill.pk])
    card.refresh_from_db()
    assert card.balance == Decimal("320.00")
    assert set(Bill.objects.values_list("status", flat=True)) == {"paid"}
    # One entry: the card debited 180, the provider credited per bill.
    legs = sorted(JournalLeg.objects.values_list("account", "amount"))
    assert legs == [(f"card:{card.pk}", Decimal("-500.00")), (f"card:{card.pk}", Decimal("180.00")),
                    ("cash", Decimal("500.00")), ("provider:water", Decimal("-100.00")),
                    ("provider:water", Decimal("-80.00"))]


def test_insufficient_funds_is_409_and_nothing_moves(subscribed, citizen, citizen_client):
    card = card_with(citizen, "150.00")
    response = pay(citizen_client, [subscribed.bill.pk, subscribed.old_bill.pk])
    assert response.status_code == 409 and response.json()["error"]["code"] == "insufficient_funds"
    nothing_moved(card, "150.00")
    assert not Payment.objects.exists()


def test_paying_a_paid_or_void_bill_is_409(subscribed, citizen, citizen_client):
    card = card_with(citizen, "500.00")
    assert pay(citizen_client, [subscribed.bill.pk]).status_code == 201
    response = pay(citizen_client, [subscribed.bill.pk])
    assert response.status_code == 409 and response.json()["error"]["code"] == "bill_not_payable"
    services.bill_void(provider=subscribed.water.provider, bill_number="W-0")
    assert pay(citizen_client, [subscribed.old_bill.pk]).status_code == 409
    card.refresh_from_db()
    assert card.balance == Decimal("400.00") and Payment.objects.count() == 1


@pytest.mark.parametrize("body", [
    {"bills": [], "method": "card"},
    {"bills": ["x"], "method": "card"},
    {"bills": [1], "method": "cash"},
    {"method": "card"},
])
def test_bad_payment_bodies_are_400(subscribed, citizen, citizen_client, body):
    response = citizen_client.post(PAY, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"
    assert not Payment.objects.exists()


def test_idempotency_key_semantics(subscribed, citizen, citizen_client):
    card_with(citizen, "500.00")
    response = citizen_client.post(PAY, {"bills": [subscribed.bill.pk], "method": "card"}, format="json")
    assert response.status_code == 400 and "idempotency_key" in response.json()["error"]["fields"]
    key = new_key()
    first = pay(citizen_client, [subscribed.bill.pk], key=key)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    again = pay(citizen_client, [subscribed.bill.pk], key=key)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = pay(citizen_client, [subscribed.old_bill.pk], key=key)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_mismatch"
    assert Payment.objects.count() == 1
    # A refusal is replayed too: the same key answers the same 409 without trying again.
    refused_key = new_key()
    assert pay(citizen_client, [subscribed.bill.pk], key=refused_key).status_code == 409
    replayed = pay(citizen_client, [subscribed.bill.pk], key=refused_key)
    assert replayed.status_code == 409 and replayed["Idempotent-Replayed"] == "true"


def test_a_key_still_running_is_409_and_keys_are_per_caller(subscribed, citizen, other_citizen, citizen_client):
    from civic.idempotency import request_fingerprint

    card_with(citizen, "500.00")
    key = new_key()
    body = {"bills": [subscribed.bill.pk], "method": "card"}
    IdempotencyRecord.objects.create(scope=f"user:{citizen.pk}", key=key,
                                     request_hash=request_fingerprint("POST", PAY, body))
    response = citizen_client.post(PAY, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_in_progress"
    assert not Payment.objects.exists()
    from tests.billing.conftest import user_client

    # The same key from another caller is another key: it runs (and finds the bill not theirs).
    assert pay(user_client(other_citizen), [subscribed.bill.pk], key=key).status_code == 404


def test_idempotency_records_are_purged_after_24_hours(db):
    old = IdempotencyRecord.objects.create(scope="user:1", key="a", request_hash="x",
                                           created_at=timezone.now() - timedelta(hours=25))
    kept = IdempotencyRecord.objects.create(scope="user:1", key="b", request_hash="x",
                                            created_at=timezone.now() - timedelta(hours=23))
    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == [kept.pk]
    assert old.pk != kept.pk


#
# The gateway
#


def gateway_payment(citizen_client, bill):
    response = pay(citizen_client, [bill.pk], method="gateway")
    assert response.status_code == 201 and response.json()["status"] == "pending"
    return Payment.objects.get(pk=response.json()["id"])


def test_a_bill_being_paid_at_the_gateway_cannot_be_paid_again(subscribed, citizen, citizen_client):
    card = card_with(citizen, "500.00")
    gateway_payment(citizen_client, subscribed.bill)
    response = pay(citizen_client, [subscribed.bill.pk])
    assert response.status_code == 409 and response.json()["error"]["code"] == "bill_paid"
    card.refresh_from_db()
    assert card.balance == Decimal("500.00")


def test_a_failed_gateway_payment_frees_the_bill(subscribed, citizen, citizen_client,
                                                 django_capture_on_commit_callbacks):
    payment = gateway_payment(citizen_client, subscribed.bill)
    with django_capture_on_commit_callbacks(execute=True):
        gateway.charge_complete(reference=payment.gateway_reference, outcome="fail")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert not JournalLeg.objects.exists()
    card_with(citizen, "500.00")
    assert pay(citizen_client, [subscribed.bill.pk]).status_code == 201


def test_a_timeout_leaves_the_payment_unknown_until_the_gateway_is_asked(subscribed, citizen, citizen_client,
                                                                         django_capture_on_commit_callbacks):
    payment = gateway_payment(citizen_client, subscribed.bill)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        gateway.charge_complete(reference=payment.gateway_reference, outcome="timeout")
    assert callbacks == []  # no callback comes
    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN
    assert pay(citizen_client, [subscribed.bill.pk]).status_code == 409  # still held: never paid twice
    assert requery_unknown_payments()["succeeded"] == 1
    payment.refresh_from_db()
    subscribed.bill.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED and subscribed.bill.status == Bill.Status.PAID


def test_a_pending_payment_without_answer_times_out_to_unknown(subscribed, citizen_client):
    payment = gateway_payment(citizen_client, subscribed.bill)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=1))
    counts = requery_unknown_payments()
    assert counts["timed_out"] == 1 and counts["still_unknown"] == 1  # the charge is still open
    payment.refresh_from_db()
    assert payment.status == Payment.Status.UNKNOWN


@pytest.mark.parametrize("outcome", ["twice", "late"])
def test_late_and_duplicate_callbacks_settle_once(subscribed, citizen_client, django_capture_on_commit_callbacks,
                                                  outcome):
    payment = gateway_payment(citizen_client, subscribed.bill)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        gateway.charge_complete(reference=payment.gateway_reference, outcome=outcome)
    assert len(callbacks) == (2 if outcome == "twice" else 1)
    gateway.callback_send(payment.gateway_reference)  # and once more, much later
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert JournalLeg.objects.filter(entry__payment=payment).count() == 2
    subscribed.bill.refresh_from_db()
    assert subscribed.bill.amount_paid == Decimal("100.00")


def test_callbacks_with_a_wrong_signature_or_for_unknown_payments_are_refused(subscribed, citizen_client, client):
    payment = gateway_payment(citizen_client, subscribed.bill)
    GatewayCharge.objects.filter(reference=payment.gateway_reference).update(status="succeeded")
    charge = GatewayCharge.objects.get(reference=payment.gateway_reference)
    body = gateway.callback_body(charge)
    url = "/billing/gateway/callback/"

    def post(data, signature):
        return client.post(url, data, content_type="application/json", HTTP_GATEWAY_SIGNATURE=signature)

    assert post(body, "t=1,v1=00").status_code == 403
    assert post(body, gateway.sign(body, at=int(timezone.now().timestamp()) - 3600)).status_code == 403
    assert post(body, gateway.sign(body + b" ")).status_code == 403
    forged = json.dumps({"reference": "gw_nope", "status": "succeeded", "amount": "100.00"}).encode()
    response = post(forged, gateway.sign(forged))
    assert response.status_code == 404 and response.json()["error"]["status"] == 404
    wrong_amount = json.dumps({"reference": charge.reference, "status": "succeeded", "amount": "1.00"}).encode()
    assert post(wrong_amount, gateway.sign(wrong_amount)).status_code == 400
    assert post(b"[]", gateway.sign(b"[]")).status_code == 400
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and not JournalLeg.objects.exists()
    response = post(body, gateway.sign(body))
    assert response.status_code == 200 and response.json()["status"] == "succeeded"


def test_top_up_through_the_gateway(citizen, citizen_client, django_capture_on_commit_callbacks, client):
    response = citizen_client.post("/api/v1/billing/card/top-ups/", {"amount": "100.00"}, format="json",
                                   HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 201 and response.json()["status"] == "pending"
    assert response.json()["purpose"] == "top_up"
    page = response.json()["gateway_url"].removeprefix("http://testserver")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page, {"outcome": "succeed"})
    card = citizen_client.get("/api/v1/billing/card/").json()
    assert card["balance"] == "100.00" and card["movements"][0]["kind"] == "top_up"
    movements = citizen_client.get("/api/v1/billing/card/movements/").json()["results"]
    assert [m["amount"] for m in movements] == ["100.00"]


@pytest.mark.parametrize("amount", ["-5.00", "0", "1.001", "lots", ""])
def test_bad_top_ups_are_400(citizen, citizen_client, amount):
    response = citizen_client.post("/api/v1/billing/card/top-ups/", {"amount": amount}, format="json",
                                   HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 400
    assert not Payment.objects.exists()


def test_receipt_data(subscribed, citizen):
    card_with(citizen, "500.00")
    payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="card")
    data = selectors.receipt_data(payment)
    assert data["amount"] == Decimal("100.00") and data["status"] == "succeeded"
    assert [(b["bill_number"], b["amount"]) for b in data["bills"]] == [("W-1", Decimal("100.00"))]


def test_push_then_pay_never_exceeds_the_bill(subscribed, citizen):
    card_with(citizen, "500.00")
    services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="card")
    # The database refuses a paid amount above the bill's, whatever Python does.
    from django.db import IntegrityError, transaction
    from django.db.models import F

    with pytest.raises(IntegrityError), transaction.atomic():
        Bill.objects.filter(pk=subscribed.bill.pk).update(amount_paid=F("amount") + 1)
