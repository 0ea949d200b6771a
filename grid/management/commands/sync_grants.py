from django.core.management.base import BaseCommand

from grid.services import posts_sync_grants


class Command(BaseCommand):
    help = "Give every post the grants its role implies now (after an upgrade that adds permissions to roles)."

    def handle(self, *args, **options):
        self.stdout.write(f"{posts_sync_grants()} grants added.")
