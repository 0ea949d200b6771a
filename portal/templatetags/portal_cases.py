"""Template tags for the portal's home page (portal.views.home passes no context of its own)."""

from django import template

from portal.cases.selectors import public_case, public_cases

register = template.Library()


@register.simple_tag
def recent_public_cases(limit: int = 10) -> list[dict]:
    """The safe fields of the most recent public cases."""
    return [public_case(case) for case in public_cases()[:limit]]
