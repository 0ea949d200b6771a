from django.urls import path

from centre.api import views

urlpatterns = [
    path("summary/", views.SummaryView.as_view(), name="centre-summary"),
    path("series/", views.SeriesView.as_view(), name="centre-series"),
]
