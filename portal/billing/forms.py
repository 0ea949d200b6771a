"""Forms of the citizens' e-bill pages. They check shapes only; services.billing.services decides the
rest (ownership proof, payability, funds) and its errors are put back onto these forms.

A form that moves money carries ``token``: a UUID drawn when the page is shown and sent back as the
write's Idempotency-Key (portal.billing.views._once), so a double click or a resent form pays once."""

import uuid
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from civic.models import Notice
from services.billing.models import Bill, Payment, Subscription
from services.billing.selectors import bill_list, provider_list

__all__ = ["ApplyForm", "BillFilterForm", "PayForm", "TopUpForm"]

MAX_TOP_UP = Decimal("5000.00")
MAX_BILLS = 100


class ProviderField(forms.ModelChoiceField):
    def label_from_instance(self, provider):
        return provider.name


class TokenField(forms.UUIDField):
    """The form's Idempotency-Key: hidden, drawn afresh each time the page is shown."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        super().__init__(initial=uuid.uuid4, error_messages={
            "required": _("The form is incomplete: reload the page and try again."),
            "invalid": _("The form is incomplete: reload the page and try again.")}, **kwargs)


class ApplyForm(forms.Form):
    provider = ProviderField(label=_("Provider"), queryset=provider_list(), to_field_name="code",
                             empty_label=_("Choose a provider"))
    account_number = forms.CharField(label=_("Account number"), max_length=64,
                                     help_text=_("As printed on your paper bill or contract."))
    holder_name = forms.CharField(label=_("Account holder's name"), max_length=100)
    proof_method = forms.ChoiceField(label=_("Proof of ownership"), choices=Subscription.Proof.choices,
                                     widget=forms.RadioSelect, initial=Subscription.Proof.LAST_AMOUNT)
    proof_value = forms.CharField(
        label=_("Amount of the last bill, or the provider's code"), max_length=64,
        help_text=_("For example 123.45, or the code the provider sent you by SMS."))
    channels = forms.MultipleChoiceField(label=_("Send my e-bills by"), choices=Notice.Channel.choices,
                                         widget=forms.CheckboxSelectMultiple, initial=[Notice.Channel.IN_APP],
                                         required=False)


def _period(value: str):
    from datetime import date

    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except (TypeError, ValueError):
        raise forms.ValidationError(_("Give the month as YYYY-MM, e.g. 2026-11.")) from None


class PeriodField(forms.Field):
    """A month as YYYY-MM, cleaned to its first day (how bills store their period)."""

    def to_python(self, value):
        value = (value or "").strip()
        return _period(value) if value else None


class BillFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("Any status")), *Bill.Status.choices])
    provider = forms.ChoiceField(label=_("Provider"), required=False)
    account = forms.CharField(label=_("Account number"), required=False, max_length=64)
    period = PeriodField(label=_("Month"), required=False,
                         widget=forms.TextInput(attrs={"placeholder": "2026-11", "inputmode": "numeric"}))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The providers one applies to, and any other the citizen has bills from (a hospital's visit bills).
        choices = {p.code: p.name for p in provider_list()}
        if user is not None:
            own = bill_list(user=user).filter(citizen=user).order_by().values_list("provider__code", "provider__name")
            choices.update(dict(own.distinct()))
        self.fields["provider"].choices = [("", _("All providers")), *sorted(choices.items())]


class PayForm(forms.Form):
    bills = forms.TypedMultipleChoiceField(label=_("Bills"), coerce=int, widget=forms.MultipleHiddenInput,
                                           error_messages={"required": _("Choose at least one bill to pay.")})
    method = forms.ChoiceField(label=_("Pay with"), choices=Payment.Method.choices, widget=forms.RadioSelect,
                               initial=Payment.Method.CARD)
    token = TokenField()

    def __init__(self, *args, bill_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bills"].choices = [(pk, pk) for pk in bill_ids]


class BillChoiceForm(forms.Form):
    """The bills ticked on the bill list, to be confirmed on the payment page."""

    bills = forms.TypedMultipleChoiceField(coerce=int, choices=(), error_messages={
        "required": _("Choose at least one bill to pay.")})

    def __init__(self, *args, bill_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bills"].choices = [(pk, pk) for pk in bill_ids]

    def clean_bills(self):
        bills = self.cleaned_data["bills"]
        if len(bills) > MAX_BILLS:
            raise forms.ValidationError(_("Pay at most %(n)d bills at once.") % {"n": MAX_BILLS})
        return bills


class TopUpForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount (yuan)"), min_value=Decimal("0.01"), max_value=MAX_TOP_UP,
                                max_digits=12, decimal_places=2,
                                widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}))
    token = TokenField()
