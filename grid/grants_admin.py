"""django-guardian's "Object permissions" pages of a node, closed to all but superusers and audited.

Explicit grants (unmasked ID numbers, say) are a superuser's decision, never self-service: the
overview and both pages that write grants refuse everyone else. Every grant given or taken there is
written to the audit log in the same transaction as the change itself.
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from guardian.admin import AdminGroupObjectPermissionsForm, AdminUserObjectPermissionsForm, GuardedModelAdminMixin

from civic.audit import audit_record
from grid.permissions import forget_grants

__all__ = ["AuditedGrantsMixin"]


class _AuditedSave:
    actor = None  # the superuser making the change; set on a per-request subclass

    @transaction.atomic
    def save_obj_perms(self) -> None:
        before = set(self.get_obj_perms_field_initial())
        super().save_obj_perms()
        after = set(self.cleaned_data[self.get_obj_perms_field_name()]) & {c[0] for c in
                                                                          self.get_obj_perms_field_choices()}
        added, removed = sorted(after - before), sorted(before - after)
        holder = getattr(self, "user", None) or self.group
        if hasattr(self, "user"):
            forget_grants(self.user)
        if added or removed:
            audit_record(
                actor=self.actor, action="grant.changed", target=self.obj,
                summary=f"{holder}: +{','.join(added) or '-'} -{','.join(removed) or '-'}"[:255],
                detail={"holder": str(holder), "holder_type": "user" if hasattr(self, "user") else "group",
                        "holder_id": holder.pk, "added": added, "removed": removed},
            )


class _UserForm(_AuditedSave, AdminUserObjectPermissionsForm):
    pass


class _GroupForm(_AuditedSave, AdminGroupObjectPermissionsForm):
    pass


class AuditedGrantsMixin(GuardedModelAdminMixin):
    def get_obj_perms_manage_user_form(self, request):
        return type("UserGrantsForm", (_UserForm,), {"actor": request.user})

    def get_obj_perms_manage_group_form(self, request):
        return type("GroupGrantsForm", (_GroupForm,), {"actor": request.user})

    def obj_perms_manage_view(self, request, object_pk):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().obj_perms_manage_group_view(request, object_pk, group_id)
