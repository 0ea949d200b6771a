"""Serializers of the partners API: a partner's webhooks and their deliveries."""

from rest_framework import serializers

from partners.models import Webhook, WebhookDelivery

__all__ = ["WebhookCreateSerializer", "WebhookCreatedSerializer", "WebhookDeliverySerializer", "WebhookSerializer"]


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.CharField(), help_text="Event types, e.g. case.created.")

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "active", "created_at"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="http(s); private and loopback addresses are refused.")
    events = serializers.ListField(
        child=serializers.CharField(max_length=64), allow_empty=False,
        help_text="The events to receive (case.created, case.status_changed, case.escalated, bill.paid, "
                  "booking.changed); each needs one of the key's scopes.",
    )


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret: shown this once, keep it.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "last_status_code",
                  "last_latency_ms", "last_error", "delivered_at", "replay_of", "created_at"]
        read_only_fields = fields
