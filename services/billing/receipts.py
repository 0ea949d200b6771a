"""The PDF receipt of a settled payment, built with reportlab (pinned in requirements.txt).

Chinese text is drawn with reportlab's built-in CID font STSong-Light (UnicodeCIDFont): the reader's
PDF viewer supplies the glyphs, so nothing is embedded and the file stays a few kilobytes. The
receipt says what a payer needs to show later: the payment's number and gateway reference (the key
for any complaint), when and how it was paid, and each bill it settled with the provider, account,
period, bill number, payment reference and amount; the total is the sum of those amounts.

Who may download which receipt is decided by the callers (billing's selectors scope the payment to
the viewer); this module only draws one for a payment it is given, in the current language.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

__all__ = ["FONT", "Receipt", "ReceiptLine", "receipt_filename", "receipt_pdf", "render_receipt"]

FONT = "STSong-Light"


@dataclass(frozen=True)
class ReceiptLine:
    provider: str
    account_number: str
    holder: str
    period: str
    bill_number: str
    reference: str
    amount: Decimal


@dataclass(frozen=True)
class Receipt:
    number: str
    paid_at: object  # an aware datetime
    method: str
    payer: str
    total: Decimal
    gateway_reference: str = ""
    lines: list[ReceiptLine] = field(default_factory=list)


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _yuan(amount: Decimal) -> str:
    return f"¥{amount:,.2f}"


def render_receipt(receipt: Receipt) -> bytes:
    """The receipt as PDF bytes (A4, one page per 25 bills)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font()
    title_style = ParagraphStyle("title", fontName=FONT, fontSize=18, leading=24, spaceAfter=6)
    body = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12)
    small = ParagraphStyle("small", fontName=FONT, fontSize=8, leading=11, textColor=colors.HexColor("#4a4a4a"))

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
        title=_("Payment receipt %(number)s") % {"number": receipt.number}, author=_("Civic city services"),
    )
    paid_at = date_format(timezone.localtime(receipt.paid_at), "DATETIME_FORMAT") if receipt.paid_at else "—"
    facts = [
        [_("Receipt number"), receipt.number],
        [_("Paid at"), paid_at],
        [_("Payment method"), receipt.method],
        [_("Payer"), receipt.payer],
    ]
    if receipt.gateway_reference:
        facts.append([_("Gateway reference"), receipt.gateway_reference])
    facts_table = Table(facts, colWidths=[40 * mm, None], hAlign="LEFT")
    facts_table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 10), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))

    header = [_("Provider"), _("Account"), _("Period"), _("Bill number"), _("Payment reference"), _("Amount")]
    rows = [header]
    for line in receipt.lines:
        account = f"{line.account_number}\n{line.holder}" if line.holder else line.account_number
        rows.append([Paragraph(line.provider, body), account, line.period, line.bill_number, line.reference,
                     _yuan(line.amount)])
    rows.append(["", "", "", "", _("Total"), _yuan(receipt.total)])
    bills = Table(rows, colWidths=[42 * mm, 30 * mm, 16 * mm, 28 * mm, 32 * mm, 26 * mm], repeatRows=1)
    bills.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 9),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef4fb")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.75, colors.HexColor("#0b5cab")),
        ("LINEABOVE", (0, -1), (-1, -1), 0.75, colors.black),
        ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (-2, -1), (-1, -1), FONT, 10),
    ]))
    story = [
        Paragraph(_("Payment receipt"), title_style),
        Paragraph(_("Civic city services · utility e-bills"), small),
        Spacer(1, 6 * mm), facts_table, Spacer(1, 6 * mm), bills, Spacer(1, 8 * mm),
        Paragraph(_("This receipt confirms that the bills above were paid through the city's e-bill platform. "
                    "Quote the receipt number in any question about this payment."), small),
    ]
    document.build(story)
    return buffer.getvalue()


def receipt_filename(receipt: Receipt) -> str:
    return f"receipt-{receipt.number}.pdf"


def receipt_pdf(payment) -> tuple[str, bytes]:
    """(file name, PDF bytes) of a settled payment's receipt."""
    receipt = receipt_of(payment)
    return receipt_filename(receipt), render_receipt(receipt)


def receipt_of(payment) -> Receipt:
    """The receipt of a payment, from what billing's selectors say a receipt shows (receipt_data)."""
    from services.billing.selectors import receipt_data

    data = receipt_data(payment)
    payer = payment.payer
    # A Chinese name is written surname first, with no space.
    name = f"{payer.last_name}{payer.first_name}".strip()
    holders = dict(payment.items.values_list("bill_id", "bill__account__holder_name"))
    method = data["method_label"]
    if data["purpose"] != "bills":
        method = f"{method} · {_('one-card top-up')}"
    return Receipt(
        number=data["transaction_id"], paid_at=data["settled_at"] or data["created_at"], method=str(method),
        payer=name or data["payer"], total=data["amount"], gateway_reference=data["gateway_reference"],
        lines=[ReceiptLine(provider=bill["provider"], account_number=bill["account_number"],
                           holder=holders.get(bill["id"], ""), period=bill["period"],
                           bill_number=bill["bill_number"], reference=bill["payment_reference"],
                           amount=bill["amount"]) for bill in data["bills"]],
    )
