"""The simulated payment gateway, inside the project so the whole flow runs without a bank.

The "gateway" keeps its own book (GatewayCharge). A payment opens a charge (``charge_open``) and sends
the citizen to the gateway's page (``charge_url``, services.billing.views.GatewayPageView), where
they choose what the gateway does:

    succeed   charge succeeds, the gateway calls back at once
    fail      charge fails, the gateway calls back at once
    timeout   charge succeeds at the gateway, but no answer reaches us: the payment becomes `unknown`
              and the beat task (payments_requery) asks the gateway (``charge_status``) later
    late      charge succeeds, the callback arrives later (a delayed task)
    twice     charge succeeds, the callback arrives twice (the second changes nothing)

The callback is signed like Stripe's webhooks: header ``Gateway-Signature: t=<unix time>,v1=<hex>``,
HMAC-SHA256 of ``"<t>.<raw body>"`` with BILLING_GATEWAY_SECRET, 300 s tolerance, compared in constant
time. A wrong or stale signature, a malformed body or an unknown payment is refused (4xx) and nothing
moves (``callback_receive``).
"""

import hashlib
import hmac
import json
import secrets
import time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from services.billing.models import GatewayCharge, Payment

__all__ = [
    "OUTCOMES",
    "SIGNATURE_HEADER",
    "TOLERANCE",
    "callback_body",
    "callback_receive",
    "charge_complete",
    "charge_open",
    "charge_status",
    "charge_url",
    "sign",
]

SIGNATURE_HEADER = "Gateway-Signature"
TOLERANCE = 300  # seconds
OUTCOMES = ("succeed", "fail", "timeout", "late", "twice")
LATE_SECONDS = 30


def _secret() -> bytes:
    return (getattr(settings, "BILLING_GATEWAY_SECRET", "") or f"gateway:{settings.SECRET_KEY}").encode()


def sign(body: bytes, *, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(_secret(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def _verify(body: bytes, header: str) -> None:
    try:
        parts = dict(part.split("=", 1) for part in (header or "").split(","))
        at = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise PermissionDenied("malformed signature") from None
    if abs(time.time() - at) > TOLERANCE:
        raise PermissionDenied("stale signature")
    expected = hmac.new(_secret(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise PermissionDenied("wrong signature")


def charge_open(*, merchant_reference: str, amount: Decimal) -> str:
    reference = "gw_" + secrets.token_urlsafe(18)
    GatewayCharge.objects.create(reference=reference, merchant_reference=merchant_reference, amount=amount)
    return reference


def charge_url(reference: str) -> str:
    return reverse("billing-gateway:page", args=[reference])


def charge_status(reference: str) -> str | None:
    """What the gateway says when asked: succeeded or failed; None while the charge is open."""
    status = GatewayCharge.objects.filter(reference=reference).values_list("status", flat=True).first()
    return None if status in (None, GatewayCharge.Status.OPEN) else status


def callback_body(charge: GatewayCharge) -> bytes:
    return json.dumps({"reference": charge.reference, "merchant_reference": charge.merchant_reference,
                       "status": charge.status, "amount": str(charge.amount)}, separators=(",", ":")).encode()


def charge_complete(*, reference: str, outcome: str) -> GatewayCharge:
    """The citizen's choice on the gateway page. The charge settles once; the callbacks follow."""
    from services.billing import services
    from services.billing.tasks import gateway_callback

    if outcome not in OUTCOMES:
        raise ValidationError({"outcome": "unknown outcome"})
    with transaction.atomic():
        charge = GatewayCharge.objects.select_for_update().filter(reference=reference).first()
        if charge is None:
            raise Http404
        if charge.status == GatewayCharge.Status.OPEN:
            charge.status = GatewayCharge.Status.FAILED if outcome == "fail" else GatewayCharge.Status.SUCCEEDED
            charge.settled_at = timezone.now()
            charge.save(update_fields=["status", "settled_at"])
        if outcome == "timeout":
            payment = Payment.objects.filter(gateway_reference=reference).first()
            if payment is not None:
                services.payment_mark_unknown(payment=payment)
            return charge
        transaction.on_commit(lambda: gateway_callback.apply_async(
            [reference], countdown=LATE_SECONDS if outcome == "late" else None))
        if outcome == "twice":
            transaction.on_commit(lambda: gateway_callback.delay(reference))
    return charge


def callback_send(reference: str) -> None:
    """What the gateway's callback does (run by the gateway_callback task): POST-equivalent of the
    signed body to callback_receive, the same code the callback view runs."""
    charge = GatewayCharge.objects.get(reference=reference)
    body = callback_body(charge)
    callback_receive(body=body, signature=sign(body))


def callback_receive(*, body: bytes, signature: str) -> Payment:
    """A signed gateway callback: verify it, then settle the payment it names (at most once)."""
    from services.billing import services

    _verify(body, signature)
    try:
        data = json.loads(body)
        reference, status, amount = data["reference"], data["status"], Decimal(str(data["amount"]))
    except (ValueError, KeyError, TypeError, ArithmeticError):
        raise ValidationError("malformed callback") from None
    if status not in (GatewayCharge.Status.SUCCEEDED, GatewayCharge.Status.FAILED):
        raise ValidationError("unknown status")
    payment = Payment.objects.filter(gateway_reference=reference).first() if isinstance(reference, str) else None
    if payment is None:
        raise Http404
    if amount != payment.amount:
        raise ValidationError("amount does not match the payment")
    return services.payment_settle(payment_id=payment.pk, succeeded=status == GatewayCharge.Status.SUCCEEDED,
                                   reason="gateway: failed" if status == GatewayCharge.Status.FAILED else "")
