"""Citizen account forms. Errors go next to the field they are about, and a re-rendered form keeps
what was typed (passwords excepted, as browsers expect)."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from civic.models import phone_validator
from portal.accounts.services import normalize_phone

__all__ = [
    "CitizenPasswordResetForm",
    "LoginForm",
    "PhoneResetConfirmForm",
    "PhoneResetForm",
    "ProfileForm",
    "SignupForm",
    "VerifyForm",
]

User = get_user_model()


class SignupForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile phone number"), required=False, max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        help_text=_("A mainland mobile number, e.g. 13800000000. We send your code by SMS."),
    )  # fmt: skip
    email = forms.EmailField(
        label=_("E-mail address"), required=False, widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("Or instead of a phone number: we send your code by e-mail."),
    )  # fmt: skip
    password1 = forms.CharField(
        label=_("Password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )  # fmt: skip
    password2 = forms.CharField(
        label=_("Password again"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    # A phone or e-mail that already has an account is no error here: the sign-up answers as for a new
    # one and its owner hears of it (portal.accounts.services), so the form tells nobody who is registered.
    def clean_phone(self):
        phone = normalize_phone(self.cleaned_data["phone"])
        if phone:
            phone_validator(phone)
        return phone

    def clean_email(self):
        return self.cleaned_data["email"].strip()

    def clean(self):
        cleaned = super().clean()
        no_address = not cleaned.get("phone") and not cleaned.get("email")
        if no_address and not self.errors.get("phone") and not self.errors.get("email"):
            self.add_error("phone", _("Enter a phone number or an e-mail address."))
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords differ."))
        elif password1:
            probe = User(username="", phone=cleaned.get("phone") or None, email=cleaned.get("email") or "")
            try:
                password_validation.validate_password(password1, probe)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class VerifyForm(forms.Form):
    code = forms.CharField(
        label=_("Verification code"), max_length=6, min_length=6,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}),
    )  # fmt: skip


class LoginForm(AuthenticationForm):
    """Django's login form (it passes the request to authenticate(), as django-axes needs) with the
    identifier labelled for citizens."""

    username = forms.CharField(
        label=_("Phone number or e-mail"), max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )  # fmt: skip
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The phone number or e-mail and password do not match an account."),
    }


class CitizenPasswordResetForm(PasswordResetForm):
    """Django's reset form, with the e-mail written in the account holder's language."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        with translation.override(getattr(context.get("user"), "language", None) or settings.LANGUAGE_CODE):
            super().send_mail(subject_template_name, email_template_name, context, from_email, to_email, **kwargs)


class PhoneResetForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile phone number"), max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )  # fmt: skip

    def clean_phone(self):
        phone = normalize_phone(self.cleaned_data["phone"])
        phone_validator(phone)
        return phone


class PhoneResetConfirmForm(SetPasswordForm):
    """The code sent by SMS, then the new password (Django's validators). ``user`` is None when nobody
    has that phone: the code is then a decoy that is never right, and the password is checked against
    a stand-in with the typed phone, so that "too similar to the phone number" comes for both alike."""

    code = VerifyForm.base_fields["code"]
    field_order = ["code", "new_password1", "new_password2"]

    def __init__(self, user, *args, phone: str = "", **kwargs):
        super().__init__(user or User(username=f"p{phone}", phone=phone or None), *args, **kwargs)


class ProfileForm(forms.ModelForm):
    """The channels a citizen hears from us on (civic.notices honours them) and their language."""

    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

    class Meta:
        model = User
        fields = ["notify_email", "notify_sms", "notify_in_app", "language"]

    def save(self, commit=True):
        user = super().save(commit=False)
        if commit:
            user.save(update_fields=self.Meta.fields)
        return user
