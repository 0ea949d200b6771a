"""Celery tasks of the command centre: building a large export."""

from celery import shared_task
from django.conf import settings

from centre.services import export_build

__all__ = ["build_export"]


# A million rows take longer than the default soft limit (a minute): the task gets the whole hard limit,
# which stays under the broker's visibility timeout (twice that), so a running export is never redelivered.
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=settings.CELERY_TASK_TIME_LIMIT - 15,
             time_limit=settings.CELERY_TASK_TIME_LIMIT)
def build_export(export_id: int) -> None:
    """acks_late is safe: a redelivered message finds the export no longer waiting and does nothing."""
    export_build(export_id=export_id)
