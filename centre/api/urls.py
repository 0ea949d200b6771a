from django.urls import path

from centre.api import views

urlpatterns = [
    path("summary/", views.SummaryView.as_view(), name="centre-summary"),
    path("series/", views.SeriesView.as_view(), name="centre-series"),
    path("exports/", views.ExportsView.as_view(), name="centre-exports"),
    path("exports/<int:pk>/", views.ExportView.as_view(), name="centre-export"),
    path("exports/<int:pk>/download/", views.ExportDownloadView.as_view(), name="centre-export-download"),
]
