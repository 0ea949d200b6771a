"""Retention: the personal data of a case that is over (closed, rejected or a duplicate) is removed
CASE_RETENTION_DAYS after its last change, by a beat task (issues.tasks) or ``manage.py
anonymise_closed_cases`` (which can say what it would do first).

What goes, and what stays:

* the reporter: the case, the reporter's own timeline entries and the notices it sent them are moved
  to one placeholder account (``~anonymised``, which cannot log in), so no row links a person to the
  case any more; the staff who handled it stay named, since they acted in office;
* the free text: the description and every timeline comment are replaced by a marker, and the
  address is emptied. Text written by people names people (neighbours, shopkeepers, the reporter's
  own flat number), and no filter finds every name reliably in Chinese free text, so it all goes;
* the photos' originals: each file is deleted through its storage and the field cleared; the display
  copies stay (downscaled, re-encoded without EXIF or GPS when they were made);
* what the statistics count stays as it was: category, status, grid and its path, the point, the
  reporter's kind, priority, levels and every date.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import CharField, Count, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from civic.models import Notice
from issues.models import FINAL_STATUSES, Case, CaseEvent, CasePhoto

__all__ = ["PLACEHOLDER_USERNAME", "RetentionReport", "cases_anonymise", "retention_due"]

# Not a valid username for any form (Django's validator refuses "~"): no person can hold it.
PLACEHOLDER_USERNAME = "~anonymised"
BATCH = 200


@dataclass
class RetentionReport:
    cutoff: datetime
    cases: int = 0
    reporters: int = 0
    comments: int = 0
    originals: int = 0
    notices: int = 0

    def add(self, other: "RetentionReport") -> None:
        for name in ("cases", "reporters", "comments", "originals", "notices"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def retention_due(*, now: datetime | None = None) -> tuple[QuerySet, datetime]:
    """Final cases whose last change is older than CASE_RETENTION_DAYS and that still hold personal data.
    A final case changes no more, so its last change is when it was closed, rejected or marked a duplicate."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CASE_RETENTION_DAYS)
    cases = Case.objects.filter(status__in=FINAL_STATUSES, anonymised_at__isnull=True, updated_at__lt=cutoff)
    return cases.order_by("updated_at", "id"), cutoff


def _count(cases: QuerySet, cutoff: datetime) -> RetentionReport:
    ids = cases.values("pk")
    notices = Notice.objects.filter(recipient_id=OuterRef("reporter_id"), dedupe_key__startswith=Concat(
        Value("case:"), Cast(OuterRef("pk"), CharField()), Value(":"), output_field=CharField()))
    per_case = notices.order_by().values("recipient_id").annotate(n=Count("pk")).values("n")
    return RetentionReport(
        cutoff=cutoff, cases=cases.count(), reporters=cases.values("reporter").distinct().count(),
        comments=CaseEvent.objects.filter(case__in=ids).exclude(comment="").count(),
        originals=CasePhoto.objects.filter(case__in=ids).exclude(image="").count(),
        notices=cases.order_by().aggregate(n=Coalesce(Sum(Subquery(per_case)), 0))["n"],
    )


def _reporter_notices(case: Case) -> QuerySet:
    # issues.services._notify keys every notice "case:<case>:<what>:<recipient>".
    return Notice.objects.filter(recipient_id=case.reporter_id, dedupe_key__startswith=f"case:{case.pk}:")


def _placeholder():
    user, created = get_user_model().objects.get_or_create(username=PLACEHOLDER_USERNAME,
                                                           defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _marker() -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _("[Removed after the retention period.]")


def cases_anonymise(*, dry_run: bool = False, now: datetime | None = None) -> RetentionReport:
    """Anonymise every case that is due (see the module's docstring), a batch per transaction; with
    `dry_run`, only count what would change. Safe to run twice at once: rows are claimed with
    SKIP LOCKED, and a case already anonymised is never due again."""
    due, cutoff = retention_due(now=now)
    if dry_run:
        return _count(due, cutoff)
    report = RetentionReport(cutoff=cutoff)
    while True:
        done = _anonymise_batch(due, cutoff)
        if not done.cases:
            return report
        report.add(done)


@transaction.atomic
def _anonymise_batch(due: QuerySet, cutoff: datetime) -> RetentionReport:
    cases = list(due.select_for_update(skip_locked=True).only("pk", "reporter_id")[:BATCH])
    if not cases:
        return RetentionReport(cutoff=cutoff)
    ids = [case.pk for case in cases]
    report = _count(Case.objects.filter(pk__in=ids), cutoff)
    placeholder, marker = _placeholder(), _marker()
    for photo in CasePhoto.objects.filter(case__in=ids).exclude(image=""):
        # Through the file field's storage, whatever it is and however the file is named.
        photo.image.delete(save=False)
        photo.image = ""
        photo.save(update_fields=["image"])
    for case in cases:
        _unlink_notices(case, placeholder)
    CaseEvent.objects.filter(case__in=ids, actor=F("case__reporter")).update(actor=placeholder)
    CaseEvent.objects.filter(case__in=ids).exclude(comment="").update(comment=marker)
    # update(): updated_at and the dates the statistics count stay as they were.
    Case.objects.filter(pk__in=ids).update(reporter=placeholder, description=marker, address="", client_key=None,
                                           anonymised_at=timezone.now())
    return report


def _unlink_notices(case: Case, placeholder) -> None:
    for notice in _reporter_notices(case):
        # The key names the recipient too ("case:<case>:<what>:<recipient>:<channel>"); the row's id keeps it unique.
        head, _recipient, channel = notice.dedupe_key.rsplit(":", 2)
        notice.recipient, notice.dedupe_key = placeholder, f"{head}:anonymised-{notice.pk}:{channel}"
        notice.save(update_fields=["recipient", "dedupe_key"])
