"""Files only some users may download (case photos; later bills and exports). Django decides who may,
and then the web server in front sends the bytes when it can: ``settings.PROTECTED_MEDIA_SERVER``

- ``""`` (the default): Django streams the file itself (a FileResponse, read in chunks);
- ``"nginx"``: an empty answer with ``X-Accel-Redirect: <PROTECTED_MEDIA_PREFIX><name>``, which nginx
  serves from an ``internal`` location aliased to MEDIA_ROOT (see docker-compose.yml and deploy/nginx.conf);
- ``"apache"``: an empty answer with ``X-Sendfile: <the file's path>`` (mod_xsendfile).

Nothing under MEDIA_ROOT is served publicly: a file is reachable only through a view that calls this.
"""

import mimetypes
from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

__all__ = ["protected_file_response"]

MAX_AGE = 3600  # seconds a browser may reuse a file it was allowed to see


def protected_file_response(file: FieldFile) -> HttpResponse:
    """The stored file as the answer to a request already allowed to have it; 404 when it is gone."""
    if not file or not file.storage.exists(file.name):
        raise Http404
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    server = settings.PROTECTED_MEDIA_SERVER
    if server == "nginx":
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.PROTECTED_MEDIA_PREFIX + quote(file.name)
    elif server == "apache":
        response = HttpResponse(content_type=content_type)
        response["X-Sendfile"] = file.storage.path(file.name)
    else:
        response = FileResponse(file.storage.open(file.name, "rb"), content_type=content_type)
    # Who may see it depends on the user: browsers may keep it, shared caches must not.
    patch_cache_control(response, private=True, max_age=MAX_AGE)
    patch_vary_headers(response, ("Cookie", "Authorization"))
    return response
