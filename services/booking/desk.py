"""What the staff admin needs beyond the core's services and selectors (kept apart from them, so that
the core's modules merge cleanly): the blocks a desk may see, and the check on a slot's capacity that
the admin's form shows before the core's slot_capacity_set enforces it.

Blocks are a citizen's, not a service point's: a desk sees (and may lift) the active blocks of the
citizens who missed an appointment at one of the points it manages (grid.permissions.scope over the
no-show bookings), and no one else's.
"""

from django.db.models import Exists, OuterRef, QuerySet

from grid.permissions import scope
from services.booking.models import Booking, BookingBlock, BookingStatus
from services.booking.selectors import block_list

__all__ = ["block_list_managed", "may_see_block"]


def block_list_managed(*, user, active_only: bool = False) -> QuerySet:
    missed_here = scope(Booking.objects.filter(status=BookingStatus.NO_SHOW), user, "manage").filter(
        citizen_id=OuterRef("citizen_id"))
    return block_list(active_only=active_only).filter(Exists(missed_here))


def may_see_block(user, block: BookingBlock) -> bool:
    return block_list_managed(user=user).filter(pk=block.pk).exists()
