from django.urls import path

from portal.billing import views

app_name = "billing"

urlpatterns = [
    path("", views.bills, name="bills"),
    path("providers/", views.providers, name="providers"),
    path("apply/", views.apply, name="apply"),
    path("subscriptions/", views.subscriptions, name="subscriptions"),
    path("subscriptions/<int:pk>/cancel/", views.subscription_cancel, name="subscription_cancel"),
    path("bills/<int:pk>/", views.bill_page, name="bill"),
    path("pay/", views.pay, name="pay"),
    path("payments/", views.payments, name="payments"),
    path("payments/<int:pk>/", views.payment_page, name="payment"),
    path("payments/<int:pk>/receipt/", views.receipt, name="receipt"),
    path("card/", views.card, name="card"),
]
