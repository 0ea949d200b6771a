from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Open311Config(AppConfig):
    name = "open311"
    verbose_name = _("Open311 GeoReport v2")

    def ready(self):
        from grid.permissions import rule_for
        from issues.models import Case
        from partners.scopes import register_scope

        # A key with the open311 scope posts service requests: it reports cases (as staff, so that
        # case_report holds it to its subtree). It reads only what the public reads.
        register_scope("open311", {rule_for(Case).actions["add"], "view_gridnode"})
