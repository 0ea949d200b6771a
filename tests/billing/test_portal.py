"""The citizens' e-bill pages (portal/billing): each page in both languages, only the citizen's own rows
(another's bill, payment or subscription is a 404 like one that does not exist), applying, cancelling,
paying by one-card and through the gateway, a form sent twice paying once, top-ups, receipts."""

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from services.billing import services
from services.billing.models import Bill, Card, IdempotencyRecord, Payment, Subscription
from tests.billing.conftest import HOLDER, bill_item, card_with, make_provider
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def in_english(message) -> str:
    """A service's refusal as an English page shows it (escaped)."""
    with translation.override("en"):
        return escape(str(message))


def portal_client(user, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


def token_of(response) -> str:
    match = re.search(r'name="token" value="([0-9a-f-]{36})"', response.content.decode())
    assert match, "the form carries its token"
    return match.group(1)


#
# Pages and languages
#


@pytest.mark.parametrize(("language", "heading"), [("en", "My e-bills"), ("zh-hans", "我的电子账单")])
def test_bill_list_in_each_language(subscribed, citizen, language, heading):
    response = portal_client(citizen, language).get(reverse("portal:billing:bills"))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"<h1>{heading}</h1>" in page
    assert f'href="/billing/bills/{subscribed.bill.pk}/"' in page
    assert "¥100.00" in page


def test_pages_ask_for_login(subscribed):
    for name, args in [("bills", []), ("bill", [subscribed.bill.pk]), ("card", []), ("payments", []),
                       ("subscriptions", []), ("apply", [])]:
        response = Client().get(reverse(f"portal:billing:{name}", args=args))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_providers_page_lists_providers_with_apply_links(water):
    make_provider("power", "electricity")
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get(reverse("portal:billing:providers")).content.decode()
    assert "water company" in page and "power company" in page
    assert "/billing/apply/?provider=power" in page


def test_nav_links_to_e_bills(citizen):
    page = portal_client(citizen).get("/").content.decode()
    assert 'href="/billing/"' in page


#
# Own rows only
#


def test_bill_page_shows_lines(subscribed, citizen):
    bill = subscribed.bill
    page = portal_client(citizen).get(reverse("portal:billing:bill", args=[bill.pk])).content.decode()
    assert bill.payment_reference in page and "usage" in page and "Pay this bill" in page


def test_someone_elses_bill_payment_and_subscription_are_404(subscribed, citizen, other_citizen):
    card_with(citizen, "500.00")
    payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="card")
    subscription = Subscription.objects.get(citizen=citizen)
    other = portal_client(other_citizen)
    assert other.get(reverse("portal:billing:bill", args=[subscribed.bill.pk])).status_code == 404
    assert other.get(reverse("portal:billing:payment", args=[payment.pk])).status_code == 404
    assert other.get(reverse("portal:billing:receipt", args=[payment.pk])).status_code == 404
    assert other.get(reverse("portal:billing:pay"), {"bills": [subscribed.bill.pk]}).status_code == 404
    response = other.post(reverse("portal:billing:subscription_cancel", args=[subscription.pk]))
    assert response.status_code == 404
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    # Nor do they appear in the other citizen's lists.
    assert subscribed.bill.bill_number not in other.get(reverse("portal:billing:bills")).content.decode()
    assert f"/billing/payments/{payment.pk}/" not in other.get(reverse("portal:billing:payments")).content.decode()


def test_billing_staff_sees_only_their_own_bills_in_the_portal(subscribed):
    staff = UserFactory(username="biller", is_staff=True)
    services.billing_staff_ensure(user=staff)
    page = portal_client(staff).get(reverse("portal:billing:bills")).content.decode()
    assert subscribed.bill.bill_number not in page and "No bills to show." in page
    assert portal_client(staff).get(reverse("portal:billing:bill", args=[subscribed.bill.pk])).status_code == 404


