"""``manage.py anonymise_closed_cases [--dry-run]``: the retention task now, or what it would do."""

from django.core.management.base import BaseCommand

from issues.retention import cases_anonymise
from issues.tasks import anonymise_closed_cases

__all__ = ["Command"]


class Command(BaseCommand):
    help = (
        "Remove the personal data of cases closed, rejected or marked duplicate more than CASE_RETENTION_DAYS "
        "ago: the reporter, the description, the address, the timeline's comments and the original photos. "
        "The same job as the Celery beat entry; --dry-run only says what it would do."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; change nothing.")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            self._print(cases_anonymise(dry_run=True).__dict__, "would be")
            self.stdout.write(self.style.WARNING("Dry run: nothing was changed."))
            return
        counts = anonymise_closed_cases()  # the task's body, here and now, with the same lock
        if counts.get("skipped"):
            self.stdout.write(self.style.WARNING("Another run is in progress; nothing done."))
            return
        self._print(counts, "were")
        self.stdout.write(self.style.SUCCESS("Done."))

    def _print(self, counts: dict, verb: str) -> None:
        if "cutoff" in counts:
            self.stdout.write(f"Cases over (closed, rejected or duplicate) and last changed before "
                              f"{counts['cutoff']:%Y-%m-%d %H:%M}:")
        self.stdout.write(
            f"  {counts['cases']} cases {verb} anonymised: their reporter ({counts['reporters']} people) unlinked,\n"
            f"    description and address removed;\n"
            f"  {counts['comments']} timeline comments {verb} replaced by a marker;\n"
            f"  {counts['originals']} original photos {verb} deleted (the display copies stay);\n"
            f"  {counts['notices']} notices to the reporters {verb} unlinked from them."
        )
