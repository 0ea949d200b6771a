from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = _("Partner systems")

    def ready(self):
        import partners.schema  # noqa: F401 - registers the Api-Key security scheme with drf-spectacular
        from grid.demo import register_seeder

        register_seeder("partners.demo.seed")
