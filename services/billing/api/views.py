"""The citizens' billing API (/api/v1/billing/): providers, subscriptions, accounts, bills, payments
and the one-card. Reads go through services.billing.selectors (grid.permissions.scope: a citizen sees
their own rows, so another's bill is a 404); writes through services.billing.services. Payments and
top-ups require an Idempotency-Key (services.billing.api.idempotency). API keys are refused here."""

import re
from datetime import date

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from services.billing import selectors, services
from services.billing.api.idempotency import IDEMPOTENCY_KEY_REQUIRED, idempotent
from services.billing.api.serializers import (
    AccountSerializer,
    BillDetailSerializer,
    BillSerializer,
    CardMovementSerializer,
    CardSerializer,
    PaymentCreateSerializer,
    PaymentSerializer,
    ProviderSerializer,
    SubscriptionApplySerializer,
    SubscriptionSerializer,
    TopUpSerializer,
)
from services.billing.models import Bill

__all__ = ["AccountViewSet", "BillViewSet", "CardView", "PaymentViewSet", "ProviderViewSet", "SubscriptionViewSet"]

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class ProviderViewSet(mixins.ListModelMixin, GenericViewSet):
    serializer_class = ProviderSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return selectors.provider_list()


class AccountViewSet(mixins.ListModelMixin, GenericViewSet):
    """The accounts the citizen holds (or has applied for) e-bills of."""

    serializer_class = AccountSerializer
    filter_backends = []

    def get_queryset(self):
        return selectors.account_list(user=self.request.user)


class SubscriptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    serializer_class = SubscriptionSerializer
    filter_backends = []

    def get_queryset(self):
        return selectors.subscription_list(user=self.request.user)

    @extend_schema(request=SubscriptionApplySerializer, responses={201: SubscriptionSerializer})
    def create(self, request):
        """Apply for an account's e-bills, with proof of ownership (the last bill's amount, or the
        provider's code); pending until the provider confirms."""
        data = SubscriptionApplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.subscription_apply(citizen=request.user, **data.validated_data)
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: SubscriptionSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop the e-bills; the history stays."""
        subscription = services.subscription_cancel(citizen=request.user, subscription=self.get_object())
        return Response(SubscriptionSerializer(subscription).data)


class BillViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """The citizen's bills; filters status, provider (code), account (number), period (YYYY-MM)."""

    filter_backends = []

    def get_serializer_class(self):
        return BillDetailSerializer if self.action == "retrieve" else BillSerializer

    def get_queryset(self):
        params = self.request.query_params
        status_ = params.get("status") or None
        if status_ and status_ not in Bill.Status.values:
            raise ValidationError({"status": [_("One of: %(values)s.") % {"values": ", ".join(Bill.Status.values)}]})
        period = None
        if params.get("period"):
            match = _PERIOD.match(params["period"])
            if not match:
                raise ValidationError({"period": [_("Give the period as YYYY-MM.")]})
            period = date(int(match[1]), int(match[2]), 1)
        return selectors.bill_list(user=self.request.user, status=status_, provider=params.get("provider") or None,
                                   account=params.get("account") or None, period=period)

    def get_object(self):
        pk = self.kwargs["pk"]
        if not str(pk).isdigit():
            from django.http import Http404

            raise Http404
        return selectors.bill_detail(user=self.request.user, pk=int(pk))


class PaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    serializer_class = PaymentSerializer
    filter_backends = []

    def get_queryset(self):
        return selectors.payment_list(user=self.request.user)

    @extend_schema(request=PaymentCreateSerializer, responses={201: PaymentSerializer},
                   parameters=[IDEMPOTENCY_KEY_REQUIRED])
    def create(self, request):
        """Pay one or more of your bills as one payment, all or nothing: `card` settles at once from the
        one-card (409 insufficient_funds when short), `gateway` answers `pending` with the gateway's URL."""

        def run():
            data = PaymentCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            payment, url = services.payment_create(payer=request.user, bill_ids=data.validated_data["bills"],
                                                   method=data.validated_data["method"])
            body = PaymentSerializer(payment, context={"request": request, "gateway_url": url}).data
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, self, run)


class CardView(APIView):
    """The one-card: its balance and latest movements (GET card/), all movements (GET card/movements/),
    and top-ups through the gateway (POST card/top-ups/)."""

    @extend_schema(responses={200: CardSerializer})
    def get(self, request):
        card = selectors.card_for(user=request.user) or services.card_ensure(holder=request.user)
        movements = list(selectors.card_movements(card=card)[:20])
        return Response(CardSerializer(card, context={"movements": movements}).data)


class CardMovementViewSet(mixins.ListModelMixin, GenericViewSet):
    serializer_class = CardMovementSerializer
    filter_backends = []

    def get_queryset(self):
        card = selectors.card_for(user=self.request.user)
        if card is None:
            return CardMovementSerializer.Meta.model.objects.none()
        return selectors.card_movements(card=card)


class TopUpView(APIView):
    @extend_schema(request=TopUpSerializer, responses={201: PaymentSerializer}, parameters=[IDEMPOTENCY_KEY_REQUIRED])
    def post(self, request):
        """Top the one-card up through the gateway: a pending payment and the gateway's URL."""

        def run():
            data = TopUpSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            payment, url = services.card_top_up(holder=request.user, amount=data.validated_data["amount"])
            body = PaymentSerializer(payment, context={"request": request, "gateway_url": url}).data
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, self, run)
