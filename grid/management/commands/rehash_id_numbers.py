from django.core.management.base import BaseCommand

from grid.services import residents_rehash


class Command(BaseCommand):
    help = "Recompute every resident's ID-number look-up hash (after changing ID_NUMBER_HASH_KEY or SECRET_KEY)."

    def handle(self, *args, **options):
        self.stdout.write(f"{residents_rehash()} residents rehashed.")
