from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = _("Partner systems")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        import partners.schema  # noqa: F401 - registers the Api-Key security scheme with drf-spectacular
        from partners.models import ApiKey, Partner, Webhook
        from partners.webhooks import WEBHOOKS

        # The webhooks every report reads, kept per process (civic.cached): reloaded after any change.
        for model in (Webhook, ApiKey, Partner):
            for signal in (post_save, post_delete):
                signal.connect(WEBHOOKS.forget, sender=model, dispatch_uid=f"partners.webhooks.{model.__name__}")
        from grid.demo import register_seeder

        register_seeder("partners.demo.seed")