def test_bill_filters(subscribed, citizen):
    client = portal_client(citizen)
    url = reverse("portal:billing:bills")
    old, new = subscribed.old_bill, subscribed.bill
    page = client.get(url, {"period": "2026-01"}).content.decode()
    assert f"/billing/bills/{old.pk}/" in page and f"/billing/bills/{new.pk}/" not in page
    page = client.get(url, {"status": "issued", "provider": "water", "account": "A-1"}).content.decode()
    assert f"/billing/bills/{new.pk}/" in page
    page = client.get(url, {"provider": "nobody"}).content.decode()  # not a choice: the filter is ignored
    assert "Select a valid choice" in page
    page = client.get(url, {"account": "B-9"}).content.decode()
    assert "No bills to show." in page


#
# Applying and cancelling
#


def test_apply_then_cancel(water, citizen):
    services.bills_push(provider=water.provider, items=[bill_item("W-9", amount="66.60")])
    client = portal_client(citizen)
    response = client.get(reverse("portal:billing:apply"), {"provider": "water"})
    assert 'value="water" selected' in response.content.decode()
    response = client.post(reverse("portal:billing:apply"), {
        "provider": "water", "account_number": "A-1", "holder_name": HOLDER, "proof_method": "last_amount",
        "proof_value": "66.60", "channels": ["in_app", "email"]})
    assert response.status_code == 302 and response["Location"] == reverse("portal:billing:subscriptions")
    subscription = Subscription.objects.get(citizen=citizen)
    assert (subscription.status, subscription.proof_value, subscription.channels) == (
        "pending", "66.60", ["in_app", "email"])
    page = client.get(reverse("portal:billing:subscriptions")).content.decode()
    assert "pending" in page and "A-1" in page
    response = client.post(reverse("portal:billing:subscription_cancel", args=[subscription.pk]))
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELLED


def test_apply_with_a_wrong_holder_says_so_and_stores_nothing(water, citizen):
    services.bills_push(provider=water.provider, items=[bill_item("W-9")])
    response = portal_client(citizen).post(reverse("portal:billing:apply"), {
        "provider": "water", "account_number": "A-1", "holder_name": "someone else", "proof_method": "code",
        "proof_value": "1"})
    assert response.status_code == 400
    assert "No account of this provider has this number and holder name." in response.content.decode()
    assert not Subscription.objects.exists()


def test_applying_twice_is_refused(water, citizen):
    services.bills_push(provider=water.provider, items=[bill_item("W-9")])
    data = {"provider": "water", "account_number": "A-1", "holder_name": HOLDER, "proof_method": "code",
            "proof_value": "1"}
    client = portal_client(citizen)
    client.post(reverse("portal:billing:apply"), data)
    response = client.post(reverse("portal:billing:apply"), data)
    assert response.status_code == 400
    assert in_english(services.SubscriptionExists.message) in response.content.decode()
    assert Subscription.objects.filter(citizen=citizen).count() == 1


#
# Paying
#


def _pay_page(client, *bills):
    response = client.get(reverse("portal:billing:pay"), {"bills": [bill.pk for bill in bills]})
    assert response.status_code == 200
    return response


def test_pay_two_bills_by_card_once_even_if_the_form_is_sent_twice(subscribed, citizen):
    card_with(citizen, "500.00")
    second = Bill.objects.get(pk=services.bills_push(provider=subscribed.water.provider,
                                                     items=[bill_item("W-2", amount="30.50")]).bill_ids[0])
    client = portal_client(citizen)
    page = _pay_page(client, subscribed.bill, second)
    assert "¥130.50" in page.content.decode()
    form = {"bills": [subscribed.bill.pk, second.pk], "method": "card", "token": token_of(page)}
    first = client.post(reverse("portal:billing:pay"), form)
    again = client.post(reverse("portal:billing:pay"), form)
    payment = Payment.objects.get()
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"] == reverse("portal:billing:payment", args=[payment.pk])
    assert (payment.status, payment.amount) == ("succeeded", Decimal("130.50"))
    assert Card.objects.get(holder=citizen).balance == Decimal("369.50")
    assert set(Bill.objects.filter(status="paid").values_list("pk", flat=True)) == {subscribed.bill.pk, second.pk}
    result = client.get(first["Location"]).content.decode()
    assert "Paid. Thank you." in result and reverse("portal:billing:receipt", args=[payment.pk]) in result


