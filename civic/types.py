"""Type aliases for annotations. Import them under `if TYPE_CHECKING:` only (mypy reads them, the running
code never does), so that importing this module cannot load the models before the app registry is ready.

    User    the signed-in person (civic.models.User): who acts in a service
    Viewer  who is asking, signed in or not (request.user): whom a selector or a permission check answers
"""

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser

from civic.models import User

__all__ = ["User", "Viewer"]

Viewer: TypeAlias = User | AnonymousUser
