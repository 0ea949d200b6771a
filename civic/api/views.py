from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from civic.api.serializers import MeSerializer

__all__ = ["MeView", "ObtainTokenView"]


class ObtainTokenView(ObtainAuthToken):
    """POST username and password, get {"token": "..."} for the Authorization: Token header."""


class MeView(APIView):
    """Who is signed in: a client shows the name and picks the language and the staff screens from it.

    It reads nothing but the request's own user, so it is also the benchmarks' trivial endpoint
    (bench/http.py): the cost of authentication and the framework alone."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeSerializer}, operation_id="auth_me")
    def get(self, request):
        return Response(MeSerializer(request.user).data)
