"""Providers' API: the bulk push (all or nothing, idempotent by bill number), void, the subscription
queue, the day's payments; keys see only their own provider's data."""

import pytest

from services.billing import services
from services.billing.models import Bill, BillLine, UtilityAccount
from tests.billing.conftest import bill_item, card_with, key_client, make_provider, subscribe, user_client

pytestmark = pytest.mark.django_db

PUSH = "/api/v1/billing/provider/bills/"


def test_push_stores_bills_with_lines_and_a_checked_reference(water):
    items = [bill_item(f"W-{n}", account=f"A-{n % 3}", amount="10.05",
                       lines=[{"description": "water", "amount": "8.00"}, {"description": "sewage", "amount": "2.05"}])
             for n in range(30)]
    response = water.client.post(PUSH, items, format="json")
    assert response.status_code == 201 and response.json() == {"created": 30, "unchanged": 0}
    assert Bill.objects.count() == 30 and BillLine.objects.count() == 60
    assert UtilityAccount.objects.count() == 3
    for bill in Bill.objects.all():
        assert services.is_valid_reference(bill.payment_reference)
        assert str(bill.amount) == "10.05" and sum(line.amount for line in bill.lines.all()) == bill.amount


def test_the_same_push_again_changes_nothing(water):
    items = [bill_item("W-1"), bill_item("W-2")]
    assert water.client.post(PUSH, items, format="json").status_code == 201
    before = list(Bill.objects.order_by("pk").values())
    response = water.client.post(PUSH, items, format="json")
    assert response.status_code == 200 and response.json() == {"created": 0, "unchanged": 2}
    assert list(Bill.objects.order_by("pk").values()) == before


