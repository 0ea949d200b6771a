from django.urls import path

from portal.booking import views

app_name = "booking"

urlpatterns = [
    path("", views.points, name="points"),
    path("points/<int:pk>/", views.point_page, name="point"),
    path("services/<int:pk>/", views.service_week, name="service"),
    path("slots/<int:pk>/", views.book, name="book"),
    path("slots/<int:pk>/waitlist/", views.waitlist_join, name="waitlist"),
    path("mine/", views.my_bookings, name="mine"),
    path("mine/<str:reference>/", views.booking_page, name="detail"),
    path("mine/<str:reference>/cancel/", views.booking_cancel, name="cancel"),
    path("mine/<str:reference>/confirm/", views.booking_confirm, name="confirm"),
    path("mine/<str:reference>/reschedule/", views.booking_reschedule, name="reschedule"),
]
