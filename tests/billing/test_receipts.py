"""The PDF receipt (services.billing.receipts) through the API route and its content: Chinese text drawn
with the CID font (read back with pypdf), every bill of the payment with its reference and amount,
the total; only the payer's own settled payments have one."""

import io
from decimal import Decimal

import pytest
from django.utils import translation
from pypdf import PdfReader

from services.billing import services
from services.billing.models import Bill, Provider
from services.billing.receipts import FONT, receipt_of, receipt_pdf
from tests.billing.conftest import HOLDER, bill_item, card_with, key_client, user_client

pytestmark = pytest.mark.django_db

WATER_NAME = "呼和浩特市供水总公司"


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def paid(subscribed, citizen):
    """The citizen paid W-1 (¥100.00) and W-2 (¥35.25) together from the one-card."""
    Provider.objects.filter(pk=subscribed.water.provider.pk).update(name=WATER_NAME)
    second = services.bills_push(provider=subscribed.water.provider,
                                 items=[bill_item("W-2", amount="35.25", period="2026-02")]).bill_ids[0]
    card_with(citizen, "1000.00")
    payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk, second], method="card")
    return payment


def test_receipt_in_chinese_lists_every_bill_and_the_total(paid):
    with translation.override("zh-hans"):
        name, pdf = receipt_pdf(paid)
    assert name == f"receipt-CIVIC-{paid.pk:010d}.pdf"
    text = _text(pdf)
    assert "缴费回单" in text and HOLDER in text
    assert WATER_NAME in text.replace("\n", "")  # a long name may wrap in its column
    assert f"CIVIC-{paid.pk:010d}" in text
    for bill in Bill.objects.filter(payment_items__payment=paid):
        assert bill.bill_number in text and bill.payment_reference in text
    assert "¥100.00" in text and "¥35.25" in text
    assert "合计" in text and "¥135.25" in text
    assert "2026-02" in text
    # The CJK text is drawn with the built-in CID font, not embedded glyphs.
    assert f"/{FONT}".encode() in pdf


def test_receipt_in_english(paid):
    with translation.override("en"):
        text = _text(receipt_pdf(paid)[1])
    assert "Payment receipt" in text and "Total" in text and "¥135.25" in text


def test_receipt_total_is_the_sum_of_its_lines(paid):
    receipt = receipt_of(paid)
    assert receipt.total == sum(line.amount for line in receipt.lines) == Decimal("135.25")


def test_api_receipt_of_own_payment(paid, citizen):
    response = user_client(citizen).get(f"/api/v1/billing/payments/{paid.pk}/receipt/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="receipt-CIVIC-{paid.pk:010d}.pdf"' in response["Content-Disposition"]
    assert "¥135.25" in _text(response.content)


def test_api_receipt_of_someone_elses_payment_is_404(paid, other_citizen):
    response = user_client(other_citizen).get(f"/api/v1/billing/payments/{paid.pk}/receipt/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_api_receipt_of_a_pending_payment_is_409(subscribed, citizen):
    payment, _url = services.payment_create(payer=citizen, bill_ids=[subscribed.bill.pk], method="gateway")
    response = user_client(citizen).get(f"/api/v1/billing/payments/{payment.pk}/receipt/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "receipt_not_ready"


def test_api_receipt_refuses_keys_and_anonymous(paid, subscribed):
    from rest_framework.test import APIClient

    assert key_client(subscribed.water.key).get(f"/api/v1/billing/payments/{paid.pk}/receipt/").status_code == 403
    assert APIClient().get(f"/api/v1/billing/payments/{paid.pk}/receipt/").status_code == 401
