"""Writes of the partners app: partners, their keys, and the request log.

Managing partners and keys needs the app's model permissions (superusers hold them all); `actor=None`
is the system (a management command, the demo seeder). A key never carries more than its creator
holds: each node permission its scopes mean must be the creator's own over the key's subtree.
"""

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civic.audit import audit_record
from grid.models import GridNode
from grid.permissions import EVERYWHERE, grant_paths
from partners.addresses import check_webhook_url
from partners.keys import display_prefix, key_hash, key_new, validate_key_text, validate_scopes
from partners.models import ApiKey, ApiRequest, Partner, Webhook, WebhookDelivery
from partners.scopes import scope_codenames
from partners.webhooks import WEBHOOKS, enqueue_after_commit, event_types

if TYPE_CHECKING:
    from civic.types import User

__all__ = [
    "api_key_create",
    "api_key_revoke",
    "api_key_validate",
    "api_request_record",
    "delivery_replay",
    "partner_ensure",
    "webhook_create",
    "webhook_deactivate",
    "webhook_validate",
]

# last_used_at is kept to the minute: touching it on every request would add a write to each.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _require(actor: "User | None", perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise PermissionDenied(_("You may not manage partners and their keys."))


#
# Partners
#


def partner_ensure(*, actor: "User | None", code: str, name: str, contact: str = "", active: bool = True) -> Partner:
    """The partner with this code, created with its service user if new; name, contact and state updated."""
    _require(actor, "partners.change_partner")
    with transaction.atomic():
        partner = Partner.objects.select_for_update().filter(code=code).first()
        if partner is None:
            partner = Partner(code=code, name=name, contact=contact, active=active)
            partner.full_clean(exclude=["user"])
            partner.user = _service_user(code, name)
            partner.save()
            audit_record(actor=actor, action="partner.created", target=partner, summary=name)
        elif (partner.name, partner.contact, partner.active) != (name, contact, active):
            partner.name, partner.contact, partner.active = name, contact, active
            partner.full_clean(exclude=["user", "code"])
            partner.save(update_fields=["name", "contact", "active"])
            audit_record(actor=actor, action="partner.changed", target=partner, summary=name,
                         detail={"active": active})
    return partner


def _service_user(code: str, name: str) -> "User":
    username = f"partner-{code}"
    users = get_user_model().objects
    if users.filter(username=username).exists():
        raise ValidationError({"code": _("A user named %(username)s exists already.") % {"username": username}})
    # No password: the service user is reached only through the partner's keys.
    user = users.create_user(username=username, first_name=name[:150], is_staff=False)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return user


#
# Keys
#


def api_key_create(
    *, actor: "User | None", partner: Partner, scopes: Iterable[str], node: GridNode | None = None,
    expires_at: datetime | None = None, name: str = "", key: str | None = None, rate: str = "",
) -> tuple[ApiKey, str]:
    """A new key for the partner; returns it with its text, which is stored nowhere and shown this once.

    `key` fixes the text (demo keys only); otherwise 256 random bits are drawn.
    """
    scopes = sorted(set(scopes))
    api_key_validate(actor=actor, scopes=scopes, node=node, expires_at=expires_at)
    if key is not None:
        validate_key_text(key)
    text = key or key_new()
    api_key = ApiKey(
        partner=partner, name=name.strip(), prefix=display_prefix(text), key_hash=key_hash(text),
        scopes=scopes, node=node, rate=rate.strip(), expires_at=expires_at, created_by=actor,
    )
    api_key.full_clean(exclude=["key_hash"])
    try:
        with transaction.atomic():
            api_key.save()
            audit_record(
                actor=actor, action="api_key.created", target=api_key, summary=f"{partner.code} {api_key.prefix}",
                detail={"scopes": api_key.scopes, "node": node.code if node else None},
            )
    except IntegrityError:
        raise ValidationError({"key": _("This key exists already.")}) from None
    return api_key, text


def api_key_validate(
    *, actor: "User | None", scopes: Iterable[str], node: GridNode | None = None, expires_at: datetime | None = None
) -> None:
    """What api_key_create checks before it writes (forms call it to show the errors beside the fields):
    the actor may create keys, the scopes exist, the expiry lies ahead, and the actor holds every
    node permission the scopes carry over the key's subtree (PermissionDenied otherwise)."""
    _require(actor, "partners.add_apikey")
    try:
        validate_scopes(list(scopes))
    except ValidationError as exc:
        raise ValidationError({"scopes": exc.messages}) from None
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must lie in the future.")})
    if actor is None:
        return
    where = node.path if node is not None else EVERYWHERE
    for codename in scope_codenames(scopes):
        paths = grant_paths(actor, codename)
        if paths is not None and not any(where.startswith(path) for path in paths):
            raise PermissionDenied(_("A key cannot carry permissions its creator does not hold where it acts."))


