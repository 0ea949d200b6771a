"""Lets Django's own `user.has_perm(perm, obj)` give the same answer as grid.permissions.can.

Object checks elsewhere (DRF's DjangoObjectPermissions, template `perms`, third-party code) then
agree with the scope the API and the admin apply. Model-level permissions stay with ModelBackend.
"""

from grid.permissions import can, rule_for

__all__ = ["GridPermissionBackend"]


class GridPermissionBackend:
    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user_obj, perm, obj=None):
        if obj is None:
            return False
        try:
            rule = rule_for(type(obj))
        except LookupError:
            return False
        codename = perm.partition(".")[2]
        model_name = type(obj)._meta.model_name
        for action in rule.actions:
            if codename in (f"{action}_{model_name}", rule.actions[action]):
                return can(user_obj, action, obj)
        return False
