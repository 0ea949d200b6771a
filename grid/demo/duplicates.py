"""A duplicate registration for the district commander to review (grid.DuplicateRegistration)."""

from django.contrib.auth import get_user_model
from django.db import transaction

from grid.demo.city import XINGHUO_CODE
from grid.models import DuplicateRegistration, Household, Post, Resident, Role
from grid.services import resident_save

__all__ = ["ensure_demo_duplicate"]


@transaction.atomic
def ensure_demo_duplicate() -> int:
    """worker2 registers, in their grid of another street, a number that a Xinghuo Lane resident holds:
    accepted as for any number (worker2 cannot see Xinghuo Lane), and under review by `district`, the
    lowest post covering both. Once; returns how many were made now."""
    if DuplicateRegistration.objects.exists():
        return 0
    worker2 = get_user_model().objects.get(username="worker2")
    grid = Post.objects.get(user=worker2, role=Role.GRID_WORKER).node
    household = Household.objects.filter(grid=grid).order_by("id").first()
    original = Resident.objects.filter(household__grid__code=XINGHUO_CODE + "001").order_by("id").first()
    if household is None or original is None:
        return 0
    resident_save(actor=worker2, resident=Resident(household=household, name="赵建华", relation="租户",
                                                   id_number=original.id_number))
    return 1
