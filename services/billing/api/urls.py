"""/api/v1/billing/: the citizens' endpoints, and the providers' under provider/. More routes (the PDF
receipt, payments/<id>/receipt/) are added to `urlpatterns` beside these."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from services.billing.api import provider, views

router = SimpleRouter()
router.register("providers", views.ProviderViewSet, basename="billing-provider")
router.register("subscriptions", views.SubscriptionViewSet, basename="billing-subscription")
router.register("accounts", views.AccountViewSet, basename="billing-account")
router.register("bills", views.BillViewSet, basename="billing-bill")
router.register("payments", views.PaymentViewSet, basename="billing-payment")
router.register("card/movements", views.CardMovementViewSet, basename="billing-card-movement")
router.register("provider/bills", provider.ProviderBillViewSet, basename="billing-provider-bill")
router.register("provider/subscriptions", provider.ProviderSubscriptionViewSet,
                basename="billing-provider-subscription")

urlpatterns = [
    path("card/", views.CardView.as_view(), name="billing-card"),
    path("card/top-ups/", views.TopUpView.as_view(), name="billing-card-top-up"),
    path("provider/payments/", provider.ProviderPaymentView.as_view(), name="billing-provider-payments"),
    *router.urls,
]
