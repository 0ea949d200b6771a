"""Who may open the field app: signed-in staff holding a post at a node of the grid tree."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control

from field.selectors import field_roles

__all__ = ["field_staff_required"]


def field_staff_required(view):
    """Anonymous: to the field login. Signed in without a grid post: a 403 page saying why.
    The view finds the user's roles on ``request.field_roles``."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("field:login"))
        roles = field_roles(request.user)
        if not roles:
            return render(request, "field/forbidden.html", status=403)
        request.field_roles = roles
        response = view(request, *args, **kwargs)
        if getattr(getattr(request, "_messages", None), "used", False):
            # The page shows a one-time message ("Reported: …"): no cache, the service worker's
            # included, may keep it to show again later.
            patch_cache_control(response, no_store=True)
        return response

    return wrapped
