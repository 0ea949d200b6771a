"""The second-factor page of a staff area: give the code, or set up the authenticator first (QR code
made here, no outside service), and see new recovery codes once. The admin mounts it with its look
(config/urls.py), the field app with its own (field/urls.py)."""

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render, resolve_url
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp import user_has_device

from civic.twofactor import (
    SESSION_KEY,
    recovery_codes_renew,
    second_factor_required,
    second_factor_verify,
    totp_pending,
    totp_secret,
)

__all__ = ["SecondFactorView"]


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"), max_length=32, strip=True,
        help_text=_("The 6 digits your authenticator app shows now, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "numeric"}),
    )  # fmt: skip


def _qr_svg(data: str) -> str:
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308 - our own SVG of our own data


@method_decorator(never_cache, name="dispatch")
class SecondFactorView(View):
    template_name = "civic/twofactor/admin.html"
    login_url = "admin:login"
    default_next = "admin:index"
    second_factor_exempt = True

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), resolve_url(self.login_url))
        response = super().dispatch(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"  # a secret key or recovery codes may be on it
        return response

    def _next(self, request) -> str:
        target = request.POST.get("next") or request.GET.get("next") or ""
        if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
            return target
        return resolve_url(self.default_next)

    def _render(self, request, form=None, codes=None, status=200):
        user = request.user
        verified = user.is_verified()
        context = {"form": form or CodeForm(), "next": self._next(request), "codes": codes, "verified": verified,
                   "required": second_factor_required(user)}
        if not verified and not user_has_device(user):
            device = totp_pending(user)
            context.update(enrol=True, qr=_qr_svg(device.config_url), secret=totp_secret(device))
        return render(request, self.template_name, context, status=status)

    def get(self, request):
        return self._render(request)

    def post(self, request):
        if request.POST.get("action") == "recovery" and request.user.is_verified():
            return self._render(request, codes=recovery_codes_renew(user=request.user))
        form = CodeForm(request.POST)
        if form.is_valid():
            enrolling = not user_has_device(request.user)
            device = second_factor_verify(user=request.user, token=form.cleaned_data["code"])
            if device is not None:
                otp_login(request, device)
                request.session.pop(SESSION_KEY, None)
                if enrolling:
                    return self._render(request, codes=recovery_codes_renew(user=request.user))
                return redirect(self._next(request))
            form.add_error("code", _("This code is not right, or no longer valid: try the one shown now."))
        return self._render(request, form=form, status=400)
