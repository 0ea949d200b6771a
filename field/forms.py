"""Forms of the field app. They check shapes only; issues.services and grid.services decide the rest,
and their ValidationError dicts are put back next to these fields (civic.forms.add_service_errors)."""

import uuid

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from grid.models import Visit, VisitOutcome
from grid.selectors import grid_centre
from issues.forms import CategoryChoiceField, PhotosField
from issues.models import Case
from issues.selectors import category_list, report_grid_list

__all__ = ["ACTIONS", "ActionForm", "FieldLoginForm", "ReportForm", "VisitForm"]

TEXT_MAX = Case._meta.get_field("description").max_length

# The transitions the field app offers (the office's steps — dispatch, transfer, reject … — stay in
# the admin), with the heading and button each one shows.
ACTIONS = {
    "accept": (_("Accept the case"), _("Accept")),
    "start": (_("Start handling"), _("Start")),
    "resolve": (_("Handled: record the result"), _("Mark as resolved")),
    "verify": (_("Checked on site: the problem is solved"), _("Confirm it is solved")),
    "reopen": (_("Checked on site: not solved"), _("Send it back")),
    "comment": (_("Add a note or a photo"), _("Add")),
}


class FieldLoginForm(AuthenticationForm):
    """Django's login form (it passes the request on, as django-axes needs); the settings' backends
    accept a username or a phone number."""

    username = forms.CharField(
        label=_("Username or phone number"), max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )  # fmt: skip
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The username or phone number and the password do not match an account."),
    }


class GridChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name


class ReportForm(forms.Form):
    """One screen: what, where (a GPS fix, or the address and the grid), photos, a line of text, and
    optionally what was done on the spot. `client_key` makes a resent form store one case."""

    client_key = forms.UUIDField(widget=forms.HiddenInput)
    category = CategoryChoiceField(label=_("What kind of problem?"), queryset=category_list(),
                                   empty_label=_("Choose a category"),
                                   error_messages={"required": _("Choose a category.")})
    lat = forms.DecimalField(min_value=-90, max_value=90, required=False, widget=forms.HiddenInput)
    lon = forms.DecimalField(min_value=-180, max_value=180, required=False, widget=forms.HiddenInput)
    grid = GridChoiceField(label=_("Grid"), queryset=None, required=False, empty_label=_("Found from my location"))
    address = forms.CharField(label=_("Address or landmark"), max_length=200, required=False)
    photos = PhotosField(label=_("Photos"))
    description = forms.CharField(label=_("What is wrong? (one line)"), max_length=TEXT_MAX,
                                  error_messages={"required": _("Describe the problem.")})
    resolve_on_spot = forms.BooleanField(label=_("Handled on the spot"), required=False,
                                         widget=forms.CheckboxInput(attrs={"role": "switch"}))
    resolution = forms.CharField(label=_("What did you do?"), max_length=TEXT_MAX, required=False)
    after_photos = PhotosField(label=_("Photo after handling"))

    def __init__(self, *args, user, on_spot: bool, **kwargs):
        kwargs.setdefault("initial", {"client_key": uuid.uuid4()})
        super().__init__(*args, **kwargs)
        self.fields["grid"].queryset = report_grid_list(user=user)
        if not on_spot:  # only grid workers handle a problem on the spot (issues.services)
            for name in ("resolve_on_spot", "resolution", "after_photos"):
                del self.fields[name]

    def clean(self):
        data = super().clean()
        lat, lon = data.get("lat"), data.get("lon")
        if lat is None or lon is None:
            # No GPS fix: the worker names the grid and the address, and the case sits at the grid's centre.
            grid, address = data.get("grid"), (data.get("address") or "").strip()
            if grid is None:
                self.add_error("grid", _("No location fix: pick the grid you are in."))
            if not address:
                self.add_error("address", _("No location fix: give the address or a landmark."))
            if grid is not None:
                data["lat"], data["lon"] = grid_centre(grid)
        return data


class ActionForm(forms.Form):
    name = forms.ChoiceField(choices=[(name, name) for name in ACTIONS], widget=forms.HiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    comment = forms.CharField(label=_("Comment"), required=False, max_length=TEXT_MAX,
                              widget=forms.Textarea(attrs={"rows": 2}))
    photos = PhotosField(label=_("Photos"))

    def clean(self):
        data = super().clean()
        # On site there is a camera: a resolution recorded from the field shows the result.
        if data.get("name") == "resolve" and not data.get("photos"):
            self.add_error("photos", _("Add a photo taken after handling."))
        return data


class VisitForm(forms.Form):
    """A patrol visit, recorded by grid.services.visit_record (which also checks the note's length).
    `client_key` makes a double tap or a resent form record one visit."""

    client_key = forms.UUIDField(widget=forms.HiddenInput)
    outcome = forms.ChoiceField(label=_("How was it?"), choices=VisitOutcome.choices, widget=forms.RadioSelect,
                                error_messages={"required": _("Choose how the visit went.")})
    # The attribute only stops the typing at Visit.note's length; the service is what refuses a longer note.
    note = forms.CharField(label=_("Note (optional)"), required=False, widget=forms.Textarea(
        attrs={"rows": 3, "maxlength": Visit._meta.get_field("note").max_length}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"client_key": uuid.uuid4()})
        super().__init__(*args, **kwargs)
