"""Forms of the citizens' case pages. They check shapes only; issues.services decides the rest and
its ValidationError dict is put back onto these fields (``add_service_errors``)."""

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from issues import services
from issues.models import Case
from issues.selectors import category_list
from portal.cases.selectors import area_choices

__all__ = [
    "NearbyForm", "PublicFilterForm", "ReportForm", "TransitionForm", "add_service_errors", "transition_apply",
    "transition_forms", "transition_ids",
]

RESELECT_PHOTOS = _("Please choose your photos again: a browser cannot keep selected files after an error.")


class MultiplePhotoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos (checked by issues.services through civic.images, not here)."""

    widget = MultiplePhotoInput

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", MultiplePhotoInput(attrs={"accept": "image/*", "capture": "environment"}))
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        return [f for f in (data or []) if f]


class CategoryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.display_name


class ReportForm(forms.Form):
    category = CategoryChoiceField(label=_("What kind of problem?"), queryset=category_list(),
                                   empty_label=_("Choose a category"))
    lat = forms.DecimalField(label=_("Latitude"), min_value=-90, max_value=90,
                             error_messages={"required": _("Give the location: tap the map, use your location "
                                                           "or type the latitude and longitude.")},
                             widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}))
    lon = forms.DecimalField(label=_("Longitude"), min_value=-180, max_value=180,
                             error_messages={"required": _("Give the longitude as well.")},
                             widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}))
    address = forms.CharField(label=_("Address or landmark"), max_length=200, required=False)
    description = forms.CharField(
        label=_("Describe the problem"), max_length=Case._meta.get_field("description").max_length,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": _("Describe the problem.")},
    )
    photos = PhotosField(label=_("Photos"))
    hide_me = forms.BooleanField(label=_("Do not show me publicly"), required=False)


class TransitionForm(forms.Form):
    name = forms.ChoiceField(choices=[("verify", "verify"), ("reopen", "reopen"), ("comment", "comment")],
                             widget=forms.HiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    photos = PhotosField(label=_("Photos"))


class PublicFilterForm(forms.Form):
    category = CategoryChoiceField(label=_("Category"), queryset=category_list(), required=False,
                                   empty_label=_("All categories"))
    area = forms.ModelChoiceField(label=_("Area"), queryset=area_choices(), required=False,
                                  empty_label=_("Whole city"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["area"].label_from_instance = lambda node: node.name


class NearbyForm(forms.Form):
    """The position the home page's "near me" control sends (from the browser's geolocation)."""

    lat = forms.FloatField(min_value=-90, max_value=90)
    lon = forms.FloatField(min_value=-180, max_value=180)


def add_service_errors(form: forms.Form, exc: ValidationError, *, field_map: dict | None = None) -> None:
    """Put a service's ValidationError onto the form: each key on its field, unknown keys on the form."""
    field_map = field_map or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        field = field_map.get(key, key)
        form.add_error(field if field in form.fields else None, messages)


def transition_ids(name: str) -> str:
    """Element ids per action: one page shows several action forms, and a label must find its field."""
    return f"id_{slugify(name)}_%s"


def transition_forms(user, case: Case, *, offered, form_class, bound=None) -> list[tuple]:
    """(transition, form) for each action issues.services lets the user take now, among those the page
    `offered`; the form just posted (`bound`) keeps its data and errors. Shared with the field app."""
    pairs = []
    for transition in services.transitions_for(user, case):
        if transition.name not in offered:
            continue
        if bound is not None and bound.data.get("name") == transition.name:
            form = bound
        else:
            form = form_class(initial={"name": transition.name, "version": case.version},
                              auto_id=transition_ids(transition.name))
        pairs.append((transition, form))
    return pairs


def transition_apply(user, case: Case, bound: forms.Form) -> str:
    """Run a posted action form (name, version, comment, photos) through issues.services: "done";
    "stale" (the case changed since it was read: nothing was done); or "refused", with the reasons on
    the form. Shared with the field app."""
    outcome = "refused"
    if bound.is_valid():
        data = bound.cleaned_data
        try:
            services.case_transition(actor=user, case=case, name=data["name"], version=data["version"],
                                     comment=data["comment"], photos=data["photos"])
            outcome = "done"
        except services.StaleVersion:
            outcome = "stale"
        except ValidationError as exc:
            add_service_errors(bound, exc, field_map={"action": None})
        except PermissionDenied:
            bound.add_error(None, _("You may not do this to this case."))
    if outcome == "refused" and bound.files.getlist("photos"):
        bound.add_error("photos", RESELECT_PHOTOS)
    return outcome
