"""A citizen's e-bill journey in a phone browser, in each language: apply for an account's e-bills with
the amount of its last bill, billing staff confirm the application in the admin's approval queue, the
provider pushes a bill through its partner API, the citizen opens it, pays it through the simulated
gateway and comes back to the result, and downloads the PDF receipt."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from services.billing import services
from services.billing.models import Bill, Card, Payment, Subscription
from tests.billing.conftest import HOLDER, bill_item, card_with, make_provider
from tests.browser.helpers import LANGUAGES, Words, log_in
from tests.factories import PASSWORD, UserFactory

# The gateway settles a payment through its callback task: run it in this process (CI has no worker).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("tasks_in_process")]

PROVIDER_NAMES = {"zh-hans": "自来水公司", "en": "自来水公司"}


def _push_bill(client, number: str, amount: str, lines: list[dict]) -> None:
    item = bill_item(number, amount=amount, lines=lines, due=date.today() + timedelta(days=15))
    response = client.post("/api/v1/billing/provider/bills/", [item], format="json")
    assert response.status_code == 201, response.content


def staff_confirms_in_the_admin(page, words: Words, subscription: Subscription) -> None:
    page.goto("/admin/billing/subscription/")
    page.get_by_label(words.cap("username")).fill("biller")
    page.get_by_label(words("Password")).fill(PASSWORD)
    page.get_by_role("button", name=words("Log in"), exact=True).click()
    # The queue opens on pending applications.
    row = page.get_by_role("row").filter(has_text="A-1")
    expect(row).to_contain_text("88.80")
    expect(row).to_contain_text(words("yes, the last bill's amount"))
    page.get_by_role("checkbox", name=words("Select this object for an action - {}").format(str(subscription))).check()
    page.get_by_label(words("Action:")).select_option(label=words("Confirm the selected applications"))
    page.get_by_role("button", name=words("Go"), exact=True).click()
    expect(page.get_by_text(f"{words('Confirmed')}: A-1.", exact=True)).to_be_visible()


@pytest.mark.parametrize("language", LANGUAGES)
def test_apply_confirm_push_pay_and_download_the_receipt(city, new_page, language, tmp_path):
    words = Words(language)
    water = make_provider("water", "water")
    water.provider.name = PROVIDER_NAMES[language]
    water.provider.save(update_fields=["name"])
    _push_bill(water.client, "W-0", "88.80", [{"description": "水费", "amount": "88.80"}])
    citizen = UserFactory(username="resident", email="resident@example.cn", is_staff=False, language=language)
    card_with(citizen, "1000.00")
    services.billing_staff_ensure(user=UserFactory(username="biller"))

    page = new_page(language)
    log_in(page, words, "resident@example.cn", PASSWORD)
    page.get_by_role("navigation", name=words("Main")).get_by_role("link", name=words("My e-bills")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words("My e-bills"))
    page.get_by_role("navigation", name=words("E-bills")).get_by_role("link", name=words("Providers")).click()
    page.get_by_role("link", name=words("Apply for %(name)s e-bills") % {"name": water.provider.name}).click()
    expect(page.get_by_label(words("Provider"), exact=True)).to_have_value("water")
    page.get_by_label(words("Account number"), exact=True).fill("A-1")
    page.get_by_label(words("Account holder's name"), exact=True).fill(HOLDER)
    page.get_by_label(words("amount of the last bill"), exact=True).check()
    page.get_by_label(words("Amount of the last bill, or the provider's code"), exact=True).fill("88.80")
    page.get_by_role("button", name=words("Send the application"), exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("A-1")
    subscription = Subscription.objects.get(citizen=citizen)
    expect(page.locator(f"#subscription-{subscription.pk}")).to_contain_text(words("pending"))

    staff_confirms_in_the_admin(new_page(language), words, subscription)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE

    _push_bill(water.client, "W-1", "120.50", [{"description": "水费 12 吨", "amount": "110.50"},
                                               {"description": "污水处理费", "amount": "10.00"}])
    bill = Bill.objects.get(bill_number="W-1")
    assert bill.citizen == citizen

    page.get_by_role("navigation", name=words("E-bills")).get_by_role("link", name=words("Bills")).click()
    page.get_by_role("link", name=f"{water.provider.name} · {bill.period:%Y-%m}").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(water.provider.name)
    lines = page.get_by_role("table")
    expect(lines).to_contain_text("污水处理费")
    expect(lines).to_contain_text("¥120.50")
    page.get_by_role("button", name=words("Pay this bill"), exact=True).click()

    expect(page.get_by_role("table")).to_contain_text("¥120.50")
    page.get_by_label(words("payment gateway"), exact=True).check()
    page.get_by_role("button", name=words("Pay %(total)s") % {"total": "¥120.50"}, exact=True).click()
    # The simulated gateway's own page, then back to the payment's page.
    expect(page.get_by_role("heading", level=1)).to_have_text(words("Simulated payment gateway"))
    expect(page.get_by_test_id("amount")).to_have_text("¥120.50")
    page.get_by_role("button", name=words("Pay"), exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(words("Paid. Thank you."))
    payment = Payment.objects.get(payer=citizen)
    assert (payment.status, payment.amount, payment.method) == ("succeeded", Decimal("120.50"), "gateway")
    bill.refresh_from_db()
    assert bill.status == "paid"
    assert Card.objects.get(holder=citizen).balance == Decimal("1000.00")  # the gateway paid, not the card

    with page.expect_download() as download_info:
        page.get_by_role("link", name=words("Download the receipt (PDF)")).click()
    download = download_info.value
    assert download.suggested_filename == f"receipt-CIVIC-{payment.pk:010d}.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    from pypdf import PdfReader

    text = "".join(p.extract_text() for p in PdfReader(saved).pages)
    assert "W-1" in text and bill.payment_reference in text and "¥120.50" in text
    assert re.search(words("Payment receipt"), text)


def test_e_bill_pages_pass_axe(city, new_page):
    """WCAG 2.1 A/AA (axe-core) on each e-bill page a citizen uses, at phone width."""
    from tests.browser.conftest import check_accessibility

    words = Words("zh-hans")
    water = make_provider("water", "water")
    citizen = UserFactory(username="resident", email="resident@example.cn", is_staff=False)
    _push_bill(water.client, "W-1", "120.50", [{"description": "水费", "amount": "120.50"}])
    subscription = services.subscription_apply(citizen=citizen, provider=water.provider, account_number="A-1",
                                               holder_name=HOLDER, proof_method="code", proof_value="1")
    services.subscription_confirm(actor=None, subscription=subscription)
    card_with(citizen, "500.00")
    bill = Bill.objects.get(bill_number="W-1")
    payment, _url = services.payment_create(payer=citizen, bill_ids=[bill.pk], method="card")
    page = new_page("zh-hans")
    log_in(page, words, "resident@example.cn", PASSWORD)
    for path in ["/billing/", "/billing/providers/", "/billing/apply/", "/billing/subscriptions/",
                 f"/billing/bills/{bill.pk}/", "/billing/payments/", f"/billing/payments/{payment.pk}/",
                 "/billing/card/"]:
        page.goto(path)
        check_accessibility(page, context=path)
    page.goto("/billing/apply/")
    page.get_by_role("button", name=words("Send the application"), exact=True).click()  # with its errors
    check_accessibility(page, context="the apply form with errors")
