"""Citizen account pages: sign-up, code verification, login/logout, password reset, profile."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from civic.audit import client_ip
from civic.ratelimit import RateLimited
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
    code_decoy,
    code_requests_hit,
    code_send,
    signup_attempt_notify,
    signup_taken,
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

# What a pending sign-up or phone reset remembers: the code to check (real or decoy) and the phone and
# e-mail typed, which the pages show back. Never whether an account was found.
SESSION_KEY = "portal_verify"
RESET_SESSION_KEY = "portal_phone_reset"
RESET = VerificationCode.Purpose.PASSWORD_RESET
SIGNUP = VerificationCode.Purpose.SIGNUP
BACKEND = "portal.accounts.backends.PhoneOrEmailBackend"


def _too_many_message(exc: RateLimited) -> str:
    minutes = exc.retry_after // 60 + 1
    return ngettext("Too many codes were requested. Try again in %(minutes)d minute.",
                    "Too many codes were requested. Try again in %(minutes)d minutes.", minutes) % {"minutes": minutes}


def _too_many(form, exc: RateLimited) -> None:
    form.add_error(None, _too_many_message(exc))


def _signup_code(data: dict) -> int:
    """The sign-up's code: a real one for a new account, a decoy (and a word to the owner) for a taken address."""
    taken = signup_taken(phone=data["phone"], email=data["email"])
    for owner in taken:
        signup_attempt_notify(owner=owner, phone=data["phone"], email=data["email"])
    if taken:
        return code_decoy(purpose=SIGNUP).pk
    user = account_create(phone=data["phone"], email=data["email"], password=data["password1"],
                          language=translation.get_language() or settings.LANGUAGE_CODE)  # fmt: skip
    return code_send(user=user).pk


def _resent_code(code_id: int) -> int:
    row = VerificationCode.objects.select_related("user").filter(pk=code_id).first()
    user = row.user if row is not None and row.user is not None and not row.user.is_active else None
    if user is None:
        return code_decoy(purpose=SIGNUP, replaces=code_id).pk
    return code_send(user=user, replaces=code_id).pk


def signup(request):
    if request.user.is_authenticated:
        return redirect("portal:profile")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            code_requests_hit(addresses=(data["phone"], data["email"]), client=client_ip(request))
        except RateLimited as exc:
            _too_many(form, exc)
        else:
            code = _signup_code(data)
            request.session[SESSION_KEY] = {"code": code, "phone": data["phone"], "email": data["email"]}
            return redirect("portal:verify")
    return render(request, "portal/accounts/signup.html", {"form": form})


def verify(request):
    pending = request.session.get(SESSION_KEY)
    if not isinstance(pending, dict):
        messages.info(request, _("Sign up first; we then send you a code."))
        return redirect("portal:signup")
    form = VerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_verify(code_id=pending["code"], code=form.cleaned_data["code"])
        except CodeError as error:
            form.add_error("code", str(error))
        else:
            request.session.pop(SESSION_KEY, None)
            login(request, user, backend=BACKEND)
            messages.success(request, _("Your account is verified. Welcome!"))
            return redirect("portal:profile")
    return render(request, "portal/accounts/verify.html", {"form": form, "pending": pending})


@require_POST
def resend(request):
    pending = request.session.get(SESSION_KEY)
    if not isinstance(pending, dict):
        return redirect("portal:signup")
    try:
        code_requests_hit(addresses=(pending["phone"], pending["email"]), client=client_ip(request))
    except RateLimited as exc:
        messages.error(request, _too_many_message(exc))
        return redirect("portal:verify")
    pending["code"] = _resent_code(pending["code"])
    request.session[SESSION_KEY] = pending
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

    def form_valid(self, form):
        try:
            code_requests_hit(addresses=[form.cleaned_data["email"]], client=client_ip(self.request))
        except RateLimited as exc:
            _too_many(form, exc)
            return self.form_invalid(form)
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/accounts/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/accounts/password_reset_complete.html"


def phone_reset(request):
    """Password reset for phone-only citizens: a code by SMS. For a number without an account the
    code is a decoy, and every page after this one answers as it would for an account."""
    form = PhoneResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        phone = form.cleaned_data["phone"]
        try:
            code_requests_hit(addresses=[phone], client=client_ip(request))
        except RateLimited as exc:
            _too_many(form, exc)
        else:
            user = users_with_identifier(phone).filter(is_active=True).first()
            row = code_send(user=user, purpose=RESET) if user is not None else code_decoy(purpose=RESET)
            request.session[RESET_SESSION_KEY] = {"code": row.pk, "phone": phone}
            return redirect("portal:phone_reset_confirm")
    return render(request, "portal/accounts/phone_reset_form.html", {"form": form})


def phone_reset_confirm(request):
    pending = request.session.get(RESET_SESSION_KEY)
    if not isinstance(pending, dict):
        return redirect("portal:phone_reset")
    row = VerificationCode.objects.select_related("user").filter(pk=pending["code"]).first()
    user = row.user if row is not None and row.user is not None and row.user.is_active else None
    form = PhoneResetConfirmForm(user, request.POST or None, phone=pending["phone"])
    if request.method == "POST" and form.is_valid():
        try:
            code_check(code_id=pending["code"], code=form.cleaned_data["code"], purpose=RESET)
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
