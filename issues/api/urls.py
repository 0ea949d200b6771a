from django.urls import path
from rest_framework.routers import DefaultRouter

from issues.api import views

router = DefaultRouter()
router.register("categories", views.CategoryViewSet, basename="category")
router.register("cases", views.CaseViewSet, basename="case")

urlpatterns = [
    path("photos/<int:id>/<str:variant>/", views.CasePhotoFileView.as_view(), name="case-photo"),
    *router.urls,
]
