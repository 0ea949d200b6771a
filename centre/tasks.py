"""Celery tasks of the command centre: building a large export."""

from celery import shared_task

from centre.services import export_build

__all__ = ["build_export"]


@shared_task(acks_late=True, reject_on_worker_lost=True)
def build_export(export_id: int) -> None:
    """acks_late is safe: a redelivered message finds the export no longer waiting and does nothing."""
    export_build(export_id=export_id)
