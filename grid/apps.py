from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _record_path(record) -> str:
    # A grid chosen but not yet saved wins over the stored path: checks must see where it goes.
    if "grid" in record._state.fields_cache or not record.grid_path:
        return record.grid.path if record.grid_id else ""
    return record.grid_path


class GridConfig(AppConfig):
    name = "grid"
    verbose_name = _("Grid management")

    def ready(self):
        from grid import permissions
        from grid.models import (
            Building,
            Department,
            DuplicateRegistration,
            Estate,
            GridNode,
            Household,
            Place,
            Post,
            Resident,
            Visit,
        )

        crud = ("view", "add", "change", "delete")
        registry = {"view": "view_registry", "add": "change_registry", "change": "change_registry",
                    "delete": "change_registry", "view_personal_id": "view_personal_id"}
        permissions.register(GridNode, lookup="path", actions={a: f"{a}_gridnode" for a in crud})
        permissions.register(
            Department, lookup="node__path",
            actions={"view": "view_gridnode", "add": "change_gridnode", "change": "change_gridnode",
                     "delete": "change_gridnode"},
        )
        permissions.register(
            Post, lookup="node__path",
            actions={"view": "view_gridnode", **dict.fromkeys(("add", "change", "delete"), "manage_posts")},
        )
        for model in (Estate, Household, Place):
            permissions.register(model, lookup="grid_path", actions=registry, object_path=_record_path)
        permissions.register(Building, lookup="estate__grid_path", actions=registry)
        permissions.register(Resident, lookup="household__grid_path", actions=registry)
        # A duplicate registration is reviewed by staff who may change the registry of both households.
        permissions.register(
            DuplicateRegistration, lookup="resident__household__grid_path", also=("original__household__grid_path",),
            actions={"view": "change_registry", "change": "change_registry"},
        )
        # Staff posted at a street office or above (department staff included: they read a whole
        # district) need a second factor when STAFF_2FA_REQUIRED is on.
        from civic.twofactor import register_requirement
        from grid.models import Level
        from grid.selectors import posted_at_or_above

        register_requirement(lambda user: posted_at_or_above(user, Level.STREET_OFFICE))
        # Visits are recorded, never edited: they have no change or delete action.
        permissions.register(
            Visit, lookup="grid_path", actions={"view": "view_registry", "add": "record_visit"},
            object_path=_record_path,
        )