def test_the_same_token_with_other_bills_pays_nothing(subscribed, citizen):
    card_with(citizen, "500.00")
    second = Bill.objects.get(pk=services.bills_push(provider=subscribed.water.provider,
                                                     items=[bill_item("W-2", amount="30.50")]).bill_ids[0])
    client = portal_client(citizen)
    token = token_of(_pay_page(client, subscribed.bill))
    client.post(reverse("portal:billing:pay"), {"bills": [subscribed.bill.pk], "method": "card", "token": token})
    response = client.post(reverse("portal:billing:pay"), {"bills": [second.pk], "method": "card", "token": token})
    assert response.status_code == 400
    assert "The form changed after it was shown" in response.content.decode()
    assert Payment.objects.count() == 1
    second.refresh_from_db()
    assert second.status == "issued"


def test_insufficient_funds_moves_nothing_and_offers_a_new_token(subscribed, citizen):
    card_with(citizen, "10.00")
    client = portal_client(citizen)
    token = token_of(_pay_page(client, subscribed.bill))
    response = client.post(reverse("portal:billing:pay"),
                           {"bills": [subscribed.bill.pk], "method": "card", "token": token})
    assert response.status_code == 409
    assert in_english(services.InsufficientFunds.message) in response.content.decode()
    assert token_of(response) != token
    assert not Payment.objects.exists()
    assert not IdempotencyRecord.objects.exists()  # a refusal stores nothing: the form may be sent again
    assert Card.objects.get(holder=citizen).balance == Decimal("10.00")


def test_a_paid_bill_cannot_be_paid_again(subscribed, citizen):
    card_with(citizen, "500.00")
    client = portal_client(citizen)
    for _attempt in range(2):
        token = token_of(_pay_page(client, subscribed.bill))
        response = client.post(reverse("portal:billing:pay"),
                               {"bills": [subscribed.bill.pk], "method": "card", "token": token})
    assert response.status_code == 409
    assert Payment.objects.filter(status="succeeded").count() == 1
    assert Card.objects.get(holder=citizen).balance == Decimal("400.00")


def test_pay_without_a_token_pays_nothing(subscribed, citizen):
    card_with(citizen, "500.00")
    response = portal_client(citizen).post(reverse("portal:billing:pay"),
                                           {"bills": [subscribed.bill.pk], "method": "card"})
    assert response.status_code == 400
    assert not Payment.objects.exists()


def test_pay_through_the_gateway_and_come_back(subscribed, citizen, django_capture_on_commit_callbacks):
    client = portal_client(citizen)
    token = token_of(_pay_page(client, subscribed.bill))
    response = client.post(reverse("portal:billing:pay"),
                           {"bills": [subscribed.bill.pk], "method": "gateway", "token": token})
    payment = Payment.objects.get()
    assert payment.status == "pending"
    result_url = reverse("portal:billing:payment", args=[payment.pk])
    assert response["Location"].startswith(reverse("billing-gateway:page", args=[payment.gateway_reference]))
    assert "next=" + result_url.replace("/", "%2F") in response["Location"]
    pending = client.get(result_url).content.decode()
    assert "under way" in pending
    assert escape(response["Location"]) in pending  # "continue at the gateway" takes up the same charge
    # The gateway page: the citizen chooses success, the callback settles the payment, back to the portal.
    with django_capture_on_commit_callbacks(execute=True):
        back = client.post(reverse("billing-gateway:page", args=[payment.gateway_reference]),
                           {"outcome": "succeed", "next": result_url})
    assert back.status_code == 302 and back["Location"] == result_url
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert "Paid. Thank you." in client.get(result_url).content.decode()


