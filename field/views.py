"""The field app's pages. Every write goes through issues.services (case_report, case_transition) or
grid.services (visit_record), every read through issues.selectors, grid.selectors and field.selectors;
access through field.access."""

import hashlib
import json
from pathlib import Path

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse, reverse_lazy
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from civic.errors import AlreadyDone
from civic.forms import add_service_errors
from civic.twofactor.middleware import second_factor_exempt
from field.access import field_staff_required
from field.forms import ACTIONS, ActionForm, FieldLoginForm, ReportForm, VisitForm
from field.selectors import cases_to_verify, open_cases, patrol_grids, report_grid_options, visit_targets
from grid import services as grid_services
from grid.models import GridNode, Role
from grid.selectors import patrol_list
from issues import services
from issues.forms import RESELECT_PHOTOS, transition_apply, transition_forms, transition_ids
from issues.models import Case
from issues.selectors import case_detail, case_view

__all__ = ["LoginView", "LogoutView", "case_page", "home", "manifest", "patrol", "report", "service_worker", "visit"]

LIST_LIMIT = 100  # cases per list: a phone screen, not an archive
PATROL_LIMIT = 50  # households and places per patrol list: a walk's worth, the most overdue first
# What the service worker keeps for opening the app without signal (pages are refreshed on every visit).
SHELL_PAGES = ("field:home", "field:report", "field:patrol")
SHELL_ASSETS = ("field/field.css", "field/field.js", "field/icon-192.png")
THEME_COLOR = "#0a4a8c"  # field.css's --accent


class LoginView(auth_views.LoginView):
    template_name = "field/login.html"
    authentication_form = FieldLoginForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("field:home")


class LogoutView(auth_views.LogoutView):  # POST only, as Django's is.
    next_page = reverse_lazy("field:login")


@field_staff_required
def home(request):
    open_list = list(open_cases(user=request.user)[: LIST_LIMIT + 1])
    verify_list = list(cases_to_verify(user=request.user)[:LIST_LIMIT])
    context = {
        "open_cases": open_list[:LIST_LIMIT], "more_open": len(open_list) > LIST_LIMIT,
        "to_verify": verify_list, "limit": LIST_LIMIT,
    }
    return render(request, "field/home.html", context)


@field_staff_required
def report(request):
    form = ReportForm(request.POST or None, request.FILES or None, user=request.user,
                      on_spot=Role.GRID_WORKER in request.field_roles)
    if request.method == "POST":
        if form.is_valid():
            try:
                case = _report(request.user, form.cleaned_data)
            except services.AlreadyReported as replay:
                messages.info(request, _("This report had already arrived: %(reference)s. Nothing was stored twice.")
                              % {"reference": replay.case.reference})
                return redirect("field:case", pk=replay.case.pk)
            except ValidationError as exc:
                add_service_errors(form, exc, field_map={"lat": "grid", "lon": "grid"})
            except PermissionDenied:
                form.add_error("grid", _("This place lies outside the grids you report in: pick one of yours."))
            else:
                messages.success(request, _("Reported: %(reference)s.") % {"reference": case.reference})
                return redirect("field:case", pk=case.pk)
        for name in ("photos", "after_photos"):
            if request.FILES.getlist(name):
                form.add_error(name, RESELECT_PHOTOS)
    context = {"form": form, "grids": report_grid_options(form.fields["grid"].queryset)}
    return render(request, "field/report.html", context, status=400 if form.errors else 200)


def _report(user, data: dict) -> Case:
    return services.case_report(
        actor=user, category=data["category"], description=data["description"], lat=data["lat"], lon=data["lon"],
        address=data["address"], grid=data["grid"], photos=data["photos"], client_key=data["client_key"],
        resolve_on_spot=data.get("resolve_on_spot", False), resolution=data.get("resolution", ""),
        after_photos=data.get("after_photos", ()),
    )


@field_staff_required
def case_page(request, pk):
    case = get_object_or_404(case_detail(user=request.user), pk=pk)
    bound, stale = None, False
    if request.method == "POST":
        bound = ActionForm(request.POST, request.FILES, auto_id=transition_ids(request.POST.get("name", "")))
        outcome = transition_apply(request.user, case, bound)
        if outcome == "done":
            messages.success(request, _("Saved."))
            return redirect("field:case", pk=case.pk)
        stale = outcome == "stale"
        case = case_detail(user=request.user).get(pk=case.pk)
    actions = _actions(request.user, case, bound)
    context = {"case": case, "stale": stale, "events": case_view(user=request.user, case=case).timeline(),
               "actions": actions, "refused": _refused(bound, actions)}
    status = 409 if stale else (400 if bound is not None and bound.errors else 200)
    return render(request, "field/case.html", context, status=status)


