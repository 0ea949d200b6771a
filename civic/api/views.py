from rest_framework.authtoken.views import ObtainAuthToken

__all__ = ["ObtainTokenView"]


class ObtainTokenView(ObtainAuthToken):
    """POST username and password, get {"token": "..."} for the Authorization: Token header."""
