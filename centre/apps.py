from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CentreConfig(AppConfig):
    name = "centre"
    verbose_name = _("Command centre")

    def ready(self):
        from django.contrib import admin

        # The admin's home page links the command centre (its own template adds the module on top).
        admin.site.index_template = "centre/admin_index.html"
        # seed_demo's year of past cases (imported only when seeding).
        from grid.demo import register_seeder

        register_seeder("centre.demo.seed")
