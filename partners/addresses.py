"""Where webhooks may be sent: http(s) URLs whose host resolves to public addresses only.

Private, loopback, link-local and other special addresses (the machine itself, the cloud's metadata
service, the city's internal network) are refused unless the host, or the address, is listed in
WEBHOOK_ALLOWED_HOSTS. The check runs when a webhook is subscribed and again before every delivery,
on the address actually connected to (partners.delivery pins the connection to it), since the name
may resolve elsewhere by then.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

__all__ = ["UnsafeAddress", "check_webhook_url", "resolve_target"]


class UnsafeAddress(Exception):
    """The URL is not http(s), or its host resolves to an address deliveries may not go to."""


def _allowed(host: str, address: str | None = None) -> bool:
    allowed = {entry.lower() for entry in settings.WEBHOOK_ALLOWED_HOSTS}
    return host.lower() in allowed or (address is not None and address in allowed)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_target(url: str) -> tuple[str, int, str]:
    """(host, port, address) to connect to for the URL; UnsafeAddress when it may not be reached."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeAddress(_("Webhook URLs are http:// or https:// URLs with a host."))
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeAddress(_("The URL's port is not a number.")) from None
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeAddress(_("The host %(host)s does not resolve.") % {"host": host}) from None
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    # Every address must pass, not just one: the connection could otherwise land on any of them.
    refused = [a for a in addresses if not (_public(a) or _allowed(host, a))]
    if refused:
        raise UnsafeAddress(
            _("%(host)s resolves to %(address)s, a private or local address: webhooks are not sent there.")
            % {"host": host, "address": refused[0]}
        )
    return host, port, addresses[0]


def check_webhook_url(url: str) -> None:
    """ValidationError (on "url") unless deliveries to this URL would be allowed now."""
    try:
        resolve_target(url)
    except UnsafeAddress as exc:
        raise ValidationError({"url": str(exc)}) from None
