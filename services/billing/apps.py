from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

# Node permissions of billing data, granted on GridNode like the grid's own: billing staff hold them on
# the grid's root (services.billing.services.billing_staff_ensure), provider keys get view_billing
# through their scope (and see only their provider's rows: services.billing.selectors).
BILLING_PERMISSIONS = {
    "view_billing": "Can view billing data",
    "handle_billing": "Can confirm subscriptions, void bills and reconcile",
}


def create_billing_permissions(**kwargs):
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from grid.models import GridNode

    content_type = ContentType.objects.get_for_model(GridNode)
    for codename, name in BILLING_PERMISSIONS.items():
        Permission.objects.get_or_create(content_type=content_type, codename=codename, defaults={"name": name})


class BillingConfig(AppConfig):
    name = "services.billing"
    label = "billing"
    verbose_name = _("E-billing")

    def ready(self):
        from grid import permissions
        from services.billing.models import Bill, Card, CardMovement, Payment, Subscription, UtilityAccount

        staff = {"view": "view_billing", "change": "handle_billing", "delete": "handle_billing",
                 "add": "handle_billing"}
        # Citizens see their own rows (owner); staff and keys the rows under their grants.
        permissions.register(Bill, lookup="grid_path", actions=staff, owner="citizen", owner_actions=("view",))
        permissions.register(Subscription, lookup="account__grid_path", actions=staff, owner="citizen",
                             owner_actions=("view", "change"))
        permissions.register(Payment, lookup="grid_path", actions=staff, owner="payer", owner_actions=("view",))
        permissions.register(Card, lookup="grid_path", actions=staff, owner="holder", owner_actions=("view",))
        permissions.register(UtilityAccount, lookup="grid_path", actions=staff)
        permissions.register(CardMovement, lookup="card__grid_path", actions=staff)
        post_migrate.connect(create_billing_permissions, sender=self)

        from partners.scopes import register_scope
        from partners.webhooks import register_event

        register_scope("billing.provider", {"view_billing"})
        register_event("bill.paid", scopes=["billing.provider"],
                       description="One of the provider's bills was paid (bill, payment, amount).")
        from grid.demo import register_seeder

        register_seeder("services.billing.demo.seed")
