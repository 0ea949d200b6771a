"""``manage.py create_api_key PARTNER --scope S [--scope S ...] [--node CODE] [--days N] [--name NAME]
[--rate 600/min] [--partner-name NAME]``: a new key for a partner, printed once (stored hashed only).

With --partner-name the partner is created when it does not exist yet.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from grid.models import GridNode
from partners.models import Partner, Scope
from partners.services import api_key_create, partner_ensure


class Command(BaseCommand):
    help = "Create an API key for a partner and print it once: it is stored hashed and cannot be shown again."

    def add_arguments(self, parser):
        parser.add_argument("partner", help="The partner's code.")
        parser.add_argument("--scope", action="append", required=True, choices=Scope.values, dest="scopes",
                            help="A scope of the key; repeat for several.")
        parser.add_argument("--node", help="The code of the grid node whose subtree the key is limited to.")
        parser.add_argument("--days", type=int, help="Expire the key after this many days.")
        parser.add_argument("--name", default="", help="What the key is for.")
        parser.add_argument("--rate", default="", help="Rate limit, e.g. 600/min (default: API_KEY_DEFAULT_RATE).")
        parser.add_argument("--partner-name", help="Create the partner with this name if it does not exist.")

    def handle(self, *args, partner, scopes, node=None, days=None, name="", rate="", partner_name=None, **options):
        found = Partner.objects.filter(code=partner).first()
        if found is None and not partner_name:
            raise CommandError(f"No partner {partner!r}: pass --partner-name to create it.")
        try:
            if found is None:
                found = partner_ensure(actor=None, code=partner, name=partner_name)
            subtree = self._node(node)
            if days is not None and days < 1:
                raise CommandError("--days must be at least 1.")
            expires_at = timezone.now() + timedelta(days=days) if days else None
            key, text = api_key_create(actor=None, partner=found, scopes=scopes, node=subtree,
                                       expires_at=expires_at, name=name, rate=rate)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        where = f"limited to {subtree.code} {subtree.name}" if subtree else "the whole city"
        self.stderr.write(f"API key {key.prefix}… for {found.name} ({', '.join(key.scopes)}; {where}). "
                          "Store it now: it is not shown again.")
        self.stdout.write(text)

    @staticmethod
    def _node(code: str | None) -> GridNode | None:
        if not code:
            return None
        node = GridNode.objects.filter(code=code).first()
        if node is None:
            raise CommandError(f"No grid node with code {code!r}.")
        return node
