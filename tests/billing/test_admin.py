"""The billing staff's admin (services/billing/admin.py): scoped by grid.permissions (billing staff hold
the billing permissions on the city's root; other staff see no billing page, even their own bills), the
subscription approval queue's confirm and reject calling billing's services, voiding, the read-only
ledger, the reconciliation report by provider and day, and CSV/XLSX export of what a changelist shows."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from openpyxl import load_workbook

from civic.audit_models import AuditEvent
from services.billing import services
from services.billing.models import (
    Bill,
    JournalEntry,
    Payment,
    ReconciliationRun,
    Subscription,
)
from tests.billing.conftest import HOLDER, bill_item, card_with, make_provider
from tests.factories import UserFactory
from tests.grid.utils import admin_client

pytestmark = pytest.mark.django_db


def in_english(message) -> str:
    """A service's refusal as an English page shows it (escaped)."""
    with translation.override("en"):
        return escape(str(message))

MODELS = ["provider", "utilityaccount", "subscription", "bill", "payment", "card", "cardmovement", "journalentry",
          "journalleg", "gatewaycharge", "reconciliationrun", "reconciliationexception"]


def url(model: str, view: str = "changelist", *args) -> str:
    return reverse(f"admin:billing_{model}_{view}", args=args)


@pytest.fixture
def billing(city):
    """A city (its root holds the rows), the water provider, the city's citizen subscribed to A-1 with
    bills W-1 (¥100.00, paid from the one-card) and W-2 (¥40.00, issued), a billing-staff account."""
    water = make_provider("water", "water")
    citizen = city.users["citizen"]
    services.bills_push(provider=water.provider, items=[bill_item("W-0", amount="55.00", period="2026-01")])
    pending = services.subscription_apply(citizen=citizen, provider=water.provider, account_number="A-1",
                                          holder_name=HOLDER, proof_method="last_amount", proof_value="55.00")
    services.bills_push(provider=water.provider, items=[bill_item("W-1"), bill_item("W-2", amount="40.00")])
    staff = UserFactory(username="biller")
    services.billing_staff_ensure(user=staff)
    return city, water, citizen, pending, staff


def _confirmed(billing):
    city, water, citizen, pending, staff = billing
    services.subscription_confirm(actor=staff, subscription=pending)
    card_with(citizen, "500.00")
    bill = Bill.objects.get(bill_number="W-1")
    payment, _url = services.payment_create(payer=citizen, bill_ids=[bill.pk], method="card")
    return payment


#
# Who sees what
#


def test_billing_staff_see_every_billing_list(billing):
    _confirmed(billing)
    client = admin_client(billing[4])
    assert "billing" in client.get(reverse("admin:index")).content.decode()
    for model in MODELS:
        assert client.get(url(model)).status_code == 200, model
    page = client.get(url("bill")).content.decode()
    assert "W-1" in page and "W-2" in page


@pytest.mark.parametrize("username", ["district", "street", "worker", "dept"])
def test_other_staff_see_nothing_of_billing(billing, username):
    payment = _confirmed(billing)
    city = billing[0]
    client = admin_client(city.users[username])
    index = client.get(reverse("admin:index")).content.decode()
    assert "/admin/billing/" not in index
    for model in MODELS:
        assert client.get(url(model)).status_code == 403, model
        assert client.get(url(model) + "?_export=csv").status_code == 403, model
    assert client.get(url("payment", "change", payment.pk)).status_code in (302, 403, 404)
    assert client.get(reverse("admin:billing_reconciliation_report")).status_code == 403


def test_a_staff_member_sees_not_even_their_own_bills(billing):
    """Billing's scope rules let a citizen see their own bills; the admin asks for billing grants only."""
    city, water, _citizen, _pending, _staff = billing
    worker = city.users["worker"]
    services.bills_push(provider=water.provider, items=[bill_item("W-7", account="A-7", holder="王工")])
    subscription = services.subscription_apply(citizen=worker, provider=water.provider, account_number="A-7",
                                               holder_name="王工", proof_method="code", proof_value="1")
    services.subscription_confirm(actor=None, subscription=subscription)
    assert Bill.objects.get(bill_number="W-7").citizen == worker
    client = admin_client(worker)
    assert client.get(url("bill")).status_code == 403
    assert client.get(url("bill", "change", Bill.objects.get(bill_number="W-7").pk)).status_code in (302, 403)


