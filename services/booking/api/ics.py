"""GET /api/v1/booking/bookings/{id}/ics/ — the booking as an iCalendar file (services.booking.ics).

Whoever may see the booking may download it (grid.permissions: the citizen their own, staff those at
their service points, a partner's key with ``booking.read`` those in its subtree); anyone else gets
404, as for a booking that does not exist.
"""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from grid.permissions import scope
from services.booking.ics import booking_ics, ics_filename
from services.booking.models import Booking

__all__ = ["BookingIcsView", "ICS_CONTENT_TYPE"]

ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"


def ics_response(booking) -> HttpResponse:
    response = HttpResponse(booking_ics(booking), content_type=ICS_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{ics_filename(booking)}"'
    response["Cache-Control"] = "private, no-store"
    return response


class BookingIcsView(APIView):
    required_scope = "booking.read"

    @extend_schema(operation_id="booking_ics", responses={(200, "text/calendar"): OpenApiTypes.BINARY},
                   summary="The booking as an iCalendar (.ics) file")
    def get(self, request, pk: int):
        bookings = scope(Booking.objects.select_related("slot__service__point", "slot__resource"), request.user)
        return ics_response(get_object_or_404(bookings, pk=pk))
