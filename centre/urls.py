"""The command centre's pages, inside the admin site (config/urls.py puts them before admin.site.urls)."""

from django.urls import path

from centre import views

app_name = "centre"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("tables/<slug:name>.<str:fmt>", views.table_download, name="table-download"),
    path("exports/", views.exports, name="exports"),
    path("exports/new/", views.export_cases, name="export-cases"),
    path("exports/<int:pk>/download/", views.export_download, name="export-download"),
    path("map/", views.map_page, name="map"),
    path("map/cases.json", views.map_cases, name="map-cases"),
    path("nodes/<int:pk>/", views.node_page, name="node"),
]
