"""Property tests (Hypothesis): whatever sequence of pushes, payments (card or gateway, any outcome),
top-ups and voids happens, the ledger sums to zero entry by entry, nothing is paid beyond its amount,
and a card's balance is what its movements and its ledger account say."""

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.billing import gateway, services
from services.billing.models import Bill, Card, CardMovement, JournalEntry, JournalLeg, Payment, PaymentBill
from tests.billing.conftest import bill_item, subscribe

pytestmark = pytest.mark.django_db

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500.00"), places=2)
operations = st.lists(st.one_of(
    st.tuples(st.just("top_up"), amounts, st.sampled_from(["succeed", "fail", "timeout"])),
    st.tuples(st.just("pay"), st.lists(st.integers(0, 5), min_size=1, max_size=3),
              st.sampled_from(["card", "succeed", "fail", "timeout", "twice"])),
    st.tuples(st.just("void"), st.integers(0, 5)),
    st.tuples(st.just("requery"),),
), min_size=1, max_size=12)


class Rollback(Exception):
    pass


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bill_amounts=st.lists(amounts, min_size=6, max_size=6), opening=amounts, ops=operations)
def test_the_ledger_balances_and_nothing_is_paid_twice(water, citizen, bill_amounts, opening, ops):
    try:
        with transaction.atomic():
            _run(water, citizen, bill_amounts, opening, ops)
            raise Rollback
    except Rollback:
        pass


def _run(water, citizen, bill_amounts, opening, ops):
    services.bills_push(provider=water.provider, items=[
        bill_item(f"P-{n}", amount=str(amount)) for n, amount in enumerate(bill_amounts)])
    subscribe(citizen, water.provider)
    bills = list(Bill.objects.filter(citizen=citizen).order_by("bill_number").values_list("pk", flat=True))
    card = services.card_ensure(holder=citizen)
    services.card_opening_balance(card=card, amount=opening)
    for op in ops:
        try:
            with transaction.atomic():
                _apply(op, citizen, water, bills)
        except (services.InsufficientFunds, services.BillNotPayable, services.BillPaidAlready,
                services.BillNotVoidable):
            pass
    _check_invariants()


def _gateway(payment, outcome):
    charge = gateway.charge_complete(reference=payment.gateway_reference, outcome=outcome)
    if outcome != "timeout":
        gateway.callback_send(charge.reference)  # on_commit does not fire inside the test's transaction
        if outcome == "twice":
            gateway.callback_send(charge.reference)


def _apply(op, citizen, water, bills):
    if op[0] == "top_up":
        payment, _url = services.card_top_up(holder=citizen, amount=op[1])
        _gateway(payment, op[2])
    elif op[0] == "pay":
        method = "card" if op[2] == "card" else "gateway"
        payment, _url = services.payment_create(payer=citizen, bill_ids=[bills[i] for i in op[1]], method=method)
        if method == "gateway":
            _gateway(payment, op[2])
    elif op[0] == "void":
        bill = Bill.objects.get(pk=bills[op[1]])
        services.bill_void(provider=water.provider, bill_number=bill.bill_number)
    else:
        services.payments_requery()


def _check_invariants():
    # Summed in Python: SQLite sums decimals as floats.
    legs = list(JournalLeg.objects.values_list("entry_id", "account", "amount", "bill_id"))
    entries = {}
    for entry_id, _account, amount, _bill in legs:
        entries[entry_id] = entries.get(entry_id, 0) + amount
    assert set(entries) == set(JournalEntry.objects.values_list("pk", flat=True))
    assert all(total == 0 for total in entries.values())
    items = list(PaymentBill.objects.values_list("bill_id", "amount", "holds", "payment__status"))
    for bill in Bill.objects.all():
        paid = sum((amount for bill_id, amount, _h, status in items
                    if bill_id == bill.pk and status == Payment.Status.SUCCEEDED), Decimal(0))
        assert paid == bill.amount_paid <= bill.amount
        assert sum(1 for bill_id, _a, holds, _s in items if bill_id == bill.pk and holds) <= 1
        assert (bill.status == Bill.Status.PAID) == (paid == bill.amount and paid > 0)
        assert -sum((amount for _e, _a, amount, bill_id in legs if bill_id == bill.pk), Decimal(0)) == paid
    for card in Card.objects.all():
        assert card.balance >= 0
        moved = sum(CardMovement.objects.filter(card=card).values_list("amount", flat=True), Decimal(0))
        assert moved == card.balance
        assert -sum((amount for _e, account, amount, _b in legs if account == f"card:{card.pk}"), Decimal(0)) \
            == card.balance
