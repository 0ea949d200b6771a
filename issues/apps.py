from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

# Node permissions cases need, granted on GridNode like the grid's own (a grant covers a subtree).
CASE_PERMISSIONS = {
    "view_case": "Can view cases",
    "report_case": "Can report cases",
    "handle_case": "Can accept, dispatch, handle and escalate cases",
    "verify_case": "Can verify resolutions on site",
}


def create_case_permissions(**kwargs):
    """Create the Permission rows of CASE_PERMISSIONS after every migrate (and test-database flush)."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from grid.models import GridNode

    content_type = ContentType.objects.get_for_model(GridNode)
    for codename, name in CASE_PERMISSIONS.items():
        Permission.objects.get_or_create(content_type=content_type, codename=codename, defaults={"name": name})


class IssuesConfig(AppConfig):
    name = "issues"
    verbose_name = _("Cases")

    def ready(self):
        from grid import permissions
        from grid.models import Role
        from grid.roles import extend_roles
        from issues.models import Case

        permissions.register(
            Case, lookup="grid_path",
            actions={"view": "view_case", "add": "report_case", "change": "handle_case", "delete": "handle_case",
                     "handle": "handle_case", "verify": "verify_case"},
            # An unsaved case has no stored path yet: checks must see the grid it is reported in.
            object_path=lambda case: case.grid.path,
            owner="reporter", owner_actions=("view", "verify", "comment"),
            by_level_prefix=True,  # the per-level prefix indexes of issues.models.Case
        )
        handlers = {"view_case", "report_case", "handle_case", "verify_case"}
        extend_roles({
            Role.GRID_WORKER: {"view_case", "report_case", "verify_case"},
            Role.COMMUNITY_DIRECTOR: handlers,
            Role.STREET_OFFICER: handlers,
            Role.DISTRICT_COMMANDER: handlers,
            Role.DEPARTMENT_STAFF: {"view_case"},
        })
        post_migrate.connect(create_case_permissions, sender=self)
        # What partners' keys may do with cases, on the key's subtree: read them (and the nodes they lie
        # in), or report and handle them as well. view_gridnode also makes the partner a staff reporter,
        # whose reports case_report checks against its grants (a citizen may report anywhere).
        from partners.scopes import register_scope

        reading = {"view_case", "view_gridnode"}
        register_scope("cases.read", reading)
        register_scope("cases.write", reading | {"report_case", "handle_case", "verify_case"})
        # The case events partners' webhooks may subscribe to (issues.events).
        from issues.events import register_case_events

        register_case_events()
        # seed_demo's demo categories and cases (imported only when seeding).
        from grid.demo import register_seeder

        register_seeder("issues.demo.seed")
