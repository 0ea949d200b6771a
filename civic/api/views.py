from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.settings import api_settings

__all__ = ["ObtainTokenView"]


class ObtainTokenView(ObtainAuthToken):
    """POST username and password, get {"token": "..."} for the Authorization: Token header."""

    # ObtainAuthToken names DRF's own parsers; the site's refuse deep JSON and NUL (civic.api.parsers).
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