def test_other_content_under_a_known_number_is_409_and_nothing_is_stored(water):
    water.client.post(PUSH, [bill_item("W-1")], format="json")
    response = water.client.post(PUSH, [bill_item("W-2"), bill_item("W-1", amount="100.01")], format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "bill_conflict" and list(error["fields"]) == ["1.bill_number"]
    assert list(Bill.objects.values_list("bill_number", flat=True)) == ["W-1"]


@pytest.mark.parametrize(("field", "value", "key"), [
    ("amount", "-1.00", "1.amount"),
    ("amount", "1.005", "1.amount"),
    ("amount", 12.5, "1.amount"),
    ("amount", "abc", "1.amount"),
    ("period", "2026-13", "1.period"),
    ("due_date", "tomorrow", "1.due_date"),
    ("bill_number", "", "1.bill_number"),
])
def test_bad_items_refuse_the_whole_push(water, field, value, key):
    bad = bill_item("W-2")
    bad[field] = value
    if field == "amount":
        bad["lines"] = []
    response = water.client.post(PUSH, [bill_item("W-1"), bad], format="json")
    assert response.status_code == 400
    assert key in response.json()["error"]["fields"]
    assert not Bill.objects.exists() and not UtilityAccount.objects.exists()


def test_lines_must_add_up_and_numbers_must_not_repeat(water):
    lines_off = bill_item("W-1", amount="10.00", lines=[{"description": "x", "amount": "9.99"}])
    response = water.client.post(PUSH, [lines_off, bill_item("W-2"), bill_item("W-2")], format="json")
    fields = response.json()["error"]["fields"]
    assert response.status_code == 400 and set(fields) == {"0.lines", "2.bill_number"}


def test_an_unknown_account_needs_its_holder(water):
    response = water.client.post(PUSH, [bill_item("W-1", holder=None)], format="json")
    assert response.status_code == 400 and "0.account_number" in response.json()["error"]["fields"]


def test_push_limits(water):
    assert water.client.post(PUSH, [], format="json").status_code == 400
    assert water.client.post(PUSH, {"bill_number": "x"}, format="json").status_code == 400
    too_many = [bill_item(f"W-{n}") for n in range(services.MAX_PUSH + 1)]
    response = water.client.post(PUSH, too_many, format="json")
    assert response.status_code == 400 and not Bill.objects.exists()


def test_keys_and_users_without_the_provider_scope_are_refused(water, citizen):
    assert key_client("civic_forged_key_000000000000000000").post(PUSH, [bill_item("W-1")],
                                                                  format="json").status_code == 401
    assert user_client(citizen).post(PUSH, [bill_item("W-1")], format="json").status_code == 403
    from partners.services import api_key_create

    _key, cases_key = api_key_create(actor=None, partner=water.partner, scopes=["cases.read"])
    assert key_client(cases_key).post(PUSH, [bill_item("W-1")], format="json").status_code == 403
    assert not Bill.objects.exists()


def test_a_provider_sees_and_voids_only_its_own_bills(water):
    gas = make_provider("gas", "gas")
    water.client.post(PUSH, [bill_item("SAME-1")], format="json")
    gas.client.post(PUSH, [bill_item("G-1")], format="json")
    assert [b["bill_number"] for b in gas.client.get(PUSH).json()["results"]] == ["G-1"]
    assert gas.client.post(f"{PUSH}SAME-1/void/").status_code == 404
    assert Bill.objects.get(bill_number="SAME-1").status == Bill.Status.ISSUED
    response = water.client.post(f"{PUSH}SAME-1/void/")
    assert response.status_code == 200 and response.json()["status"] == "void"
    assert water.client.post(f"{PUSH}SAME-1/void/").status_code == 200  # void stays void


def test_a_paid_bill_cannot_be_voided(subscribed, citizen):
    card_with(citizen, "500.00")
    services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="card")
    response = subscribed.water.client.post(f"{PUSH}{subscribed.bill.bill_number}/void/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "bill_not_voidable"


def test_subscription_queue_and_reject(water, citizen, other_citizen):
    water.client.post(PUSH, [bill_item("W-1", amount="50.00")], format="json")
    gas = make_provider("gas", "gas")
    pending = services.subscription_apply(citizen=citizen, provider=water.provider, account_number="A-1",
                                          holder_name="陈 明", proof_method="last_amount", proof_value="49.00")
    assert gas.client.get("/api/v1/billing/provider/subscriptions/").json()["results"] == []
    assert gas.client.post(f"/api/v1/billing/provider/subscriptions/{pending.pk}/confirm/").status_code == 404
    rows = water.client.get("/api/v1/billing/provider/subscriptions/?status=pending").json()["results"]
    assert [(r["id"], r["proof_matches"]) for r in rows] == [(pending.pk, False)]
    response = water.client.post(f"/api/v1/billing/provider/subscriptions/{pending.pk}/reject/",
                                 {"reason": "wrong amount"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert water.client.post(f"/api/v1/billing/provider/subscriptions/{pending.pk}/confirm/").status_code == 409
    assert water.client.get("/api/v1/billing/provider/subscriptions/?status=bogus").status_code == 400


def test_payments_for_reconciliation_json_and_csv(subscribed, citizen):
    card_with(citizen, "500.00")
    payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="card")
    day = payment.settled_at.astimezone().date().isoformat()
    client = subscribed.water.client
    rows = client.get(f"/api/v1/billing/provider/payments/?date={day}").json()
    assert rows == [{"payment": payment.pk, "bill_number": "W-1", "account_number": "A-1",
                     "payment_reference": subscribed.bill.payment_reference, "amount": "100.00", "method": "card",
                     "settled_at": rows[0]["settled_at"]}]
    response = client.get(f"/api/v1/billing/provider/payments/?date={day}&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("payment,bill_number") and f"{payment.pk},W-1,A-1" in lines[1]
    assert client.get("/api/v1/billing/provider/payments/?date=2026-02-30").status_code == 400
    assert make_provider("gas", "gas").client.get(f"/api/v1/billing/provider/payments/?date={day}").json() == []


def test_bills_pushed_before_a_subscription_become_the_citizens_when_confirmed(water, citizen):
    water.client.post(PUSH, [bill_item("W-1")], format="json")
    assert Bill.objects.get().citizen is None
    subscribe(citizen, water.provider)
    assert Bill.objects.get().citizen == citizen
