"""Writes the billing admin needs that services.billing.services does not offer (kept apart from it so
the two can grow without touching each other): editing a provider's and an account's descriptive
fields. Money, bills, subscriptions and payments change only through services.billing.services."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from civic.audit import audit_record
from grid.models import GridNode
from services.billing.models import Provider, UtilityAccount

__all__ = ["account_save", "provider_save"]


def provider_save(*, actor, provider: Provider) -> Provider:
    """Create or update a provider from the admin's form (code, name, kind, partial payment, partner, active)."""
    provider.full_clean()
    created = provider.pk is None
    with transaction.atomic():
        provider.save()
        audit_record(actor=actor, action="billing.provider.created" if created else "billing.provider.changed",
                     target=provider, summary=provider.name)
    return provider


def account_save(*, actor, account: UtilityAccount) -> UtilityAccount:
    """Create or update an account's holder, address and grid node; its grid path follows the node
    (the city's root when unknown, so that billing staff's grant on the root covers it)."""
    if account.grid_id is not None:
        account.grid_path = account.grid.path
    else:
        root = GridNode.get_first_root_node()
        if root is None:
            raise ValidationError({"grid": _("The city's grid has no node yet.")})
        account.grid_path = root.path
    account.full_clean()
    created = account.pk is None
    with transaction.atomic():
        account.save()
        audit_record(actor=actor, action="billing.account.created" if created else "billing.account.changed",
                     target=account, summary=f"{account.provider.code} {account.account_number}")
    return account
