"""The money guarantees under real concurrency, on PostgreSQL with parallel connections
(tests/support/race.py): a bill is paid once, a card never goes below zero, an Idempotency-Key runs once."""

import uuid
from decimal import Decimal

import pytest
from django.db.models import Sum

from services.billing import services
from services.billing.models import Bill, Card, CardMovement, JournalLeg, Payment, PaymentBill
from tests.billing.conftest import bill_item, card_with, subscribe, user_client
from tests.support.race import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]

PAY = "/api/v1/billing/payments/"


def test_fifty_concurrent_payments_of_one_bill_through_the_api_one_succeeds(subscribed, citizen):
    card = card_with(citizen, "10000.00")

    def attempt(index, client):
        return client.post(PAY, {"bills": [subscribed.bill.pk], "method": "card" if index % 2 else "gateway"},
                           format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).status_code

    outcome = race(attempt, threads=50, prepare=lambda index: user_client(citizen))
    assert outcome.errors == []
    assert sorted(outcome.results).count(201) == 1
    assert set(outcome.results) == {201, 409}
    assert PaymentBill.objects.filter(bill=subscribed.bill, holds=True).count() == 1
    assert Payment.objects.count() == 1
    card.refresh_from_db()
    paid = Payment.objects.get()
    assert card.balance == Decimal("10000.00") - (paid.amount if paid.method == "card" else 0)


def test_concurrent_card_debits_never_go_below_zero(water, citizen):
    services.bills_push(provider=water.provider, items=[bill_item(f"W-{n}", amount="30.00") for n in range(20)])
    subscribe(citizen, water.provider)  # the account's bills become the citizen's
    bills = list(Bill.objects.order_by("pk").values_list("pk", flat=True))
    card = card_with(citizen, "100.00")  # three bills' worth, not four

    def attempt(index):
        try:
            services.payment_create(payer=citizen, bill_ids=[bills[index]], method="card")
            return "paid"
        except services.InsufficientFunds:
            return "refused"

    outcome = race(attempt, threads=20)
    assert outcome.errors == []
    assert outcome.results.count("paid") == 3 and outcome.results.count("refused") == 17
    card.refresh_from_db()
    assert card.balance == Decimal("10.00")
    assert CardMovement.objects.filter(card=card).aggregate(total=Sum("amount"))["total"] == card.balance
    assert -JournalLeg.objects.filter(account=f"card:{card.pk}").aggregate(t=Sum("amount"))["t"] == card.balance
    assert Bill.objects.filter(status="paid").count() == 3
    assert not PaymentBill.objects.filter(payment__status="pending").exists()


def test_the_same_idempotency_key_concurrently_runs_once(subscribed, citizen):
    card_with(citizen, "1000.00")
    key = str(uuid.uuid4())

    def attempt(index, client):
        response = client.post(PAY, {"bills": [subscribed.bill.pk], "method": "card"}, format="json",
                               HTTP_IDEMPOTENCY_KEY=key)
        return response.status_code, response.get("Idempotent-Replayed")

    outcome = race(attempt, threads=12, prepare=lambda index: user_client(citizen))
    assert outcome.errors == []
    statuses = [status for status, _replayed in outcome.results]
    first = [r for r in outcome.results if r == (201, None)]
    assert len(first) == 1
    assert all(r in ((409, None), (201, "true")) for r in outcome.results if r != (201, None)), statuses
    assert Payment.objects.count() == 1
    assert Card.objects.get(holder=citizen).balance == Decimal("900.00")


def test_an_unbalanced_journal_entry_is_refused_at_commit(db):
    from django.db import IntegrityError, transaction

    from services.billing.models import JournalEntry

    with pytest.raises(IntegrityError), transaction.atomic():
        entry = JournalEntry.objects.create(kind="opening")
        JournalLeg.objects.create(entry=entry, account="cash", amount=Decimal("1.00"))
        JournalLeg.objects.create(entry=entry, account="card:1", amount=Decimal("-0.99"))
    assert not JournalEntry.objects.exists()
    with transaction.atomic():
        entry = JournalEntry.objects.create(kind="opening")
        JournalLeg.objects.create(entry=entry, account="cash", amount=Decimal("1.00"))
        JournalLeg.objects.create(entry=entry, account="card:1", amount=Decimal("-1.00"))
    from django.db import DatabaseError

    with pytest.raises(DatabaseError), transaction.atomic():
        JournalLeg.objects.filter(entry=entry).update(amount=Decimal("2.00"))
    with pytest.raises(DatabaseError), transaction.atomic():
        JournalLeg.objects.filter(entry=entry).delete()
