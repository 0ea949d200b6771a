"""The overdue sweep: every open case past its level's deadline goes one level up (a department's
case goes to its district command centre); a case already at the district is flagged to the command
centre once. The handlers of the new level are told.

Set-based: a fixed number of statements whatever the number of overdue cases —

    1. claim:   UPDATE cases SET sweep_token = T WHERE open AND due_at < now AND not flagged
    2. events:  INSERT INTO events ... SELECT ... FROM cases WHERE sweep_token = T      (x2: escalate, flag)
    3. move:    UPDATE cases SET level - 1, due_at = new deadline ... WHERE token = T AND below the top
    4. flag:    UPDATE cases SET flagged_at = now WHERE token = T AND at the district
       node:    UPDATE cases SET handling node = the grid's ancestor at the level WHERE token = T
    5. notices: INSERT INTO notices ... SELECT ... JOIN posts ... ON CONFLICT DO NOTHING  (x2)

Safe to run twice at once: on PostgreSQL the claim's UPDATE row-locks each case; a second sweep
waiting on that lock re-checks its WHERE once the first commits, sees the new deadline and skips
the row. The timeline's unique (case, expired deadline) backs that up: a deadline escalates once.

New deadlines count working time, which needs the calendar; they depend only on the category (all
cases move "now"), so they are computed per category in Python and passed in as a CASE expression.
Notice texts are rendered once per template and language with placeholders the INSERT fills in.
"""

import uuid
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case as SqlCase
from django.db.models import F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Substr
from django.utils import timezone

from civic.models import Notice
from civic.notices import notice_render
from civic.workcal import add_working_time
from grid.models import GridNode, Level, Post, Role
from issues.models import OPEN_STATUSES, Case, CaseEvent, Category, Status

__all__ = ["escalate_overdue"]

_TOP = Level.DISTRICT
_PLACEHOLDERS = ("reference", "category", "grid", "level")


def _mark(name: str) -> str:
    return f"\u27e6{name}\u27e7"  # ⟦name⟧: cannot occur in a rendered template by accident


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


@transaction.atomic
def escalate_overdue(now: datetime | None = None) -> dict[str, int]:
    """Escalate or flag every overdue case; returns how many of each."""
    now = now or timezone.now()
    token = uuid.uuid4()
    overdue = Case.objects.filter(status__in=OPEN_STATUSES, due_at__lt=now, flagged_at__isnull=True)
    if not overdue.update(sweep_token=token):
        return {"escalated": 0, "flagged": 0}
    claimed = Case.objects.filter(sweep_token=token)
    moving = Q(handling_department__isnull=False) | Q(handling_level__gt=_TOP)
    _insert_events(token, now)
    escalated = claimed.filter(moving).update(
        handling_level=_new_level(),
        handling_department=None,
        status=Status.DISPATCHED,
        due_at=_new_deadlines(now),
        escalation_count=F("escalation_count") + 1,
        version=F("version") + 1,
        updated_at=now,
    )
    flagged = claimed.filter(~moving).update(flagged_at=now, version=F("version") + 1, updated_at=now)
    # The node of the (new) level is the grid's ancestor at that depth: a prefix of the grid's path.
    claimed.update(handling_node_id=Subquery(
        GridNode.objects.filter(path=Substr(OuterRef("grid_path"), 1, OuterRef("handling_level") * GridNode.steplen))
        .values("id")[:1]
    ))
    _insert_notices(token, now, escalated=True)
    _insert_notices(token, now, escalated=False)
    _deliver_after_commit(now)
    return {"escalated": escalated, "flagged": flagged}


def _new_level():
    return SqlCase(When(handling_department__isnull=False, then=Value(_TOP)), default=F("handling_level") - 1)


def _new_deadlines(now: datetime):
    within = dict(Category.objects.values_list("pk", "resolve_within"))
    # Categories sharing a duration share a deadline: one calendar walk each.
    deadlines = {duration: add_working_time(now, duration) for duration in set(within.values())}
    return SqlCase(*[When(category_id=pk, then=Value(deadlines[d])) for pk, d in within.items()], default=None)


def _insert_events(token: uuid.UUID, now: datetime) -> None:
    cases, events = _q(Case._meta.db_table), _q(CaseEvent._meta.db_table)
    moving = f"(handling_department_id IS NOT NULL OR handling_level > {int(_TOP)})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {events} (case_id, action, from_status, to_status, from_level, to_level, department_id,"
            " comment, expired_deadline, created_at)"
            f" SELECT id, 'escalate', status, %s, handling_level,"
            f" CASE WHEN handling_department_id IS NOT NULL THEN {int(_TOP)} ELSE handling_level - 1 END,"
            f" NULL, '', due_at, %s FROM {cases} WHERE sweep_token = %s AND {moving}",
            [Status.DISPATCHED, now, token.hex if connection.vendor == "sqlite" else token],
        )
        cursor.execute(
            f"INSERT INTO {events} (case_id, action, from_status, to_status, from_level, to_level, department_id,"
            " comment, expired_deadline, created_at)"
            f" SELECT id, 'flag', status, status, handling_level, handling_level, handling_department_id,"
            f" '', due_at, %s FROM {cases} WHERE sweep_token = %s AND NOT {moving}",
            [now, token.hex if connection.vendor == "sqlite" else token],
        )


