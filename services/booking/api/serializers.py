"""Serializers of the booking API: thin shapes around services.booking's rows; the rules live in
services.booking.services and selectors."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from services.booking.models import Booking, Resource, Service, ServicePoint, Slot, WaitlistEntry, WaitlistStatus
from services.booking.selectors import waitlist_position

__all__ = [
    "BookingCreateSerializer",
    "BookingSerializer",
    "ServicePointSerializer",
    "BookingRescheduleSerializer",
    "BookingResourceSerializer",
    "BookableServiceSerializer",
    "BookingSlotSerializer",
    "BookingWaitlistEntrySerializer",
    "BookingWaitlistJoinSerializer",
]


class ServicePointSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="node.code", read_only=True)

    class Meta:
        model = ServicePoint
        fields = ["id", "kind", "name", "code", "node", "address", "phone"]


class BookableServiceSerializer(serializers.ModelSerializer):
    department_name = serializers.CharField(source="department.name", default=None, read_only=True)

    class Meta:
        model = Service
        fields = ["id", "point", "department", "department_name", "name", "duration_minutes", "fee"]


class BookingResourceSerializer(serializers.ModelSerializer):
    services = serializers.SerializerMethodField()

    class Meta:
        model = Resource
        fields = ["id", "point", "department", "kind", "name", "title", "services"]

    def get_services(self, resource) -> list[int]:
        return [service.pk for service in resource.services.all()]  # prefetched


class _BookingNamed(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class BookingSlotSerializer(serializers.ModelSerializer):
    free = serializers.IntegerField(read_only=True)
    point = _BookingNamed(read_only=True)
    service = _BookingNamed(read_only=True)
    resource = serializers.SerializerMethodField()

    class Meta:
        model = Slot
        fields = ["id", "point", "service", "resource", "start", "end", "capacity", "booked", "free", "closed"]

    def get_resource(self, slot) -> dict:
        return {"id": slot.resource_id, "name": slot.resource.name, "title": slot.resource.title}


class BookingSerializer(serializers.ModelSerializer):
    slot = BookingSlotSerializer(read_only=True)
    visit_result = serializers.SerializerMethodField()

    class Meta:
        model = Booking
        fields = [
            "id", "reference", "status", "slot", "family_member_name", "family_member_id_masked",
            "hold_expires_at", "sequence", "created_at", "booked_at", "checked_in_at", "cancelled_at",
            "cancel_reason", "visit_result", "visit_result_at", "visit_fee", "bill_reference",
        ]
        read_only_fields = fields

    def get_visit_result(self, booking) -> str | None:
        return booking.visit_result or None


class BookingFamilyMemberSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    id_number = serializers.CharField(max_length=18, help_text=_("stored masked only"))


class BookingCreateSerializer(serializers.Serializer):
    slot = serializers.PrimaryKeyRelatedField(queryset=Slot.objects.select_related("point", "service", "resource"))
    hold = serializers.BooleanField(default=False, help_text=_(
        "hold the place for a few minutes until POST bookings/{id}/confirm/, instead of booking at once"))
    family_member = BookingFamilyMemberSerializer(required=False, help_text=_("book for a family member"))


class BookingRescheduleSerializer(serializers.Serializer):
    slot = serializers.PrimaryKeyRelatedField(queryset=Slot.objects.select_related("point", "service", "resource"))


class BookingWaitlistEntrySerializer(serializers.ModelSerializer):
    slot = BookingSlotSerializer(read_only=True)
    position = serializers.SerializerMethodField(help_text=_("place in line while waiting or offered (1 = first)"))

    class Meta:
        model = WaitlistEntry
        fields = ["id", "slot", "status", "position", "created_at", "offered_until", "booking"]
        read_only_fields = fields


    def get_position(self, entry) -> int | None:
        if entry.status not in (WaitlistStatus.WAITING, WaitlistStatus.OFFERED):
            return None
        position = getattr(entry, "position", None)  # annotated by selectors.waitlist_list
        return position if position is not None else waitlist_position(entry)


class BookingWaitlistJoinSerializer(serializers.Serializer):
    slot = serializers.PrimaryKeyRelatedField(queryset=Slot.objects.select_related("point", "service", "resource"))