def test_nobody_adds_edits_or_deletes_money_rows(billing):
    payment = _confirmed(billing)
    client = admin_client(billing[4])
    entry = JournalEntry.objects.filter(payment=payment).first()
    assert client.get(url("journalentry", "change", entry.pk)).status_code == 200
    assert client.get(url("journalentry", "add")).status_code == 403
    assert client.post(url("journalentry", "delete", entry.pk), {"post": "yes"}).status_code == 403
    assert client.get(url("payment", "add")).status_code == 403
    assert client.post(url("payment", "delete", payment.pk), {"post": "yes"}).status_code == 403
    assert client.get(url("bill", "add")).status_code == 403
    page = client.get(url("payment", "change", payment.pk)).content.decode()
    assert 'type="submit" value="Save"' not in page and "W-1" in page
    assert JournalEntry.objects.filter(pk=entry.pk).exists()


#
# The approval queue
#


def test_queue_lists_pending_applications_and_confirms_them(billing):
    _city, _water, citizen, pending, staff = billing
    client = admin_client(staff)
    page = client.get(url("subscription")).content.decode()
    assert "A-1" in page and "55.00" in page
    response = client.post(url("subscription"), {"action": "confirm", "_selected_action": [pending.pk]})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == Subscription.Status.ACTIVE and pending.decided_by == staff
    assert AuditEvent.objects.filter(action="billing.subscription_confirmed", actor=staff,
                                     target_id=str(pending.pk)).exists()
    assert set(Bill.objects.filter(citizen=citizen).values_list("bill_number", flat=True)) == {"W-0", "W-1", "W-2"}
    # Confirming again changes nothing and says why.
    response = client.post(url("subscription") + "?status=all", {"action": "confirm",
                                                                 "_selected_action": [pending.pk]},
                           follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert in_english(services.SubscriptionNotPending.message) in response.content.decode()


def test_reject_asks_for_a_reason(billing):
    _city, _water, _citizen, pending, staff = billing
    client = admin_client(staff)
    asked = client.post(url("subscription"), {"action": "reject", "_selected_action": [pending.pk]})
    assert asked.status_code == 200 and "reason" in asked.content.decode()
    pending.refresh_from_db()
    assert pending.status == Subscription.Status.PENDING
    response = client.post(url("subscription"), {"action": "reject", "_selected_action": [pending.pk], "apply": "1",
                                                 "reason": "户名与户号不符"})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.reason) == (Subscription.Status.REJECTED, "户名与户号不符")


def test_void_an_unpaid_bill_but_not_a_paid_one(billing):
    _confirmed(billing)
    client = admin_client(billing[4])
    paid, unpaid = Bill.objects.get(bill_number="W-1"), Bill.objects.get(bill_number="W-2")
    response = client.post(url("bill"), {"action": "void", "_selected_action": [paid.pk, unpaid.pk]}, follow=True)
    assert response.status_code == 200
    paid.refresh_from_db()
    unpaid.refresh_from_db()
    assert (paid.status, unpaid.status) == ("paid", "void")
    assert "W-1:" in response.content.decode()
    voided = AuditEvent.objects.get(action="billing.bill_voided")
    assert (voided.actor, voided.target_id) == (billing[4], str(unpaid.pk))


#
# Exports of what is on screen
#


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_csv_export_follows_the_changelists_filters(billing):
    _confirmed(billing)
    client = admin_client(billing[4])
    response = client.get(url("bill") + "?status__exact=issued&_export=csv", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0][:3] == ["Bill number", "Provider", "Account"]
    assert sorted(row[0] for row in rows[1:]) == ["W-0", "W-2"]
    amounts = {row[0]: row[4] for row in rows[1:]}
    assert amounts["W-2"] == "40.00"
    # Search narrows the export as it narrows the list.
    rows = _csv(client.get(url("bill") + "?q=W-2&_export=csv"))
    assert [row[0] for row in rows[1:]] == ["W-2"]


