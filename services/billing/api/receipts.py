"""GET /api/v1/billing/payments/{id}/receipt/: the PDF receipt of one of the caller's settled payments
(services.billing.receipts). The payment is found through billing's selectors, so another citizen's
payment is a 404 like one that does not exist; a payment not settled yet (pending, unknown, failed)
has no receipt: 409 receipt_not_ready. Partners' keys are refused (no required_scope)."""

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from civic.errors import ConflictError
from services.billing import selectors
from services.billing.models import Payment
from services.billing.receipts import receipt_pdf

__all__ = ["PaymentReceiptView", "ReceiptNotReady"]


class ReceiptNotReady(ConflictError):
    code = "receipt_not_ready"
    message = _("Only a succeeded payment has a receipt.")


class PaymentReceiptView(APIView):
    @extend_schema(
        operation_id="billing_payments_receipt",
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF receipt.")},
    )
    def get(self, request, id: int):
        """The receipt of one of your payments, as a PDF: transaction id, when and how it was paid, and
        each bill it settled (provider, account, period, bill number, payment reference, amount). 404 for a
        payment that is not yours; 409 receipt_not_ready while it has not succeeded."""
        payment = selectors.payment_get(user=request.user, pk=id)
        if payment.status != Payment.Status.SUCCEEDED:
            raise ReceiptNotReady
        name, pdf = receipt_pdf(payment)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
