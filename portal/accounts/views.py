"""Citizen account pages: sign-up, code verification, login/logout, password reset, profile."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.accounts.forms import (
    CitizenPasswordResetForm,
    LoginForm,
    PhoneResetConfirmForm,
    PhoneResetForm,
    ProfileForm,
    SignupForm,
    VerifyForm,
)
from portal.accounts.services import (
    CodeError,
    account_create,
    account_verify,
    code_check,
    code_send,
    users_with_identifier,
)
from portal.models import VerificationCode

__all__ = [
    "LoginView",
    "LogoutView",
    "PasswordResetCompleteView",
    "PasswordResetConfirmView",
    "PasswordResetDoneView",
    "PasswordResetView",
    "phone_reset",
    "phone_reset_confirm",
    "profile",
    "resend",
    "signup",
    "verify",
]

SESSION_KEY = "portal_verify_user_id"
RESET_SESSION_KEY = "portal_phone_reset_user_id"
RESET = VerificationCode.Purpose.PASSWORD_RESET
BACKEND = "portal.accounts.backends.PhoneOrEmailBackend"


def signup(request):
    if request.user.is_authenticated:
        return redirect("portal:profile")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = account_create(phone=data["phone"], email=data["email"], password=data["password1"],
                              language=translation.get_language() or settings.LANGUAGE_CODE)  # fmt: skip
        code_send(user=user)
        request.session[SESSION_KEY] = user.pk
        return redirect("portal:verify")
    return render(request, "portal/accounts/signup.html", {"form": form})


def _pending_user(request):
    user_id = request.session.get(SESSION_KEY)
    return get_user_model().objects.filter(pk=user_id, is_active=False).first() if user_id else None


def verify(request):
    user = _pending_user(request)
    if user is None:
        messages.info(request, _("Sign up first; we then send you a code."))
        return redirect("portal:signup")
    form = VerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_verify(user=user, code=form.cleaned_data["code"])
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            request.session.pop(SESSION_KEY, None)
            login(request, user, backend=BACKEND)
            messages.success(request, _("Your account is verified. Welcome!"))
            return redirect("portal:profile")
    return render(request, "portal/accounts/verify.html", {"form": form, "pending": user})


@require_POST
def resend(request):
    user = _pending_user(request)
    if user is None:
        return redirect("portal:signup")
    code_send(user=user)
    messages.info(request, _("We sent you a new code. Earlier codes no longer work."))
    return redirect("portal:verify")


class LoginView(auth_views.LoginView):
    template_name = "portal/accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):  # POST only, as Django's is.
    pass


class PasswordResetView(auth_views.PasswordResetView):
    form_class = CitizenPasswordResetForm
    template_name = "portal/accounts/password_reset_form.html"
    email_template_name = "portal/accounts/password_reset_email.txt"
    subject_template_name = "portal/accounts/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/accounts/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/accounts/password_reset_complete.html"


def phone_reset(request):
    """Password reset for phone-only citizens: a code by SMS. The next page looks the same whether
    or not the number has an account."""
    form = PhoneResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = users_with_identifier(form.cleaned_data["phone"]).filter(is_active=True).first()
        if user is not None:
            code_send(user=user, purpose=RESET)
        request.session[RESET_SESSION_KEY] = user.pk if user else None
        return redirect("portal:phone_reset_confirm")
    return render(request, "portal/accounts/phone_reset_form.html", {"form": form})


def phone_reset_confirm(request):
    if RESET_SESSION_KEY not in request.session:
        return redirect("portal:phone_reset")
    user_id = request.session[RESET_SESSION_KEY]
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id else None
    form = PhoneResetConfirmForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if user is None:
                raise CodeError(_("The code is wrong."))
            code_check(user=user, code=form.cleaned_data["code"], purpose=RESET)
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            form.save()
            request.session.pop(RESET_SESSION_KEY, None)
            messages.success(request, _("Your new password is saved. Log in with it."))
            return redirect("portal:login")
    return render(request, "portal/accounts/phone_reset_confirm.html", {"form": form})


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        language = form.cleaned_data["language"]
        translation.activate(language)
        messages.success(request, _("Your profile is saved."))
        response = redirect("portal:profile")
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )  # fmt: skip
        return response
    return render(request, "portal/accounts/profile.html", {"form": form})
