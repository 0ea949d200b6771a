"""The case state machine as one table: each transition names the statuses it leaves from, the status
it leads to, and the permission action it needs. issues.services applies it; the API, the admin, the
portal and the Celery sweep all go through there."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from issues.models import FINAL_STATUSES, OPEN_STATUSES, Status

__all__ = ["EVENT_LABELS", "TRANSITIONS", "Transition", "available", "event_label"]


@dataclass(frozen=True)
class Transition:
    name: str
    label: str
    sources: frozenset[str]
    target: str | None  # None keeps the status (assign, comment)
    action: str  # "handle": whoever holds the case now; "verify": the reporting side; "comment": anyone who sees it
    needs_comment: bool = False
    # Whether it changes the case itself, which the case's version counts (the optimistic lock). A comment
    # only joins the timeline: it neither checks nor bumps the version, so a reader's comment never makes a
    # handler's next step stale, and a step taken meanwhile never makes the comment fail.
    versioned: bool = True


def _t(name, label, sources, target, action="handle", needs_comment=False, versioned=True) -> Transition:
    return Transition(name, label, frozenset(sources), target, action, needs_comment, versioned)


_ACTIVE = (Status.ACCEPTED, Status.DISPATCHED, Status.IN_PROGRESS, Status.REOPENED)

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        _t("accept", _("accept"), [Status.REPORTED], Status.ACCEPTED),
        _t("dispatch", _("dispatch"), [Status.ACCEPTED, Status.RETURNED], Status.DISPATCHED),
        _t("transfer", _("transfer"), [Status.DISPATCHED, Status.IN_PROGRESS], Status.DISPATCHED, needs_comment=True),
        _t("start", _("start handling"), [Status.DISPATCHED, Status.REOPENED], Status.IN_PROGRESS),
        _t("return", _("return"), [Status.DISPATCHED, Status.IN_PROGRESS], Status.RETURNED, needs_comment=True),
        _t("escalate", _("escalate"), OPEN_STATUSES, Status.DISPATCHED, needs_comment=True),
        _t("resolve", _("resolve"), _ACTIVE, Status.RESOLVED, needs_comment=True),
        _t("verify", _("verify"), [Status.RESOLVED], Status.VERIFIED, action="verify"),
        _t("reopen", _("dispute"), [Status.RESOLVED, Status.VERIFIED], Status.REOPENED, action="verify",
           needs_comment=True),
        _t("close", _("close"), [Status.VERIFIED], Status.CLOSED),
        _t("reject", _("reject"), [Status.REPORTED, Status.ACCEPTED], Status.REJECTED, needs_comment=True),
        _t("mark_duplicate", _("mark as duplicate"), [Status.REPORTED, Status.ACCEPTED], Status.DUPLICATE),
        _t("assign", _("assign"), _ACTIVE, None),
        _t("comment", _("comment"), [s for s in Status.values if s not in FINAL_STATUSES], None, action="comment",
           needs_comment=True, versioned=False),
    )
}


# Timeline actions that are not transitions: the report itself (issues.services.case_report) and the
# overdue sweep's flag to the command centre (issues.sweep; its escalations are the "escalate" transition).
EVENT_LABELS = {"report": _("report"), "flag": _("flagged to the command centre")}


def event_label(action: str) -> str:
    """How a timeline event's action is named, in the active language: every front end asks here."""
    transition = TRANSITIONS.get(action)
    return str(transition.label if transition else EVENT_LABELS.get(action, action))


def available(status: str) -> list[Transition]:
    """Transitions the state allows (permissions aside)."""
    return [t for t in TRANSITIONS.values() if status in t.sources]
