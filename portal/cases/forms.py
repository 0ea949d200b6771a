"""Forms of the citizens' case pages. They check shapes only; issues.services decides the rest and
its ValidationError dict is put back onto these fields (``add_service_errors``)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from issues.forms import CategoryChoiceField, PhotosField
from issues.models import Case
from issues.selectors import category_list
from portal.cases.selectors import area_choices

__all__ = ["DuplicateCheckForm", "NearbyForm", "PublicFilterForm", "ReportForm", "TransitionForm"]


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


class DuplicateCheckForm(NearbyForm):
    """What the report page knows before anything is sent, to look for the same problem already reported."""

    category = CategoryChoiceField(queryset=category_list())
