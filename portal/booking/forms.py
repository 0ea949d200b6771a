"""Forms of the citizens' booking pages. They check shapes only; services.booking.services decides the
rest (is the slot bookable, is the person blocked, the cut-off) and its errors come back onto them."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

__all__ = ["BookForm", "RescheduleForm", "WeekForm"]


class WeekForm(forms.Form):
    """The week shown on a service's page: any day in it (the page starts from its Monday), and the
    expert or counter chosen, if any."""

    week = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    resource = forms.IntegerField(required=False, min_value=1)


class BookForm(forms.Form):
    FOR_SELF, FOR_FAMILY = "self", "family"
    # A fresh key per page load: a double submit of the same page returns the first booking.
    client_key = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)
    who = forms.ChoiceField(
        label=_("Who is the appointment for?"), initial=FOR_SELF, widget=forms.RadioSelect,
        choices=[(FOR_SELF, _("For me")), (FOR_FAMILY, _("For a family member"))],
    )
    family_member_name = forms.CharField(label=_("Family member's name"), max_length=50, required=False)
    family_member_id_number = forms.CharField(
        label=_("Family member's ID number"), max_length=18, required=False,
        help_text=_("Only the last digits are kept on the booking; it tells family members apart."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "text"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("who") == self.FOR_FAMILY:
            if not data.get("family_member_name", "").strip():
                self.add_error("family_member_name", _("Give the family member's name."))
            if not data.get("family_member_id_number", "").strip():
                self.add_error("family_member_id_number", _("Give the family member's ID number."))
        else:
            data["family_member_name"] = data["family_member_id_number"] = ""
        return data


class RescheduleForm(forms.Form):
    slot = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
