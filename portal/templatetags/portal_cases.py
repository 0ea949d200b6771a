"""Template filters of the portal's case pages."""

from django import template
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def distance(metres: float) -> str:
    """A distance in the page's language: "350 m" (to 10 m) under a kilometre, "1.2 km" above."""
    rounded = round(metres, -1)
    if rounded < 1000:
        return _("%(metres)s m") % {"metres": floatformat(rounded, 0)}
    return _("%(km)s km") % {"km": floatformat(metres / 1000, -1)}
