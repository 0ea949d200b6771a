from django.urls import path

from services.billing import views

app_name = "billing-gateway"

urlpatterns = [
    path("callback/", views.GatewayCallbackView.as_view(), name="callback"),
    path("<str:reference>/", views.GatewayPageView.as_view(), name="page"),
]
