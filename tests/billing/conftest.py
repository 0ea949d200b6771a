"""E-billing tests: a provider (a partner with a billing.provider key), a citizen subscribed to one of
its accounts, and helpers to push bills, all through the real services."""

import uuid
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from partners.services import api_key_create, partner_ensure
from services.billing import services
from services.billing.models import Subscription
from tests.factories import UserFactory

HOLDER = "陈明"


@pytest.fixture(autouse=True)
def _tasks_in_process(tasks_in_process):
    """Billing's chains (the gateway's callback, bills-issued notices) finish within each test."""


def key_client(text: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {text}", HTTP_ACCEPT_LANGUAGE="en")
    return client


def user_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


def bill_item(number: str, *, account: str = "A-1", amount: str = "100.00", period: str | None = None,
              due: date | None = None, holder: str | None = HOLDER, lines=None) -> dict:
    period = period or f"{date.today():%Y-%m}"
    item = {"bill_number": number, "account_number": account, "period": period, "amount": amount,
            "due_date": (due or date.today() + timedelta(days=20)).isoformat(),
            "lines": lines if lines is not None else [{"description": "usage", "amount": amount}]}
    if holder:
        item["holder_name"] = holder
    return item


def make_provider(code: str = "water", kind: str = "water"):
    partner = partner_ensure(actor=None, code=f"billing-{code}", name=f"{code} company")
    _key, text = api_key_create(actor=None, partner=partner, scopes=["billing.provider"])
    provider = services.provider_ensure(code=code, name=f"{code} company", kind=kind, partner=partner)
    return SimpleNamespace(provider=provider, partner=partner, key=text, client=key_client(text))


@pytest.fixture
def water(db):
    return make_provider("water", "water")


@pytest.fixture
def citizen(db):
    return UserFactory(username="citizen", is_staff=False, first_name="明", last_name="陈", language="en")


@pytest.fixture
def other_citizen(db):
    return UserFactory(username="other", is_staff=False, language="en")


@pytest.fixture
def citizen_client(citizen):
    return user_client(citizen)


def subscribe(citizen, provider, account: str = "A-1", channels=("in_app",)) -> Subscription:
    subscription = services.subscription_apply(
        citizen=citizen, provider=provider, account_number=account, holder_name=HOLDER,
        proof_method="code", proof_value="123456", channels=list(channels))
    return services.subscription_confirm(actor=None, subscription=subscription)


@pytest.fixture
def subscribed(water, citizen):
    """The citizen holds account A-1 of water, which has one issued bill W-1 of ¥100.00."""
    services.bills_push(provider=water.provider, items=[bill_item("W-0", amount="80.00",
                                                                  period="2026-01")])
    subscribe(citizen, water.provider)
    result = services.bills_push(provider=water.provider, items=[bill_item("W-1")])
    return SimpleNamespace(water=water, bill=water.provider.bills.get(pk=result.bill_ids[0]),
                           old_bill=water.provider.bills.get(bill_number="W-0"))


def card_with(citizen, amount: str):
    card = services.card_ensure(holder=citizen)
    services.card_opening_balance(card=card, amount=Decimal(amount))
    card.refresh_from_db()
    return card


def new_key() -> str:
    return str(uuid.uuid4())
