"""The billing API end to end: providers push, citizens apply, see and pay their bills."""

from decimal import Decimal

import pytest

from services.billing.models import Bill, Payment, Subscription
from tests.billing.conftest import bill_item, card_with, new_key, user_client

pytestmark = pytest.mark.django_db


def test_apply_confirm_push_pay_by_card(water, citizen, citizen_client):
    water.client.post("/api/v1/billing/provider/bills/", [bill_item("W-0", amount="42.50", period="2026-01")],
                      format="json")
    response = citizen_client.post("/api/v1/billing/subscriptions/", {
        "provider": "water", "account_number": "A-1", "holder_name": "陈明", "proof_method": "last_amount",
        "proof_value": "42.50", "channels": ["in_app", "email"]}, format="json")
    assert response.status_code == 201, response.json()
    subscription_id = response.json()["id"]
    assert response.json()["status"] == "pending"

    queue = water.client.get("/api/v1/billing/provider/subscriptions/?status=pending").json()
    assert [s["id"] for s in queue["results"]] == [subscription_id]
    assert queue["results"][0]["proof_matches"] is True
    response = water.client.post(f"/api/v1/billing/provider/subscriptions/{subscription_id}/confirm/")
    assert response.status_code == 200 and response.json()["status"] == "active"

    response = water.client.post("/api/v1/billing/provider/bills/", [bill_item("W-1", amount="123.45")],
                                 format="json")
    assert response.status_code == 201 and response.json() == {"created": 1, "unchanged": 0}

    bills = citizen_client.get("/api/v1/billing/bills/?status=issued").json()["results"]
    assert [(b["bill_number"], b["amount"]) for b in bills] == [("W-1", "123.45"), ("W-0", "42.50")]
    detail = citizen_client.get(f"/api/v1/billing/bills/{bills[0]['id']}/").json()
    assert detail["lines"] == [{"description": "usage", "amount": "123.45"}]

    card_with(citizen, "200.00")
    response = citizen_client.post("/api/v1/billing/payments/", {"bills": [bills[0]["id"]], "method": "card"},
                                   format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "succeeded" and body["amount"] == "123.45" and body["bills"] == [bills[0]["id"]]
    card = citizen_client.get("/api/v1/billing/card/").json()
    assert card["balance"] == "76.55"
    assert [m["amount"] for m in card["movements"]] == ["-123.45", "200.00"]
    assert Bill.objects.get(pk=bills[0]["id"]).status == Bill.Status.PAID
    paid = water.client.get(f"/api/v1/billing/provider/payments/?date={body['settled_at'][:10]}").json()
    assert [(p["bill_number"], p["amount"]) for p in paid] == [("W-1", "123.45")]


def test_gateway_payment_is_pending_until_the_gateway_answers(subscribed, citizen, citizen_client, client,
                                                              django_capture_on_commit_callbacks):
    response = citizen_client.post("/api/v1/billing/payments/", {"bills": [subscribed.bill.pk], "method": "gateway"},
                                   format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["gateway_url"].startswith("http://testserver/billing/gateway/gw_")
    page = body["gateway_url"].removeprefix("http://testserver")
    assert client.get(page).status_code == 200
    assert Payment.objects.get(pk=body["id"]).status == Payment.Status.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(page, {"outcome": "succeed"}).status_code == 200
    payment = Payment.objects.get(pk=body["id"])
    assert payment.status == Payment.Status.SUCCEEDED
    subscribed.bill.refresh_from_db()
    assert subscribed.bill.status == Bill.Status.PAID and subscribed.bill.amount_paid == Decimal("100.00")


def test_another_citizens_bills_are_not_found(subscribed, other_citizen):
    other = user_client(other_citizen)
    assert other.get("/api/v1/billing/bills/").json()["results"] == []
    assert other.get(f"/api/v1/billing/bills/{subscribed.bill.pk}/").status_code == 404
    response = other.post("/api/v1/billing/payments/", {"bills": [subscribed.bill.pk], "method": "card"},
                          format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404
    assert not Payment.objects.exists()


def test_cancel_keeps_history(subscribed, citizen_client):
    subscription = Subscription.objects.get()
    response = citizen_client.post(f"/api/v1/billing/subscriptions/{subscription.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert len(citizen_client.get("/api/v1/billing/bills/").json()["results"]) == 2
    assert citizen_client.post(f"/api/v1/billing/subscriptions/{subscription.pk}/cancel/").status_code == 409
