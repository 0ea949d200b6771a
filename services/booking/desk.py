"""What the staff admin needs beyond the core's services and selectors (kept apart from them, so that
the core's modules merge cleanly): the blocks a desk may see, and the check on a slot's capacity that
the admin's form shows before the core's slot_capacity_set enforces it.

Blocks are a citizen's, not a service point's: a desk sees (and may lift) the active blocks of the
citizens who missed an appointment at one of the points it manages (grid.permissions.scope over the
no-show bookings), and no one else's.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from civic.audit import audit_record
from grid.permissions import require, scope
from services.booking.models import Booking, BookingBlock, BookingStatus, FollowUpPlan
from services.booking.selectors import block_list

__all__ = ["block_list_managed", "citizen_by_identifier", "follow_up_plan_stop", "may_see_block"]


def block_list_managed(*, user, active_only: bool = False) -> QuerySet:
    missed_here = scope(Booking.objects.filter(status=BookingStatus.NO_SHOW), user, "manage").filter(
        citizen_id=OuterRef("citizen_id"))
    return block_list(active_only=active_only).filter(Exists(missed_here))


def may_see_block(user, block: BookingBlock) -> bool:
    return block_list_managed(user=user).filter(pk=block.pk).exists()


def citizen_by_identifier(identifier: str):
    """The citizen whose account has this mobile number or user name (a desk asks the patient for it);
    ValidationError when none or several match."""
    identifier = (identifier or "").strip()
    phone = identifier[3:] if identifier.startswith("+86") else identifier
    found = list(get_user_model().objects.filter(Q(phone=phone) | Q(phone=f"+86{phone}") | Q(username=identifier),
                                                 is_active=True)[:2]) if identifier else []
    if len(found) != 1:
        raise ValidationError({"citizen": [_("No single account has this mobile number or user name.")]})
    return found[0]


def follow_up_plan_stop(*, actor, plan: FollowUpPlan) -> FollowUpPlan:
    """Stop a follow-up plan: no further appointments are booked for it (those booked stay)."""
    require(actor, "manage", plan)
    if FollowUpPlan.objects.filter(pk=plan.pk, active=True).update(active=False):
        audit_record(actor=actor, action="booking.follow_up_stop", target=plan, summary=str(plan))
    plan.refresh_from_db()
    return plan