def test_receipt_only_for_a_settled_payment(subscribed, citizen):
    payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="gateway")
    client = portal_client(citizen)
    assert client.get(reverse("portal:billing:receipt", args=[payment.pk])).status_code == 404
    services.payment_settle(payment_id=payment.pk, succeeded=True)
    response = client.get(reverse("portal:billing:receipt", args=[payment.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert f'filename="receipt-CIVIC-{payment.pk:010d}.pdf"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"%PDF-")


#
# The one-card
#


def test_card_page_balance_movements_and_top_up(citizen, django_capture_on_commit_callbacks):
    card_with(citizen, "1000.00")
    client = portal_client(citizen, "zh-hans")
    page = client.get(reverse("portal:billing:card"))
    assert "¥1,000.00" in page.content.decode()
    form = {"amount": "100.00", "token": token_of(page)}
    first = client.post(reverse("portal:billing:card"), form)
    again = client.post(reverse("portal:billing:card"), form)
    payment = Payment.objects.get(purpose="top_up")
    assert first["Location"] == again["Location"]
    assert first["Location"].startswith(reverse("billing-gateway:page", args=[payment.gateway_reference]))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("billing-gateway:page", args=[payment.gateway_reference]), {"outcome": "succeed"})
    assert Card.objects.get(holder=citizen).balance == Decimal("1100.00")
    assert "¥1,100.00" in client.get(reverse("portal:billing:card")).content.decode()


@pytest.mark.parametrize("amount", ["-5", "0", "1.234", "abc", "999999"])
def test_bad_top_up_amounts_are_refused(citizen, amount):
    client = portal_client(citizen)
    token = token_of(client.get(reverse("portal:billing:card")))
    response = client.post(reverse("portal:billing:card"), {"amount": amount, "token": token})
    assert response.status_code == 400
    assert not Payment.objects.exists()


def test_another_citizens_card_is_not_shown(citizen, other_citizen):
    card_with(citizen, "1000.00")
    page = portal_client(other_citizen).get(reverse("portal:billing:card")).content.decode()
    assert "1000.00" not in page and "no balance yet" in page


def test_query_counts_of_the_bill_list_do_not_grow_with_bills(subscribed, citizen, django_assert_max_num_queries):
    services.bills_push(provider=subscribed.water.provider,
                        items=[bill_item(f"W-{n}", period=f"2025-{n:02d}") for n in range(2, 12)])
    client = portal_client(citizen)
    client.get(reverse("portal:billing:bills"))
    with django_assert_max_num_queries(8):
        client.get(reverse("portal:billing:bills"))


def test_paying_a_void_bill_is_refused_and_moves_nothing(subscribed, citizen):
    card_with(citizen, "500.00")
    client = portal_client(citizen)
    token = token_of(_pay_page(client, subscribed.bill))
    services.bill_void(provider=subscribed.water.provider, bill_number=subscribed.bill.bill_number)
    response = client.post(reverse("portal:billing:pay"),
                           {"bills": [subscribed.bill.pk], "method": "card", "token": token})
    assert response.status_code == 409
    assert "paid or void already" in response.content.decode()  # the page marks the bill as unpayable
    assert not Payment.objects.exists()
    assert Card.objects.get(holder=citizen).balance == Decimal("500.00")
    # The bill page no longer offers to pay it.
    assert "Pay this bill" not in client.get(reverse("portal:billing:bill", args=[subscribed.bill.pk])).content.decode()


def test_a_hospital_visit_bill_is_listed_filterable_and_payable(subscribed, citizen):
    """Visit bills come without applying (services.visit_bill_issue): the list offers their hospital as
    a filter though it is not among the providers one applies to."""
    from datetime import date, timedelta

    visit = services.visit_bill_issue(citizen=citizen, issuer_code="hospital-1", issuer_name="市第一医院",
                                      reference="V-1", description="门诊", amount=Decimal("25.00"),
                                      due_date=date.today() + timedelta(days=7))
    client = portal_client(citizen)
    assert "hospital-1" not in client.get(reverse("portal:billing:providers")).content.decode()
    page = client.get(reverse("portal:billing:bills"), {"provider": "hospital-1"}).content.decode()
    assert f"/billing/bills/{visit.pk}/" in page and f"/billing/bills/{subscribed.bill.pk}/" not in page
    card_with(citizen, "100.00")
    token = token_of(_pay_page(client, visit))
    client.post(reverse("portal:billing:pay"), {"bills": [visit.pk], "method": "card", "token": token})
    visit.refresh_from_db()
    assert visit.status == "paid"
