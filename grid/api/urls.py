from rest_framework.routers import DefaultRouter

urlpatterns = DefaultRouter().urls
