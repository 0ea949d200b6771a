"""Exports: asked for (one transaction: the row and its audit record), then built — at once when small,
by a Celery worker when large.

Two requests for the same cases by the same user at the same moment create one export: the second
insert meets the unique index on (user, fingerprint) over exports in progress and gets the first
one's row. An export whose worker died (still "being built" after the task's time limit) is marked
failed when asked for again, so it never blocks a new one.
"""

import hashlib
import json
import logging
import tempfile
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from centre.exports import case_rows, cases_of, write_csv, write_xlsx
from centre.models import Export
from civic.audit import audit_record
from civic.replica import replica_reads

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request

    from civic.types import User

__all__ = ["export_build", "export_request"]

logger = logging.getLogger("centre.exports")


def _fingerprint(source: str, params: dict, format: str) -> str:
    canonical = {name: sorted(map(str, values)) if isinstance(values, list) else values
                 for name, values in params.items()}
    body = json.dumps({"source": source, "params": canonical, "format": format}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _expire_stale(actor: "User", fingerprint: str) -> None:
    stale = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    Export.objects.filter(requested_by=actor, fingerprint=fingerprint, status=Export.Status.RUNNING,
                          created_at__lt=stale).update(status=Export.Status.FAILED, error="interrupted",
                                                       finished_at=timezone.now())


def export_request(*, actor: "User", source: str, params: dict, format: str, rows: int,
                   request: "HttpRequest | Request | None" = None) -> tuple[Export, bool]:
    """The export of these cases for ``actor``: a new one (True), or the one already in progress (False).

    ``rows`` is how many cases the caller counted: up to settings.CENTRE_EXPORT_INLINE_ROWS the file is
    built now, in this request; above, a worker builds it and the caller answers 202 with a link.
    """
    fingerprint = _fingerprint(source, params, format)
    _expire_stale(actor, fingerprint)
    try:
        with transaction.atomic():
            export = Export.objects.create(requested_by=actor, source=source, params=params, format=format,
                                           fingerprint=fingerprint)
            audit_record(actor=actor, action="export.cases", target=export, request=request,
                         summary=f"{source} {format}: {rows} cases", detail={"params": params, "rows": rows})
    except IntegrityError:
        existing = Export.objects.filter(requested_by=actor, fingerprint=fingerprint,
                                         status__in=Export.IN_PROGRESS).first()
        if existing is None:  # it finished between our insert and this read: ask again
            return export_request(actor=actor, source=source, params=params, format=format, rows=rows,
                                  request=request)
        return existing, False
    if rows <= settings.CENTRE_EXPORT_INLINE_ROWS:
        export_build(export_id=export.pk)
        export.refresh_from_db()
    else:
        from centre.tasks import build_export

        transaction.on_commit(lambda: build_export.delay(export.pk), robust=True)
    return export, True


def export_build(*, export_id: int) -> None:
    """Build the file of a waiting export (a second call for the same export does nothing)."""
    if not Export.objects.filter(pk=export_id, status=Export.Status.PENDING).update(status=Export.Status.RUNNING):
        return
    export = Export.objects.select_related("requested_by").get(pk=export_id)
    try:
        with translation.override(export.requested_by.language or settings.LANGUAGE_CODE), replica_reads(), \
                tempfile.TemporaryFile() as stream:
            rows = case_rows(cases_of(export))
            count = write_csv(rows, stream) if export.format == Export.Format.CSV else write_xlsx(rows, stream)
            stream.seek(0)
            export.file.save(export.filename, File(stream), save=False)
    except Exception as exc:
        logger.exception("Export %s failed", export_id)
        Export.objects.filter(pk=export_id).update(status=Export.Status.FAILED, error=str(exc)[:1000],
                                                   finished_at=timezone.now())
        return
    Export.objects.filter(pk=export_id).update(status=Export.Status.DONE, rows=count, file=export.file.name,
                                               finished_at=timezone.now())
