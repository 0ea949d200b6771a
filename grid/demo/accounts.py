"""Demo accounts: one password for all of them, reset on every seed.

Apps that seed their own accounts (billing staff, a clinic's desk) call ``ensure_demo_user``.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from grid.models import Department, GridNode, Post
from grid.services import post_create

__all__ = ["DEMO_PASSWORD", "ensure_admin", "ensure_demo_post", "ensure_demo_user", "password_hash"]

DEMO_PASSWORD = "civic-demo"


@cache
def password_hash() -> str:
    """One hash for every demo account: hashing ~35 passwords separately takes ~10 s."""
    return make_password(DEMO_PASSWORD)


def ensure_demo_user(username: str, *, name: str = "", staff: bool = True, superuser: bool = False):
    """Create or reset a demo account: flags and password are put back on every run, names only at creation."""
    last_name, first_name = (name[:1], name[1:]) if name else ("", "")
    user, _created = get_user_model().objects.get_or_create(
        username=username, defaults={"first_name": first_name, "last_name": last_name}
    )
    user.is_staff, user.is_superuser, user.is_active = staff or superuser, superuser, True
    user.password = password_hash()
    user.save(update_fields=["is_staff", "is_superuser", "is_active", "password"])
    return user


def ensure_demo_post(*, actor, user, role: str, node: GridNode | None = None, department: Department | None = None):
    at = department.node if department is not None else node
    if not Post.objects.filter(user=user, role=role, node=at).exists():
        post_create(actor=actor, user=user, role=role, node=None if department else node, department=department)


def ensure_admin():
    return ensure_demo_user("admin", superuser=True)
