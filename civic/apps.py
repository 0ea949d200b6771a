from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CivicConfig(AppConfig):
    name = "civic"
    verbose_name = _("Civic")

    def ready(self):
        # Connects the login signal that decides, once per login, whether the session needs a second factor.
        import civic.twofactor  # noqa: F401
