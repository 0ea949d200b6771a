"""The providers' API (/api/v1/billing/provider/): a partner key with the scope billing.provider acts
for its provider and sees only that provider's bills, subscriptions and payments."""

import csv
import io
from datetime import date

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from civic.api.errors import error_body
from partners.models import ApiKey
from partners.permissions import ApiKeyScope
from services.billing import selectors, services
from services.billing.api.serializers import (
    ProviderBillSerializer,
    ProviderPaymentSerializer,
    ProviderSubscriptionSerializer,
)
from services.billing.models import Subscription

__all__ = ["ProviderBillViewSet", "ProviderPaymentView", "ProviderSubscriptionViewSet"]

SCOPE = "billing.provider"


class IsProviderKey(BasePermission):
    """Only a key: these endpoints are the provider's systems' (ApiKeyScope checks its scope)."""

    message = _("Use your provider's API key (scope billing.provider).")

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


class _ProviderView:
    permission_classes = [IsAuthenticated, ApiKeyScope, IsProviderKey]
    required_scope = SCOPE
    filter_backends = []

    @property
    def provider(self):
        if not hasattr(self, "_provider"):
            try:
                self._provider = selectors.provider_for(self.request.auth)
            except Http404:
                raise exceptions.PermissionDenied(_("This key's partner is not a billing provider.")) from None
        return self._provider


class PushResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class ProviderBillViewSet(_ProviderView, mixins.ListModelMixin, GenericViewSet):
    serializer_class = ProviderBillSerializer
    lookup_field = "bill_number"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        return selectors.provider_bills(provider=self.provider)

    @extend_schema(request={"application/json": {"type": "array", "items": {"type": "object"}}},
                   responses={201: PushResultSerializer, 200: PushResultSerializer})
    def create(self, request):
        """Push up to 10,000 bills, all or nothing: each at least bill_number, account_number, period
        (YYYY-MM), amount ("123.45"), due_date, lines [{description, amount}] (holder_name and address
        open an unknown account). The same bill again changes nothing; other content under a known number
        refuses the push (409); any invalid item refuses it (400), errors keyed "<index>.<field>"."""
        try:
            result = services.bills_push(provider=self.provider, items=request.data)
        except services.PushRejected as rejected:
            code = status.HTTP_409_CONFLICT if rejected.conflict else status.HTTP_400_BAD_REQUEST
            body = error_body(code, "bill_conflict" if rejected.conflict else "invalid",
                              _("Nothing was stored: the push has errors."), rejected.errors)
            return Response(body, status=code)
        return Response({"created": result.created, "unchanged": result.unchanged},
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)

    @extend_schema(request=None, responses={200: ProviderBillSerializer})
    @action(detail=True, methods=["post"])
    def void(self, request, bill_number=None):
        """Void an unpaid bill (409 when it is paid or being paid)."""
        bill = services.bill_void(provider=self.provider, bill_number=bill_number)
        return Response(ProviderBillSerializer(bill).data)


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ProviderSubscriptionViewSet(_ProviderView, mixins.ListModelMixin, GenericViewSet):
    """Applications for the provider's accounts' e-bills (?status=pending for the queue)."""

    serializer_class = ProviderSubscriptionSerializer

    def get_queryset(self):
        wanted = self.request.query_params.get("status") or None
        if wanted and wanted not in Subscription.Status.values:
            raise exceptions.ValidationError({"status": [_("Unknown status.")]})
        return selectors.provider_subscriptions(provider=self.provider, status=wanted)

    def _subscription(self, pk):
        if not str(pk).isdigit():
            raise Http404
        subscription = selectors.provider_subscriptions(provider=self.provider).filter(pk=int(pk)).first()
        if subscription is None:
            raise Http404
        return subscription

    @extend_schema(request=None, responses={200: ProviderSubscriptionSerializer})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        subscription = services.subscription_confirm(actor=request.user, subscription=self._subscription(pk))
        return Response(ProviderSubscriptionSerializer(subscription).data)

    @extend_schema(request=RejectSerializer, responses={200: ProviderSubscriptionSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = RejectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.subscription_reject(actor=request.user, subscription=self._subscription(pk),
                                                    reason=data.validated_data.get("reason", ""))
        return Response(ProviderSubscriptionSerializer(subscription).data)


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, list):  # an error: keep its shape readable
            return JSONRenderer().render(data)
        out = io.StringIO()
        fields = list(ProviderPaymentSerializer.Meta.fields)
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in data:
            writer.writerow({name: row.get(name) for name in fields})
        return out.getvalue().encode("utf-8")


class ProviderPaymentView(_ProviderView, APIView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(parameters=[OpenApiParameter("date", str, required=True, description="YYYY-MM-DD"),
                               OpenApiParameter("format", str, enum=["json", "csv"])],
                   responses={200: ProviderPaymentSerializer(many=True)})
    def get(self, request, format=None):
        """The provider's bills paid on a day (local time), one row per bill: for its reconciliation."""
        try:
            day = date.fromisoformat(request.query_params.get("date", ""))
        except ValueError:
            raise exceptions.ValidationError({"date": [_("Give the date as YYYY-MM-DD.")]}) from None
        rows = selectors.provider_payments(provider=self.provider, day=day)
        response = Response(ProviderPaymentSerializer(rows, many=True).data)
        if getattr(request.accepted_renderer, "format", "") == "csv":
            response["Content-Disposition"] = f'attachment; filename="payments-{self.provider.code}-{day}.csv"'
        return response
