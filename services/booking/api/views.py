"""The booking API (/api/v1/booking/): what can be booked (points, services, resources, slots with
their free places), the user's bookings with one POST per change (confirm, cancel, reschedule), and
the waitlist.

Bookings are fetched through services.booking.selectors (grid.permissions.scope): a citizen reaches
their own, staff and partner keys (booking.read) those of their subtree; any other answers 404. Every
write goes through services.booking.services, whose refusals become the API's error shape with
nothing changed: a full slot answers 409 with the next free slots of the service in
``error.suggestions``; a blocked citizen 403 (code booking_blocked) with ``error.until``.
"""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet, ReadOnlyModelViewSet

from civic.api.errors import ErrorSerializer, error_body
from civic.api.idempotency import created_or_replayed, idempotency_key, idempotency_key_parameter
from services.booking import selectors, services
from services.booking.api.serializers import (
    BookableServiceSerializer,
    BookingCreateSerializer,
    BookingRescheduleSerializer,
    BookingResourceSerializer,
    BookingSerializer,
    BookingSlotSerializer,
    BookingWaitlistEntrySerializer,
    BookingWaitlistJoinSerializer,
    ServicePointSerializer,
)
from services.booking.filters import BookingFilter, PointFilter, ResourceFilter, ServiceFilter, SlotFilter
from services.booking.models import Booking

__all__ = ["BookingViewSet", "PointViewSet", "ResourceViewSet", "ServiceViewSet", "SlotViewSet", "WaitlistViewSet"]

READ = {"read": "booking.read"}  # keys read with booking.read and write nothing


class _BookingErrors:
    """The two refusals that carry more than a message: a full slot's suggestions, a block's end."""

    def handle_exception(self, exc):
        if isinstance(exc, services.SlotFull):
            body = error_body(status.HTTP_409_CONFLICT, "slot_full", str(exc))
            body["error"]["suggestions"] = BookingSlotSerializer(exc.suggestions, many=True).data
            return Response(body, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, services.BookingBlocked):
            body = error_body(status.HTTP_403_FORBIDDEN, "booking_blocked", str(exc.args[0]))
            body["error"]["until"] = exc.until.isoformat()
            return Response(body, status=status.HTTP_403_FORBIDDEN)
        return super().handle_exception(exc)


class _Catalogue(ReadOnlyModelViewSet):
    """What a citizen browses before booking: read-only, filtered, by name."""

    required_scope = READ
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]


class PointViewSet(_Catalogue):
    """Hospitals, community health centres and government service halls."""

    serializer_class = ServicePointSerializer
    filterset_class = PointFilter

    def get_queryset(self):
        return selectors.point_list()


class ServiceViewSet(_Catalogue):
    serializer_class = BookableServiceSerializer
    filterset_class = ServiceFilter

    def get_queryset(self):
        return selectors.service_list()


class ResourceViewSet(_Catalogue):
    """Experts and counters, with the services each offers."""

    serializer_class = BookingResourceSerializer
    filterset_class = ResourceFilter

    def get_queryset(self):
        return selectors.resource_list()


class SlotViewSet(ReadOnlyModelViewSet):
    """Slots with their capacity, booked and free places; filter by point, service, resource, date_from,
    date_to (local days, inclusive) and available."""

    required_scope = READ
    serializer_class = BookingSlotSerializer
    filterset_class = SlotFilter
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["start", "id"]
    ordering = ["start", "id"]

    def get_queryset(self):
        return selectors.slot_list()


_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input (a slot past or closed, a bad family member)."),
    403: OpenApiResponse(ErrorSerializer, description="Online booking blocked (code booking_blocked, with until)."),
    404: OpenApiResponse(ErrorSerializer, description="No such booking of yours."),
    409: OpenApiResponse(ErrorSerializer, description="The slot is full (code slot_full, with suggestions: the "
                                                      "next free slots of the service), already booked, past the "
                                                      "cut-off, or the status does not allow it."),
}


class BookingViewSet(_BookingErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """Your bookings (staff: those of your subtrees; keys with booking.read: the key's subtree)."""

    required_scope = READ
    serializer_class = BookingSerializer
    filterset_class = BookingFilter
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return selectors.booking_list(user=self.request.user)

    def _respond(self, booking: Booking, status_code: int = status.HTTP_200_OK) -> Response:
        booking = selectors.booking_detail(user=self.request.user).get(pk=booking.pk)
        return Response(BookingSerializer(booking, context=self.get_serializer_context()).data, status=status_code)

    @extend_schema(
        request=BookingCreateSerializer, parameters=[idempotency_key_parameter("200 with the first booking")],
        responses={201: BookingSerializer, 200: BookingSerializer, **_ERRORS},
        description="Book a place in a slot at once, or hold it (`hold`: true) for a few minutes until "
                    "confirm; for yourself or a family member (name and ID number; the number is kept masked).",
    )
    def create(self, request, *args, **kwargs):
        client_key = idempotency_key(request)
        data = BookingCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = data.validated_data.get("family_member")
        return created_or_replayed(
            lambda: services.booking_create(
                actor=request.user, slot=data.validated_data["slot"], hold=data.validated_data["hold"],
                family_member=services.FamilyMember(**member) if member else None, client_key=client_key),
            self._respond,
        )

    @extend_schema(request=None, responses={200: BookingSerializer, **_ERRORS},
                   description="Confirm a held place while the hold lasts (409 hold_expired after).")
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        return self._respond(services.booking_confirm(actor=request.user, booking=self.get_object()))

    @extend_schema(request=None, responses={200: BookingSerializer, **_ERRORS},
                   description="Cancel until the cut-off (settings.BOOKING_CANCEL_CUTOFF_HOURS before the start); "
                               "the place goes to the first in the waitlist.")
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._respond(services.booking_cancel(actor=request.user, booking=self.get_object()))

    @extend_schema(request=BookingRescheduleSerializer, responses={200: BookingSerializer, **_ERRORS},
                   description="Move to another slot of the same service: the new place is taken before the old "
                               "one is released, in one transaction; a full slot changes nothing (409).")
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        booking = self.get_object()
        data = BookingRescheduleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._respond(services.booking_reschedule(actor=request.user, booking=booking,
                                                         slot=data.validated_data["slot"]))


class WaitlistViewSet(_BookingErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """Your places in full slots' waitlists (first come, first served), with your position in line."""

    required_scope = READ
    serializer_class = BookingWaitlistEntrySerializer
    filter_backends = []
    ordering = ["-id"]

    def get_queryset(self):
        return selectors.waitlist_list(user=self.request.user).order_by("-id")

    @extend_schema(request=BookingWaitlistJoinSerializer, responses={201: BookingWaitlistEntrySerializer, **_ERRORS},
                   description="Join a full slot's waitlist: when a place frees, the first in line gets it held "
                               "for settings.BOOKING_WAITLIST_OFFER_MINUTES to confirm, then the next.")
    def create(self, request, *args, **kwargs):
        data = BookingWaitlistJoinSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.waitlist_join(actor=request.user, slot=data.validated_data["slot"])
        entry = self.get_queryset().get(pk=entry.pk)
        return Response(BookingWaitlistEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: BookingWaitlistEntrySerializer, **_ERRORS},
                   description="Leave the waitlist (a place offered to you and still held is given back).")
    @action(detail=True, methods=["post"])
    def leave(self, request, pk=None):
        entry = services.waitlist_leave(actor=request.user, entry=self.get_object())
        return Response(BookingWaitlistEntrySerializer(self.get_queryset().get(pk=entry.pk)).data)