def _refused(bound: ActionForm | None, actions: list[dict]) -> list[str]:
    """Why a posted action failed when it is no longer offered (its form is not on the page to show it)."""
    if bound is None or any(action["form"] is bound for action in actions):
        return []
    return [message for messages in bound.errors.values() for message in messages]


def _actions(user, case: Case, bound: ActionForm | None) -> list[dict]:
    """One form per action issues.services offers this user now (of those the field app offers)."""
    pairs = transition_forms(user, case, offered=ACTIONS, form_class=ActionForm, bound=bound)
    return [{"name": transition.name, "heading": ACTIONS[transition.name][0], "button": ACTIONS[transition.name][1],
             "form": form} for transition, form in pairs]


#
# Patrols
#


@field_staff_required
def patrol(request):
    grids = list(patrol_grids(user=request.user))
    grid = _picked_grid(request.GET.get("grid", ""), grids)
    items = patrol_list(user=request.user, grid=grid, limit=PATROL_LIMIT + 1)
    context = {
        "items": items[:PATROL_LIMIT], "more": len(items) > PATROL_LIMIT, "limit": PATROL_LIMIT,
        "grids": grids, "grid": grid, "recordable": {node.pk for node in grids if node.can_record},
    }
    return render(request, "field/patrol.html", context)


def _picked_grid(value: str, grids: list[GridNode]) -> GridNode | None:
    """The grid of ?grid=, which must be one of the user's: any other id is not found."""
    if not value:
        return None
    for grid in grids:
        if str(grid.pk) == value:
            return grid
    raise Http404


@field_staff_required
def visit(request, kind, pk):
    target = get_object_or_404(visit_targets(user=request.user, kind=kind), pk=pk)
    form = VisitForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            grid_services.visit_record(actor=request.user, outcome=form.cleaned_data["outcome"],
                                       note=form.cleaned_data["note"], client_key=form.cleaned_data["client_key"],
                                       **{kind: target})
        except AlreadyDone:
            messages.info(request, _("This visit had already been recorded: %(name)s. Nothing was stored twice.")
                          % {"name": target})
            return redirect(_patrol_url(request.GET.get("grid", "")))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Visit recorded: %(name)s.") % {"name": target})
            return redirect(_patrol_url(request.GET.get("grid", "")))
    context = {"target": target, "kind": target._meta.verbose_name, "form": form,
               "back": _patrol_url(request.GET.get("grid", ""))}
    return render(request, "field/visit.html", context, status=400 if form.errors else 200)


def _patrol_url(grid: str) -> str:
    """Back to the patrol list the worker came from, narrowed to their grid if it was."""
    url = reverse("field:patrol")
    return f"{url}?{urlencode({'grid': grid})}" if grid.isdigit() else url


#
# The installable app: manifest and service worker
#


@second_factor_exempt  # no data, and the browser fetches it for the login page too
def manifest(request):
    home_url = reverse("field:home")
    icons = [
        {"src": static("field/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": static("field/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {"src": static("field/icon-maskable-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
    ]
    data = {
        "id": home_url, "name": _("Civic field"), "short_name": _("Civic field"), "lang": get_language(),
        "description": _("Report and handle problems in your grid, with or without signal."),
        "start_url": home_url, "scope": home_url, "display": "standalone", "orientation": "portrait",
        "background_color": "#ffffff", "theme_color": THEME_COLOR, "icons": icons,
    }
    return JsonResponse(data, content_type="application/manifest+json",
                        json_dumps_params={"ensure_ascii": False, "indent": 1})


def _shell_version(assets: list[str]) -> str:
    """Changes whenever a precached file does, also where static URLs carry no hash (DEBUG)."""
    digest = hashlib.sha256()
    for path in SHELL_ASSETS:
        found = finders.find(path)
        digest.update(Path(found).read_bytes() if found else path.encode())
    digest.update("".join(assets).encode())
    return digest.hexdigest()[:16]


@second_factor_exempt  # the code itself keeps no page that answered with a redirect
def service_worker(request):
    """Served from /field/ so that its scope is the whole app; never cached, so updates reach phones."""
    assets = [static(path) for path in SHELL_ASSETS]
    context = {
        "version": _shell_version(assets), "pages": json.dumps([reverse(name) for name in SHELL_PAGES]),
        "assets": json.dumps(assets),
    }
    response = render(request, "field/sw.js", context, content_type="text/javascript; charset=utf-8")
    patch_cache_control(response, no_cache=True, max_age=0)
    return response
