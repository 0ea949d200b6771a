"""Notices, the bill.paid webhook, visit bills (booking's entry point), overdue and due-soon sweeps, the
reconciliation, the billing staff's grant and the demo data."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from civic.models import Notice
from grid.permissions import scope
from partners.models import Webhook, WebhookDelivery
from services.billing import selectors, services
from services.billing.models import Bill, GatewayCharge, JournalLeg, Payment, ReconciliationException
from services.billing.tasks import mark_overdue_bills, notify_bills_due_soon, reconcile_providers
from tests.billing.conftest import bill_item, card_with, make_provider, subscribe
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def notices(user, template):
    return list(Notice.objects.filter(recipient=user, template=template).order_by("channel")
                .values_list("channel", flat=True))


def test_notices_go_once_on_the_subscriptions_channels_in_the_citizens_language(
        water, citizen, django_capture_on_commit_callbacks):
    citizen.language = "zh-hans"
    citizen.phone = "13800000000"
    citizen.save()
    services.bills_push(provider=water.provider, items=[bill_item("W-0")])
    subscribe(citizen, water.provider, channels=["in_app", "sms"])
    assert notices(citizen, "billing/subscription_confirmed") == ["in_app", "sms"]
    with django_capture_on_commit_callbacks(execute=True):
        services.bills_push(provider=water.provider, items=[bill_item("W-1", amount="12.30")])
        services.bills_push(provider=water.provider, items=[bill_item("W-1", amount="12.30")])
    issued = Notice.objects.filter(recipient=citizen, template="billing/bill_issued")
    assert sorted(issued.values_list("channel", flat=True)) == ["in_app", "sms"]
    body = issued.first().body
    assert "12.30" in body and "W-1" in body
    assert "bill W-1" not in body  # rendered in Chinese, not English


def test_due_soon_and_overdue_are_told_once(water, citizen):
    services.bills_push(provider=water.provider, items=[
        bill_item("SOON", due=date.today() + timedelta(days=2)),
        bill_item("LATER", due=date.today() + timedelta(days=9)),
        bill_item("PAST", due=date.today() - timedelta(days=1))])
    subscribe(citizen, water.provider)
    assert notify_bills_due_soon() == 1
    notify_bills_due_soon()
    assert Notice.objects.filter(template="billing/bill_due_soon").count() == 1
    assert mark_overdue_bills() == 1
    assert mark_overdue_bills() == 0
    assert Bill.objects.get(bill_number="PAST").status == Bill.Status.OVERDUE
    assert Notice.objects.filter(template="billing/bill_overdue").count() == 1
    # An overdue bill can still be paid.
    card_with(citizen, "500.00")
    services.payment_create(payer=citizen, bill_ids=[Bill.objects.get(bill_number="PAST").pk], method="card")
    assert Notice.objects.filter(template="billing/payment_receipt", recipient=citizen).count() == 1


def test_bill_paid_reaches_only_the_providers_own_webhooks(subscribed, citizen, settings):
    gas = make_provider("gas", "gas")
    from partners.models import ApiKey

    water_hook = Webhook.objects.create(key=ApiKey.objects.get(partner=subscribed.water.partner),
                                        url="https://water.example.com/hook", events=["bill.paid"], secret="s")
    Webhook.objects.create(key=ApiKey.objects.get(partner=gas.partner), url="https://gas.example.com/hook",
                           events=["bill.paid"], secret="s")
    card_with(citizen, "500.00")
    payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="card")
    deliveries = list(WebhookDelivery.objects.filter(event_type="bill.paid"))
    assert [d.webhook_id for d in deliveries] == [water_hook.pk]
    import json

    data = json.loads(deliveries[0].body)["data"]
    assert data["bill"] == subscribed.bill.pk and data["payment"] == payment.pk and data["amount"] == "100.00"
    assert "陈" not in deliveries[0].body  # ids and amounts only


def test_visit_bill_issue_is_idempotent_and_lands_among_the_citizens_bills(citizen):
    kwargs = {"citizen": citizen, "issuer_code": "hospital-1", "issuer_name": "市第一医院", "reference": "V-42",
              "description": "专家门诊", "amount": Decimal("50.00"), "due_date": date.today() + timedelta(days=7),
              "lines": [("挂号费", Decimal("20.00")), ("诊查费", Decimal("30.00"))]}
    bill = services.visit_bill_issue(**kwargs)
    assert services.visit_bill_issue(**kwargs) == bill
    assert bill.provider.kind == "health" and bill.citizen == citizen
    assert [b.pk for b in selectors.bill_list(user=citizen)] == [bill.pk]
    assert Notice.objects.filter(recipient=citizen, template="billing/bill_issued").exists()
    with pytest.raises(services.BillConflict):
        services.visit_bill_issue(**{**kwargs, "amount": Decimal("60.00"), "lines": None})
    with pytest.raises(ValidationError):
        services.visit_bill_issue(**{**kwargs, "reference": "V-43", "amount": Decimal("-1")})
    with pytest.raises(ValidationError):
        services.visit_bill_issue(**{**kwargs, "reference": "V-44", "amount": Decimal("49.00")})


def test_reconciliation_matches_and_lists_exceptions(subscribed, citizen, citizen_client,
                                                    django_capture_on_commit_callbacks):
    card_with(citizen, "500.00")
    card_payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.old_bill.pk], method="card")
    gateway_payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="gateway")
    from services.billing import gateway

    with django_capture_on_commit_callbacks(execute=True):
        gateway.charge_complete(reference=gateway_payment.gateway_reference, outcome="succeed")
    today = timezone.localdate()
    run = services.reconcile(provider=subscribed.water.provider, day=today)
    assert (run.payments_count, run.matched_count, run.exceptions_count) == (2, 2, 0)
    assert run.payments_total == run.ledger_total == Decimal("180.00") and run.gateway_total == Decimal("100.00")
    # The gateway's book disagrees: an exception, listed on the next run (which replaces the day's run).
    GatewayCharge.objects.filter(reference=gateway_payment.gateway_reference).update(amount=Decimal("99.00"))
    assert reconcile_providers(today.isoformat())["water"] == 1
    exception = ReconciliationException.objects.get()
    assert exception.kind == "gateway_mismatch" and exception.found == Decimal("99.00")
    assert list(selectors.reconciliation_report(provider=subscribed.water.provider)) == [exception.run]


def test_billing_staff_see_every_citizens_billing_data_through_their_grant(city, subscribed, other_citizen):
    staff = UserFactory(username="billing-clerk")
    assert list(scope(Bill.objects.all(), staff)) == []
    services.billing_staff_ensure(user=staff)
    staff = type(staff).objects.get(pk=staff.pk)
    assert scope(Bill.objects.all(), staff).count() == 2
    assert staff.has_perm("billing.view_journalentry") and not staff.has_perm("billing.change_journalentry")
    assert list(scope(Bill.objects.all(), other_citizen)) == []


def test_demo_seed_is_idempotent(db):
    from grid.demo.accounts import ensure_demo_user
    from services.billing import demo

    ensure_demo_user("citizen", name="陈明", staff=False)
    ensure_demo_user("admin", superuser=True)
    demo.seed(actor=None)
    counts = (Bill.objects.count(), Payment.objects.count(), JournalLeg.objects.count())
    demo.seed(actor=None)
    assert (Bill.objects.count(), Payment.objects.count(), JournalLeg.objects.count()) == counts
    citizen = type(ensure_demo_user("citizen")).objects.get(username="citizen")
    assert selectors.card_for(user=citizen).balance == Decimal("1000.00")
    this_month = date.today().replace(day=1)
    bills = selectors.bill_list(user=citizen)
    assert bills.filter(period=this_month, status="issued").count() == 7
    assert bills.filter(period__lt=this_month).exclude(status="paid").count() == 0
    assert bills.filter(period__lt=this_month).count() == 7 * demo.PAID_MONTHS
    from partners.keys import key_hash
    from partners.models import ApiKey

    for code, *_rest in demo.PROVIDERS:
        key = ApiKey.objects.get(key_hash=key_hash(demo.provider_key(code)))
        assert key.scopes == ["billing.provider"] and key.partner.billing_provider.code == code
