"""What a command-centre request asks for: an area (a node of the user's subtree), a period, and the case
list's own filters — turned into the case list's queryset (issues.selectors.case_list filtered by
issues.filters.CaseFilter), so that every count agrees with GET /api/v1/issues/cases/ for the same
user and filters.

``from`` and ``to`` are local dates, both included: they become the case list's ``created_after``
(local midnight of ``from``) and ``created_before`` (local midnight after ``to``).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from grid.models import GridNode
from grid.permissions import scope
from issues.filters import CaseFilter
from issues.selectors import case_list

__all__ = [
    "INTERVALS", "METRICS", "CentreForm", "DashboardForm", "Selection", "SeriesForm", "local_midnight", "select",
    "visible_node",
]

ISO_DATE = ["%Y-%m-%d"]
# The case list's filters a centre request passes on as they are (from/to stand for the two dates).
PASSED_ON = ("status", "category", "overdue", "q")
INTERVALS = {"day": _("day"), "week": _("week"), "month": _("month")}
METRICS = {
    "reported": _("cases reported"),
    "resolved": _("cases resolved"),
    "closed": _("cases closed"),
}
# The longest series per interval: a year of days, five years of weeks, ten years of months.
MAX_BUCKETS = {"day": 366, "week": 261, "month": 120}
DEFAULT_SPAN = {"day": timedelta(days=29), "week": timedelta(weeks=11), "month": timedelta(days=334)}


class CentreForm(forms.Form):
    node = forms.IntegerField(label=_("area"), required=False, min_value=1)
    to = forms.DateField(label=_("to (included)"), required=False, input_formats=ISO_DATE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword: the field is added by name.
        self.fields = {"node": self.fields["node"],
                       "from": forms.DateField(label=_("from"), required=False, input_formats=ISO_DATE),
                       **{name: field for name, field in self.fields.items() if name != "node"}}

    def clean(self):
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if start and end and end < start:
            self.add_error("to", _("The end of the period comes before its start."))
        return data


class DashboardForm(CentreForm):
    interval = forms.ChoiceField(label=_("trend by"), choices=list(INTERVALS.items()), required=False)

    def clean_interval(self):
        return self.cleaned_data.get("interval") or "day"


class SeriesForm(CentreForm):
    metric = forms.ChoiceField(label=_("figure"), choices=list(METRICS.items()), initial="reported")
    interval = forms.ChoiceField(label=_("interval"), choices=list(INTERVALS.items()), initial="day")

    def __init__(self, data=None, *args, **kwargs):
        if data is not None:
            data = data.copy()
            for name in ("metric", "interval"):
                data.setdefault(name, self.base_fields[name].initial)
        super().__init__(data, *args, **kwargs)

    def clean(self):
        data = super().clean()
        interval = data.get("interval")
        if self.errors or interval is None:
            return data
        end = data.get("to") or timezone.localdate()
        start = data.get("from") or end - DEFAULT_SPAN[interval]
        if _buckets(start, end, interval) > MAX_BUCKETS[interval]:
            self.add_error("from", _("A series by %(interval)s covers at most %(count)d of them: shorten the period.")
                           % {"interval": INTERVALS[interval], "count": MAX_BUCKETS[interval]})
        data["from"], data["to"] = start, end
        return data


def _buckets(start: date, end: date, interval: str) -> int:
    if interval == "day":
        return (end - start).days + 1
    if interval == "week":
        return ((end - timedelta(days=end.weekday())) - (start - timedelta(days=start.weekday()))).days // 7 + 1
    return (end.year - start.year) * 12 + end.month - start.month + 1


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


@dataclass
class Selection:
    """The cases a centre request is about, and what it asked."""

    user: object
    node: GridNode | None
    start: date | None
    end: date | None
    cases: QuerySet  # in scope, the node's subtree, the period and the passed-on filters
    cases_any_time: QuerySet  # the same without the period
    case_list_params: QueryDict  # the query string of GET /api/v1/issues/cases/ for the same cases


def visible_node(user, node_id: int) -> GridNode:
    """A node of the user's subtree; any other id answers 404, as the case list's objects do."""
    node = scope(GridNode.objects.all(), user).filter(pk=node_id).first()
    if node is None:
        raise Http404
    return node


def _filtered(request, params: QueryDict, user) -> QuerySet:
    filterset = CaseFilter(data=params, queryset=case_list(user=user), request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs.order_by()


def select(request, form: CentreForm) -> Selection:
    """The Selection for a bound form: ValidationError (400) for bad input, Http404 for a node out of scope."""
    if not form.is_valid():
        raise ValidationError(form.errors)
    user = request.user
    data = form.cleaned_data
    node = visible_node(user, data["node"]) if data.get("node") else None
    params = QueryDict(mutable=True)
    for name in PASSED_ON:
        for value in request.GET.getlist(name):
            params.appendlist(name, value)
    if node is not None:
        params["node"] = str(node.pk)
    any_time = _filtered(request, params.copy(), user)
    cases = any_time
    start, end = data.get("from"), data.get("to")
    # The period as the list's created_after / created_before filters read it, applied on top of the
    # filtered cases rather than by a second FilterSet (which would look the node up again).
    if start:
        params["created_after"] = local_midnight(start).isoformat()
        cases = cases.filter(created_at__gte=local_midnight(start))
    if end:
        params["created_before"] = local_midnight(end + timedelta(days=1)).isoformat()
        cases = cases.filter(created_at__lt=local_midnight(end + timedelta(days=1)))
    return Selection(
        user=user, node=node, start=start, end=end, cases=cases, cases_any_time=any_time, case_list_params=params,
    )
