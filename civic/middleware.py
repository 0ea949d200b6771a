"""Middleware of the whole site."""

from django.core.exceptions import BadRequest
from django.http import JsonResponse
from rest_framework.views import APIView

from civic.api.errors import error_body
from civic.inputs import NUL, NUL_MESSAGE, form_has_nul

__all__ = ["RefuseNulMiddleware"]

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class RefuseNulMiddleware:
    """A NUL character in the URL path, the query string or posted form data answers 400 for every view,
    the admin's included: PostgreSQL refuses NUL in text, so a filter or a lookup with one would be a
    server error. API views answer in the API's error shape; their bodies (JSON, form or multipart,
    whatever the method) are DRF's to parse, and civic.api.parsers refuses NUL there."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        api = isinstance(getattr(view_func, "cls", None), type) and issubclass(view_func.cls, APIView)
        if not _has_nul(request, body=not api):
            return None
        message = str(NUL_MESSAGE)
        if api:
            return JsonResponse(error_body(400, "bad_request", message), status=400,
                                json_dumps_params={"ensure_ascii": False})
        raise BadRequest(message)


def _has_nul(request, *, body: bool) -> bool:
    if NUL in request.path_info or form_has_nul(request.GET):
        return True
    return body and request.method == "POST" and request.content_type in _FORMS and form_has_nul(
        request.POST, request.FILES)
