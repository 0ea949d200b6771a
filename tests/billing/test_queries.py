"""Query counts of the list endpoints, pinned in tests/query_budgets.json: the same whatever the number
of rows (each list is measured with several rows, lines and payments)."""

import pytest

from services.billing import services
from tests.billing.conftest import bill_item, card_with, make_provider, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy(water, citizen):
    """Eight bills of two providers with two lines each, three of them paid, a pending application."""
    gas = make_provider("citygas", "gas")
    lines = [{"description": "a", "amount": "10.00"}, {"description": "b", "amount": "5.00"}]
    for provider in (water, gas):
        services.bills_push(provider=provider.provider, items=[
            bill_item(f"{provider.provider.code}-{n}", amount="15.00", lines=lines) for n in range(4)])
        subscribe(citizen, provider.provider)
    services.bills_push(provider=water.provider, items=[bill_item("X-1", account="B-2")])
    for n in range(3):
        other = make_provider(f"other{n}", "gas")
        services.bills_push(provider=other.provider, items=[bill_item(f"O-{n}")])
        services.subscription_apply(citizen=citizen, provider=other.provider, account_number="A-1", holder_name="陈明",
                                    proof_method="last_amount", proof_value="100.00")
    services.subscription_apply(citizen=citizen, provider=water.provider, account_number="B-2", holder_name="陈明",
                                proof_method="last_amount", proof_value="100.00")
    card_with(citizen, "1000.00")
    bills = list(citizen.billing_bills.order_by("pk").values_list("pk", flat=True))
    for pk in bills[:3]:
        services.payment_create(payer=citizen, bill_ids=[pk], method="card")
    services.payment_create(payer=citizen, bill_ids=bills[3:5], method="card")
    # PostgreSQL prepares the grants statement once per connection: prepare it now, on another copy of
    # the user, so that every measured request counts the same statements (the request's own grants).
    from grid.permissions import grant_paths

    grant_paths(type(citizen).objects.get(pk=citizen.pk), "view_billing")
    return bills


@pytest.mark.parametrize(("name", "url"), [
    ("billing.bills.list", "/api/v1/billing/bills/"),
    ("billing.bills.list", "/api/v1/billing/bills/?status=paid&provider=water&period=2026-12"),
    ("billing.subscriptions.list", "/api/v1/billing/subscriptions/"),
    ("billing.accounts.list", "/api/v1/billing/accounts/"),
    ("billing.payments.list", "/api/v1/billing/payments/"),
    ("billing.card", "/api/v1/billing/card/"),
    ("billing.card.movements", "/api/v1/billing/card/movements/"),
    ("billing.providers.list", "/api/v1/billing/providers/"),
])
def test_citizen_lists(busy, citizen_client, query_budget, name, url):
    with query_budget(name):
        response = citizen_client.get(url)
    assert response.status_code == 200


def test_bill_detail(busy, citizen_client, query_budget):
    with query_budget("billing.bills.detail"):
        response = citizen_client.get(f"/api/v1/billing/bills/{busy[0]}/")
    assert len(response.json()["lines"]) == 2


@pytest.mark.parametrize(("name", "url"), [
    ("billing.provider.bills.list", "/api/v1/billing/provider/bills/"),
    ("billing.provider.subscriptions.list", "/api/v1/billing/provider/subscriptions/"),
])
def test_provider_lists(busy, water, query_budget, name, url):
    with query_budget(name):
        response = water.client.get(url)
    assert response.status_code == 200 and len(response.json()["results"]) >= 2
