from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

# Node permissions bookings need, granted on GridNode like the grid's own (a grant covers a subtree and
# the service points placed in it): see the bookings and slots, or run the desk (schedules, closures,
# check-in, no-shows, visit results, follow-up plans, lifting blocks).
BOOKING_PERMISSIONS = {
    "view_booking": "Can view bookings and slots",
    "manage_booking": "Can manage schedules, closures and bookings at the desk",
}

VIEW, MANAGE = "view_booking", "manage_booking"
_STAFF_ACTIONS = {"view": VIEW, "add": MANAGE, "change": MANAGE, "delete": MANAGE, "manage": MANAGE}


def create_booking_permissions(**kwargs):
    """Create the Permission rows of BOOKING_PERMISSIONS after every migrate (and test-database flush)."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from grid.models import GridNode

    content_type = ContentType.objects.get_for_model(GridNode)
    for codename, name in BOOKING_PERMISSIONS.items():
        Permission.objects.get_or_create(content_type=content_type, codename=codename, defaults={"name": name})


class BookingConfig(AppConfig):
    name = "services.booking"
    label = "booking"
    verbose_name = _("Appointments")

    def ready(self):
        from grid import permissions
        from grid.models import Role
        from grid.roles import extend_roles
        from services.booking import models as m

        # Staff see and manage what lies at service points inside their granted subtrees; a citizen sees
        # (and cancels, reschedules) their own bookings and waitlist entries.
        permissions.register(m.ServicePoint, lookup="node_path", actions=_STAFF_ACTIONS)
        permissions.register(m.Slot, lookup="node_path", actions=_STAFF_ACTIONS)
        for model in (m.Department, m.Service, m.Resource, m.Closure, m.FollowUpPlan):
            permissions.register(model, lookup="point__node_path", actions=_STAFF_ACTIONS)
        permissions.register(m.ScheduleTemplate, lookup="resource__point__node_path", actions=_STAFF_ACTIONS)
        permissions.register(m.FollowUpTask, lookup="plan__point__node_path", actions=_STAFF_ACTIONS)
        permissions.register(
            m.Booking, lookup="slot__node_path",
            actions={**_STAFF_ACTIONS, "cancel": MANAGE, "reschedule": MANAGE, "confirm": MANAGE},
            owner="citizen", owner_actions=("view", "cancel", "reschedule", "confirm"),
        )
        permissions.register(m.WaitlistEntry, lookup="slot__node_path", actions={**_STAFF_ACTIONS, "leave": MANAGE},
                             owner="citizen", owner_actions=("view", "leave"))
        # Community staff run their community's health centre (its follow-up plans and tasks); street
        # and district staff see what lies below them.
        extend_roles({
            Role.COMMUNITY_DIRECTOR: {VIEW, MANAGE},
            Role.STREET_OFFICER: {VIEW},
            Role.DISTRICT_COMMANDER: {VIEW},
        })
        post_migrate.connect(create_booking_permissions, sender=self)
        # Partners' keys with booking.read read bookings (and slots) on the key's subtree.
        from partners.scopes import register_scope

        register_scope("booking.read", {VIEW, "view_gridnode"})
        from partners.webhooks import register_event

        register_event("booking.changed", scopes=["booking.read"],
                       description="A booking changed status (ids and the new status only).")
        # seed_demo's service points, schedules, slots and the clinic desk account (imported only when seeding).
        from grid.demo import register_seeder

        register_seeder("services.booking.demo.seed")
