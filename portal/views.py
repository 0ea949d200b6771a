"""The portal's own pages; accounts and cases live in their subpackages."""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portal.cases.forms import NearbyForm
from portal.cases.selectors import NEARBY_RADIUS_M, public_case, public_cases, public_cases_near

__all__ = ["home", "text_size"]

LARGE_TEXT_COOKIE = "civic_large_text"
RECENT_LIMIT = 10


def home(request):
    """Recent public cases across the city; given a position (``?lat=&lon=``, which the "near me"
    control sends) the public cases near it instead. A position that cannot be used is ignored, and
    the page says so."""
    position = NearbyForm(request.GET) if {"lat", "lon"} & request.GET.keys() else None
    nearby = None
    if position is not None and position.is_valid():
        nearby = public_cases_near(position.cleaned_data["lat"], position.cleaned_data["lon"])
    context = {
        "nearby": nearby,
        "bad_position": position is not None and nearby is None,
        "radius_m": NEARBY_RADIUS_M,
        "recent": [public_case(case) for case in public_cases()[:RECENT_LIMIT]] if nearby is None else [],
    }
    return render(request, "portal/home.html", context)


@require_POST
def text_size(request):
    """Toggle large text (at least 150%): a cookie, so it works before login and without JavaScript."""
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = "/"
    response = HttpResponseRedirect(target)
    if request.COOKIES.get(LARGE_TEXT_COOKIE) == "1":
        response.delete_cookie(LARGE_TEXT_COOKIE)
    else:
        response.set_cookie(LARGE_TEXT_COOKIE, "1", max_age=365 * 24 * 3600, samesite="Lax")
    return response
