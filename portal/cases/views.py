"""Citizens' case pages. Every write goes through issues.services (case_report, case_transition);
every public read through portal.cases.selectors."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from civic.forms import add_service_errors
from issues import services
from issues.forms import RESELECT_PHOTOS, transition_apply, transition_forms, transition_ids
from issues.selectors import case_detail, case_list, case_view, duplicate_candidates, is_public
from portal.cases.forms import DuplicateCheckForm, PublicFilterForm, ReportForm, TransitionForm
from portal.cases.selectors import public_case, public_cases

__all__ = ["case_page", "duplicates", "my_cases", "public_list", "report", "reported"]

PUBLIC_LIMIT = 100
CITIZEN_ACTIONS = ("verify", "reopen", "comment")


def _map_context() -> dict:
    return {"map_tile_url": settings.MAP_TILE_URL}


def _duplicates(request) -> dict:
    """Open cases of the same category near the point, that the citizen could open and follow instead of
    reporting the problem again (those the portal's case page shows them: public ones and their own)."""
    check = DuplicateCheckForm(request.POST if request.method == "POST" else request.GET)
    if not check.is_valid():
        return {"duplicates": None}
    data = check.cleaned_data
    found = duplicate_candidates(user=request.user, lat=data["lat"], lon=data["lon"], category=data["category"])
    openable = [near for near in found if near.case.reporter_id == request.user.pk or is_public(near.case)]
    return {"duplicates": [{**public_case(near.case), "distance_m": near.distance_m} for near in openable],
            "duplicates_radius_m": settings.CASE_DUPLICATE_RADIUS_M}


@login_required
def duplicates(request):
    """The report page's "already reported nearby?" list, for its script to fetch as the citizen fills in
    the category and the location (without JavaScript, the page's "look" button posts the form)."""
    return render(request, "portal/cases/_duplicates.html", _duplicates(request))


@login_required
def report(request):
    if request.method == "POST" and "check" in request.POST:
        # Look for the same problem nearby without sending anything: the form comes back as it was filled.
        form = ReportForm(initial=request.POST.dict())
        context = {"form": form, "checked": True, "reselect_photos": bool(request.FILES), **_duplicates(request),
                   **_map_context()}
        return render(request, "portal/cases/report.html", context)
    form = ReportForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                case = services.case_report(
                    actor=request.user, category=data["category"], description=data["description"],
                    lat=data["lat"], lon=data["lon"], address=data["address"], photos=data["photos"],
                    reporter_public=not data["hide_me"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            except PermissionDenied as exc:
                form.add_error(None, str(exc) or _("You may not report this."))
            else:
                return redirect("portal:cases:reported", reference=case.reference)
        if request.FILES.getlist("photos"):
            form.add_error("photos", RESELECT_PHOTOS)
    status = 400 if form.errors else 200
    return render(request, "portal/cases/report.html", {"form": form, **_map_context()}, status=status)


@login_required
def reported(request, reference):
    case = get_object_or_404(case_list(user=request.user).filter(reporter=request.user), reference=reference)
    return render(request, "portal/cases/reported.html", {"case": case})


@login_required
def my_cases(request):
    cases = case_list(user=request.user).filter(reporter=request.user).order_by("-created_at", "-id")
    return render(request, "portal/cases/my_cases.html", {"cases": cases})


def case_page(request, reference):
    """Own case: everything, with the actions on it. Someone else's public case: the public fields."""
    own = None
    if request.user.is_authenticated:
        own = case_detail(user=request.user).filter(reporter=request.user, reference=reference).first()
    if own is None:
        if request.method == "POST":
            raise Http404
        case = public_cases().prefetch_related("photos").filter(reference=reference).first()
        if case is None:
            raise Http404
        context = {"case": public_case(case), "photos": case_view(user=request.user, case=case).photos(),
                   **_map_context()}
        return render(request, "portal/cases/public_detail.html", context)

    bound, stale = None, False
    if request.method == "POST":
        bound = TransitionForm(request.POST, request.FILES, auto_id=transition_ids(request.POST.get("name", "")))
        outcome = transition_apply(request.user, own, bound)
        if outcome == "done":
            return redirect("portal:cases:detail", reference=own.reference)
        stale = outcome == "stale"
        own = case_detail(user=request.user).get(pk=own.pk)
    actions = transition_forms(request.user, own, offered=CITIZEN_ACTIONS, form_class=TransitionForm, bound=bound)
    context = {
        "case": own, "events": case_view(user=request.user, case=own).timeline(), "stale": stale,
        "actions": [{"transition": transition, "form": form} for transition, form in actions], **_map_context(),
    }
    status = 409 if stale else (400 if bound is not None and bound.errors else 200)
    return render(request, "portal/cases/detail.html", context, status=status)


def public_list(request):
    form = PublicFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    cases = [public_case(case) for case in public_cases(filters)[:PUBLIC_LIMIT]]
    markers = [
        {"lat": c["lat"], "lon": c["lon"], "reference": c["reference"], "category": c["category"],
         "status": c["status_display"]}
        for c in cases if c["lat"] and c["lon"]
    ]
    return render(request, "portal/cases/public_list.html",
                  {"form": form, "cases": cases, "markers": markers, **_map_context()})