def test_xlsx_export_of_payments(billing):
    payment = _confirmed(billing)
    client = admin_client(billing[4])
    response = client.get(url("payment") + "?_export=xlsx", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="payment-')
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2
    assert rows[1][0] == payment.pk and Decimal(str(rows[1][5])) == Decimal("100.00")


def test_changelist_offers_the_export_links(billing):
    page = admin_client(billing[4]).get(url("bill") + "?status__exact=issued").content.decode()
    assert "?status__exact=issued&amp;_export=csv" in page and "_export=xlsx" in page


def test_an_unknown_export_format_is_refused(billing):
    assert admin_client(billing[4]).get(url("bill") + "?_export=pdf").status_code == 400


#
# Reconciliation by provider and day
#


def test_reconcile_a_day_and_read_the_report(billing):
    payment = _confirmed(billing)
    client = admin_client(billing[4])
    today = timezone.localdate()
    response = client.post(reverse("admin:billing_reconciliation_report"), {"day": today.isoformat()})
    assert response.status_code == 302
    run = ReconciliationRun.objects.get(provider__code="water", day=today)
    assert (run.payments_count, run.payments_total, run.matched_count, run.exceptions_count) == (
        1, Decimal("100.00"), 1, 0)
    page = client.get(response["Location"]).content.decode()
    assert "water company" in page and "100.00" in page
    rows = _csv(client.get(reverse("admin:billing_reconciliation_report"),
                           {"start": today.isoformat(), "end": today.isoformat(), "_export": "csv"}))
    assert rows[1][1:4] == ["water company", "1", "100.00"]
    assert Payment.objects.get(pk=payment.pk).status == "succeeded"


def test_reconcile_needs_the_handle_permission(billing):
    city = billing[0]
    reader = UserFactory(username="auditor")
    from guardian.shortcuts import assign_perm

    assign_perm("grid.view_billing", reader, city.nodes["city"])
    client = admin_client(reader)
    assert client.get(reverse("admin:billing_reconciliation_report")).status_code == 200
    response = client.post(reverse("admin:billing_reconciliation_report"), {"day": "2026-01-01"})
    assert response.status_code == 403
    assert not ReconciliationRun.objects.exists()
    # Viewing lets them read, not decide.
    pending = billing[3]
    client.post(url("subscription"), {"action": "confirm", "_selected_action": [pending.pk]})
    pending.refresh_from_db()
    assert pending.status == Subscription.Status.PENDING


def test_the_queue_costs_the_same_queries_for_many_applications(billing, django_assert_max_num_queries):
    city, water, _citizen, _pending, staff = billing
    client = admin_client(staff)
    client.get(url("subscription"))
    for n in range(15):
        applicant = UserFactory(username=f"applicant{n}", is_staff=False)
        services.bills_push(provider=water.provider, items=[bill_item(f"X-{n}", account=f"B-{n}", amount="9.90")])
        services.subscription_apply(citizen=applicant, provider=water.provider, account_number=f"B-{n}",
                                    holder_name=HOLDER, proof_method="last_amount", proof_value="9.90")
    with django_assert_max_num_queries(14):
        page = client.get(url("subscription")).content.decode()
    assert page.count("B-1") >= 1 and "B-14" in page


def test_the_report_lists_a_days_exceptions_under_their_run(billing):
    _city, _water, citizen, pending, staff = billing
    services.subscription_confirm(actor=staff, subscription=pending)
    bill = Bill.objects.get(bill_number="W-2")
    payment, _url = services.payment_create(payer=citizen, bill_ids=[bill.pk], method="gateway")
    services.payment_mark_unknown(payment=payment)  # the gateway never answered
    client = admin_client(staff)
    today = timezone.localdate().isoformat()
    client.post(reverse("admin:billing_reconciliation_report"), {"day": today})
    run = ReconciliationRun.objects.get(provider__code="water")
    assert run.exceptions_count == 1
    page = client.get(reverse("admin:billing_reconciliation_report"), {"start": today, "end": today},
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "payment still unknown" in page and f"payment {payment.pk}" in page
    assert '<tr class="has-exceptions">' in page
