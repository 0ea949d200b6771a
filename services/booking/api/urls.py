from django.urls import path
from rest_framework.routers import DefaultRouter

from services.booking.api import views
from services.booking.api.ics import BookingIcsView

router = DefaultRouter()
router.register("points", views.PointViewSet, basename="booking-point")
router.register("services", views.ServiceViewSet, basename="booking-service")
router.register("resources", views.ResourceViewSet, basename="booking-resource")
router.register("slots", views.SlotViewSet, basename="booking-slot")
router.register("bookings", views.BookingViewSet, basename="booking")
router.register("waitlist", views.WaitlistViewSet, basename="booking-waitlist")

urlpatterns = [
    # bookings/<id>/ics/ (the iCalendar file) is services.booking.api.ics, added here by its branch.
    path("bookings/<int:pk>/ics/", BookingIcsView.as_view(), name="booking-ics"),
    *router.urls,
]
