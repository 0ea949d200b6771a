"""The simulated gateway's own page and its signed callback (services.billing.gateway).

The page belongs to the "gateway", not to the portal: it shows the charge and lets the person paying
choose what the gateway does. The callback is what a real gateway would POST to us."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from civic.api.errors import error_body
from services.billing import gateway
from services.billing.models import GatewayCharge

__all__ = ["GatewayCallbackView", "GatewayPageView"]


class GatewayPageView(View):
    def get(self, request, reference):
        charge = get_object_or_404(GatewayCharge, reference=reference)
        return render(request, "billing/gateway.html", {"charge": charge, "outcomes": gateway.OUTCOMES,
                                                        "next": request.GET.get("next", "")})

    def post(self, request, reference):
        try:
            charge = gateway.charge_complete(reference=reference, outcome=request.POST.get("outcome", ""))
        except ValidationError:
            return self.get(request, reference)
        target = request.POST.get("next", "")
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            return HttpResponseRedirect(target)
        return render(request, "billing/gateway.html", {"charge": charge, "outcomes": (), "done": True})


@method_decorator(csrf_exempt, name="dispatch")
class GatewayCallbackView(View):
    """POST only: the raw body, signed in the Gateway-Signature header. Answers in the API's error shape."""

    def post(self, request):
        try:
            payment = gateway.callback_receive(body=request.body,
                                               signature=request.headers.get(gateway.SIGNATURE_HEADER, ""))
        except PermissionDenied as refused:
            return JsonResponse(error_body(403, "bad_signature", str(refused) or "bad signature"), status=403)
        except ValidationError as invalid:
            return JsonResponse(error_body(400, "invalid", "; ".join(invalid.messages)), status=400)
        except Http404:
            return JsonResponse(error_body(404, "not_found", "unknown payment"), status=404)
        return JsonResponse({"payment": payment.pk, "status": payment.status})
