"""The partners API (/api/v1/partners/): a partner manages the webhooks of the key it calls with.

Only requests made with a key reach it (any scope will do); a key sees and changes its own webhooks,
anything else answers 404."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from partners.api.serializers import (
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
)
from partners.models import ApiKey, Scope, Webhook, WebhookDelivery
from partners.permissions import ApiKeyScope
from partners.services import webhook_create, webhook_deactivate

__all__ = ["WebhookViewSet"]


class IsApiKey(BasePermission):
    message = _("This endpoint is for partner systems: send an API key.")

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     mixins.DestroyModelMixin, GenericViewSet):
    """The active webhooks of the calling key. DELETE deactivates one (its queued deliveries still go)."""

    permission_classes = [IsAuthenticated, ApiKeyScope, IsApiKey]
    required_scope = tuple(Scope.values)
    serializer_class = WebhookSerializer
    filter_backends = []

    def get_queryset(self):
        return Webhook.objects.filter(key=self.request.auth, active=True).order_by("-id")

    def get_serializer_class(self):
        return {"create": WebhookCreateSerializer, "deliveries": WebhookDeliverySerializer}.get(
            self.action, WebhookSerializer
        )

    @extend_schema(request=WebhookCreateSerializer, responses={201: WebhookCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, secret = webhook_create(actor=request.user, key=request.auth, **serializer.validated_data)
        webhook.secret = secret
        return Response(WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        webhook_deactivate(actor=self.request.user, webhook=instance)

    @extend_schema(responses={200: WebhookDeliverySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The webhook's deliveries, newest first: status, attempts, the last answer and its latency."""
        webhook = self.get_object()
        page = self.paginate_queryset(WebhookDelivery.objects.filter(webhook=webhook).order_by("-id"))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
