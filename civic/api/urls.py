from django.urls import path

from civic.api.views import ObtainTokenView

urlpatterns = [path("token/", ObtainTokenView.as_view(), name="api-token")]