def _texts(template: str) -> dict[str, tuple[str, str]]:
    """Subject and body per language, with placeholders where the case's own values go."""
    context = {name: _mark(name) for name in _PLACEHOLDERS}
    return {code: notice_render(template=template, context=context, language=code) for code, _ in settings.LANGUAGES}


def _fill(text: str, language: str) -> str:
    """SQL that replaces the placeholders of `text` with the case's values, in `language`."""
    names = {
        "reference": "c.reference",
        "category": "cat.name" if language.startswith("zh") else "cat.name_en",
        "grid": "g.name",
        "level": _level_label_sql(language),
    }
    sql = "%s"
    params = [text]
    for name in _PLACEHOLDERS:
        sql = f"REPLACE({sql}, %s, {names[name]})"
        params.append(_mark(name))
    return sql, params


def _level_label_sql(language: str) -> str:
    from django.utils import translation

    with translation.override(language):
        labels = {level.value: str(level.label).replace("'", "''") for level in Level}
    whens = " ".join(f"WHEN {value} THEN '{label}'" for value, label in labels.items())
    return f"(CASE c.handling_level {whens} END)"


def _per_language(texts: dict[str, tuple[str, str]], part: int) -> tuple[str, list]:
    whens, params = [], []
    for code, rendered in texts.items():
        sql, sql_params = _fill(rendered[part], code)
        whens.append(f"WHEN %s THEN {sql}")
        params += [code, *sql_params]
    default_sql, default_params = _fill(texts[settings.LANGUAGE_CODE][part], settings.LANGUAGE_CODE)
    return f"(CASE u.language {' '.join(whens)} ELSE {default_sql} END)", params + default_params


def _insert_notices(token: uuid.UUID, now: datetime, *, escalated: bool) -> None:
    template = "issues/case_escalated" if escalated else "issues/case_overdue_flagged"
    texts = _texts(template)
    subject_sql, subject_params = _per_language(texts, 0)
    body_sql, body_params = _per_language(texts, 1)
    user_table = _q(Notice._meta.get_field("recipient").related_model._meta.db_table)
    which = "c.flagged_at IS NULL" if escalated else "c.flagged_at = %s"
    which_params = [] if escalated else [now]
    key = "'case:' || c.id || ':" + ("escalated" if escalated else "flagged") + ":' || c.version"
    channels = " UNION ALL ".join(f"SELECT '{c}' AS channel" for c in Notice.Channel.values)
    context = "'{\"reference\": \"' || c.reference || '\"}'"
    if connection.vendor == "postgresql":
        context = f"CAST({context} AS jsonb)"
    sql = (
        f"INSERT INTO {_q(Notice._meta.db_table)} (recipient_id, channel, template, context, subject, body, status,"
        " attempts, last_error, dedupe_key, created_at, sent_at)"
        f" SELECT u.id, ch.channel, %s, {context}, {subject_sql}, {body_sql},"
        f" CASE WHEN ch.channel = 'in_app' THEN 'sent' ELSE 'pending' END, 0, '',"
        f" {key} || ':' || u.id || ':' || ch.channel, %s,"
        " CASE WHEN ch.channel = 'in_app' THEN %s ELSE NULL END"
        f" FROM {_q(Case._meta.db_table)} c"
        f" JOIN {_q(Category._meta.db_table)} cat ON cat.id = c.category_id"
        f" JOIN {_q(GridNode._meta.db_table)} g ON g.id = c.grid_id"
        f" JOIN {_q(Post._meta.db_table)} p ON p.node_id = c.handling_node_id AND p.role <> %s"
        f" JOIN {user_table} u ON u.id = p.user_id AND u.is_active"
        f" CROSS JOIN ({channels}) ch"
        f" WHERE c.sweep_token = %s AND {which}"
        " AND (ch.channel = 'in_app' OR (ch.channel = 'email' AND u.email <> '')"
        " OR (ch.channel = 'sms' AND u.phone IS NOT NULL))"
        " ON CONFLICT (dedupe_key) DO NOTHING"
    )
    params = [template, *subject_params, *body_params, now, now, Role.DEPARTMENT_STAFF,
              token.hex if connection.vendor == "sqlite" else token, *which_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _deliver_after_commit(now: datetime) -> None:
    from civic.tasks import deliver_notice

    def enqueue():
        # The rows this sweep inserted carry its timestamp; delivery is at most once, whoever enqueues.
        templates = ("issues/case_escalated", "issues/case_overdue_flagged")
        pending = Notice.objects.filter(status=Notice.Status.PENDING, created_at=now, template__in=templates)
        for notice_id in pending.values_list("pk", flat=True):
            deliver_notice.delay(notice_id)

    # robust: a broker that is down leaves the rows pending for civic's retry sweep.
    transaction.on_commit(enqueue, robust=True)
