from django.urls import path
from rest_framework.routers import DefaultRouter

from grid.api import views

router = DefaultRouter()
router.register("nodes", views.NodeViewSet, basename="node")
router.register("departments", views.DepartmentViewSet, basename="department")
router.register("posts", views.PostViewSet, basename="post")
router.register("households", views.HouseholdViewSet, basename="household")
router.register("places", views.PlaceViewSet, basename="place")
router.register("visits", views.VisitViewSet, basename="visit")

urlpatterns = [path("boundaries/", views.BoundaryView.as_view(), name="boundaries"), *router.urls]
