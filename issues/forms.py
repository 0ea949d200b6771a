"""Form pieces both front ends (the citizens' portal and the field app) build their case pages from:
photo and category fields, and the per-action forms of a case page run through issues.services."""

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from civic.forms import add_service_errors
from issues import services
from issues.models import Case

__all__ = [
    "RESELECT_PHOTOS", "CategoryChoiceField", "PhotosField", "transition_apply", "transition_forms", "transition_ids",
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


def transition_ids(name: str) -> str:
    """Element ids per action: one page shows several action forms, and a label must find its field."""
    return f"id_{slugify(name)}_%s"


def transition_forms(user, case: Case, *, offered, form_class, bound=None) -> list[tuple]:
    """(transition, form) for each action issues.services lets the user take now, among those the page
    `offered`; the form just posted (`bound`) keeps its data and errors."""
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
    the form."""
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
