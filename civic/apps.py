from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CivicConfig(AppConfig):
    name = "civic"
    verbose_name = _("Civic")

    def ready(self):
        # Connects the login signal that decides, once per login, whether the session needs a second factor.
        from django.db.models.signals import post_delete, post_save

        import civic.twofactor  # noqa: F401
        from civic.calendar_models import CalendarDay
        from civic.workcal import OVERRIDES

        # Every process reloads the working calendar after a change (civic.cached).
        for signal in (post_save, post_delete):
            signal.connect(OVERRIDES.forget, sender=CalendarDay, dispatch_uid="civic.workcal.forget")
