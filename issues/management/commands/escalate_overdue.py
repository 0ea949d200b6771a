"""``manage.py escalate_overdue``: run the overdue sweep now, as beat does every minute."""

from django.core.management.base import BaseCommand

from issues.tasks import escalate_overdue_cases

__all__ = ["Command"]


class Command(BaseCommand):
    help = (
        "Escalate every case past its deadline one level up (a department's case to its district) and flag "
        "those already at the district to the command centre. The same job as the Celery beat entry."
    )

    def handle(self, *args, **options):
        # The task's body, run here and now (not queued), with the same singleton lock.
        counts = escalate_overdue_cases()
        if counts.get("skipped"):
            self.stdout.write(self.style.WARNING("Another sweep is running; nothing done."))
            return
        self.stdout.write(self.style.SUCCESS(
            f"Escalated {counts['escalated']} cases, flagged {counts['flagged']} to the command centre."
        ))
