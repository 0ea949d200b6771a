from django.urls import include, path

from portal import notices, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("text-size/", views.text_size, name="text_size"),
    path("accounts/", include("portal.accounts.urls")),
    path("cases/", include("portal.cases.urls")),
    path("billing/", include("portal.billing.urls")),
    path("booking/", include("portal.booking.urls")),
    path("notices/", notices.notice_list, name="notices"),
    path("notices/<int:pk>/read/", notices.notice_read, name="notice_read"),
]