def api_key_revoke(*, actor: "User | None", key: ApiKey) -> ApiKey:
    """Revoke the key at once (its next request is refused); revoking it again changes nothing."""
    _require(actor, "partners.change_apikey")
    with transaction.atomic():
        if ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            audit_record(actor=actor, action="api_key.revoked", target=key,
                         summary=f"{key.partner.code} {key.prefix}")
            WEBHOOKS.forget()  # its webhooks hear nothing more
    key.refresh_from_db(fields=["revoked_at"])
    return key


#
# The request log
#


def api_request_record(*, key: ApiKey, method: str, endpoint: str, status: int, duration_ms: int) -> None:
    """Log one request of a key: one INSERT (plus, at most once a minute per key, its last_used_at)."""
    now = timezone.now()
    row = ApiRequest(key=key, at=now, method=method[:8], endpoint=endpoint[:255], status=status,
                     duration_ms=max(0, duration_ms))
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        row.save(force_insert=True)
        return
    with transaction.atomic():
        row.save(force_insert=True)
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


#
# Webhooks
#


def _require_for_key(actor: "User | None", key: ApiKey, perm: str) -> None:
    """A partner manages its own key's webhooks through that key; staff need the model permission."""
    if actor is not None and actor.pk == key.partner.user_id:
        return
    _require(actor, perm)


def webhook_validate(*, key: ApiKey, url: str, events: Iterable[str]) -> None:
    """What webhook_create checks before it writes (forms call it to show the errors beside the fields)."""
    known = event_types()
    events = list(events)
    errors = {}
    unknown = [e for e in events if e not in known]
    refused = [e for e in events if e in known and not set(known[e].scopes) & set(key.scopes)]
    if not events:
        errors["events"] = [_("Choose at least one event.")]
    elif unknown:
        errors["events"] = [_("Unknown events: %(events)s.") % {"events": ", ".join(unknown)}]
    elif refused:
        errors["events"] = [_("This key's scopes do not cover: %(events)s.") % {"events": ", ".join(refused)}]
    if key.is_revoked or key.is_expired:
        errors["key"] = [_("The key is revoked or expired.")]
    try:
        check_webhook_url(url)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


def webhook_create(*, actor: "User | None", key: ApiKey, url: str, events: Iterable[str]) -> tuple[Webhook, str]:
    """Subscribe `url` to the events (each one the key's scopes may receive); returns the webhook and its
    signing secret, which the partner needs to check signatures (it is shown with the webhook once)."""
    _require_for_key(actor, key, "partners.add_webhook")
    events = sorted(set(events))
    webhook_validate(key=key, url=url, events=events)
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook(key=key, url=url, events=events, secret=secret)
    webhook.full_clean()
    with transaction.atomic():
        webhook.save()
        audit_record(actor=actor, action="webhook.created", target=webhook, summary=url[:255],
                     detail={"events": events, "key": key.prefix})
    return webhook, secret


def webhook_deactivate(*, actor: "User | None", webhook: Webhook) -> Webhook:
    """Stop sending the webhook anything new (what is already queued is still sent)."""
    _require_for_key(actor, webhook.key, "partners.change_webhook")
    with transaction.atomic():
        if Webhook.objects.filter(pk=webhook.pk, active=True).update(active=False):
            audit_record(actor=actor, action="webhook.deactivated", target=webhook, summary=webhook.url[:255])
            WEBHOOKS.forget()
    webhook.refresh_from_db(fields=["active"])
    return webhook


def delivery_replay(*, actor: "User | None", delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery of the same event (same body and event id)."""
    _require(actor, "partners.change_webhookdelivery")
    with transaction.atomic():
        now = timezone.now()
        replay = WebhookDelivery.objects.create(
            webhook=delivery.webhook, event_id=delivery.event_id, event_type=delivery.event_type, body=delivery.body,
            replay_of=delivery, created_at=now, next_attempt_at=now,
        )
        enqueue_after_commit([replay.pk])
    return replay
