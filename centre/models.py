"""Exports of cases: a file built for one user from the cases of their scope, in the background when
large. The database lets a user have one export of the same cases in progress at a time, so a
request sent twice at once (a double click, a retried call) builds one file."""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["Export", "ExportStorage", "export_storage"]


class ExportStorage(FileSystemStorage):
    """Files under MEDIA_ROOT/exports (read from the settings at each use), served only to their owner
    through centre's download views, never from MEDIA_URL."""

    @property
    def base_location(self):
        return os.path.join(settings.MEDIA_ROOT, "exports")

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("Exports have no public URL: use the download view.")


export_storage = ExportStorage()


def _storage():
    return export_storage


class Export(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("being built")
        DONE = "done", _("ready")
        FAILED = "failed", _("failed")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    class Source(models.TextChoices):
        CENTRE = "centre", _("command centre")
        ADMIN = "admin", _("case list in the admin")

    IN_PROGRESS = (Status.PENDING, Status.RUNNING)

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("requested by"),
                                     on_delete=models.CASCADE, related_name="+")
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    # The query string that selects the cases: the case list API's filters, or the admin changelist's.
    params = models.JSONField(_("filters"), default=dict, blank=True)
    fingerprint = models.CharField(max_length=64, editable=False)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    file = models.FileField(_("file"), storage=_storage, upload_to="%Y/%m/", blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-id"]
        indexes = [models.Index(fields=["requested_by", "-id"], name="centre_export_owner")]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "fingerprint"], condition=models.Q(status__in=["pending", "running"]),
                name="centre_export_once_in_progress",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.format} #{self.pk}"

    @property
    def filename(self) -> str:
        return f"cases-{self.created_at:%Y%m%d-%H%M}-{self.pk}.{self.format}"
