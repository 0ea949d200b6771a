"""Included by portal.urls under accounts/ (namespace "portal")."""

from django.urls import path

from portal.accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("verify/", views.verify, name="verify"),
    path("verify/resend/", views.resend, name="verify_resend"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password-reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("phone-reset/", views.phone_reset, name="phone_reset"),
    path("phone-reset/code/", views.phone_reset_confirm, name="phone_reset_confirm"),
    path("profile/", views.profile, name="profile"),
]
