"""The portal's own pages; accounts and cases live in their subpackages."""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

__all__ = ["home", "text_size"]

LARGE_TEXT_COOKIE = "civic_large_text"


def home(request):
    return render(request, "portal/home.html")


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
