"""Celery tasks of the issues app: the overdue sweep, run by beat every minute (CELERY_BEAT_SCHEDULE).

The work itself is issues.sweep.escalate_overdue, which is safe to run twice at once (see there). The
task adds a singleton lock only so that two beat ticks, or a tick and ``manage.py escalate_overdue``,
do not both do the same work: the second one returns at once and the next tick carries on.
"""

import logging

from celery import shared_task
from django.conf import settings

from civic.locks import singleton
from issues.retention import cases_anonymise
from issues.sweep import escalate_overdue

__all__ = ["RETENTION_LOCK", "SWEEP_LOCK", "anonymise_closed_cases", "escalate_overdue_cases"]

logger = logging.getLogger("issues.sweep")

SWEEP_LOCK = "issues:escalate-overdue"
RETENTION_LOCK = "issues:anonymise-closed"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def escalate_overdue_cases() -> dict[str, int]:
    """Escalate every overdue case one level up, flag those already at the district; returns the counts.

    acks_late is safe: a redelivered run finds nothing left to do for the cases the first one
    committed (their deadlines moved), and the timeline's unique (case, expired deadline) backs that up.
    """
    with singleton(SWEEP_LOCK, timeout=settings.CELERY_TASK_TIME_LIMIT) as acquired:
        if not acquired:
            logger.info("Overdue sweep skipped: another sweep is running")
            return {"escalated": 0, "flagged": 0, "skipped": 1}
        counts = escalate_overdue()
    if counts["escalated"] or counts["flagged"]:
        logger.info("Overdue sweep: %(escalated)d cases escalated, %(flagged)d flagged to the command centre", counts)
    else:
        logger.debug("Overdue sweep: nothing overdue")
    return counts


@shared_task(acks_late=True, reject_on_worker_lost=True)
def anonymise_closed_cases() -> dict[str, int]:
    """Remove the personal data of cases over for CASE_RETENTION_DAYS (issues.retention); returns the counts.

    Each batch commits on its own: a run cut short by the time limit (the first one after an upgrade
    may find years of cases) leaves the rest to the next night, and a redelivered one finds done cases
    no longer due.
    """
    with singleton(RETENTION_LOCK, timeout=settings.CELERY_TASK_TIME_LIMIT) as acquired:
        if not acquired:
            logger.info("Retention skipped: another run is in progress")
            return {"cases": 0, "skipped": 1}
        report = cases_anonymise()
    logger.info("Retention: %d cases anonymised (%d original photos deleted)", report.cases, report.originals)
    return {"cases": report.cases, "reporters": report.reporters, "comments": report.comments,
            "originals": report.originals, "notices": report.notices}
