from django import template

from grid.permissions import has_any_grant

register = template.Library()


@register.simple_tag(takes_context=True)
def centre_visible(context) -> bool:
    """Whether the command centre is for this user (staff with a post): the admin's home links it then."""
    request = context.get("request")
    return request is not None and has_any_grant(request.user)
