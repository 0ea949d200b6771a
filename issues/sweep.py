"""The overdue sweep: every open case past its level's deadline goes one level up (a department's
case goes to its district command centre); a case already at the district is flagged to the command
centre once. The handlers of the new level are told.

Set-based: a fixed number of statements whatever the number of overdue cases —

    1. events:  INSERT INTO events SELECT ... FROM cases WHERE overdue [FOR UPDATE]
    2. move:    UPDATE cases SET level - 1, node = the grid's ancestor, new deadline ... WHERE overdue
                AND below the top AND this sweep wrote its event
    3. flag:    UPDATE cases SET flagged_at = now WHERE overdue AND at the top AND ditto
    4. notices: INSERT INTO notices SELECT ... JOIN posts (or the reporter) ... ON CONFLICT DO NOTHING
                RETURNING the new e-mail/SMS ones  (x3: the new level's staff, the reporters, flags)
    5. webhooks, only when a partner's webhook listens (issues.events.publish_sweep): one SELECT of
       the cases moved or flagged, one INSERT per thousand deliveries
    6. after commit, one broker message per NOTICE_BATCH of notices, never one per notice

Safe to run twice at once: on PostgreSQL step 1 row-locks each overdue case; a second sweep
waiting on those locks re-checks its WHERE once the first commits, sees the new deadline and skips
the row. The timeline's unique (case, expired deadline) backs that up: a deadline escalates once.

New deadlines count working time, which needs the calendar; they depend only on the category (all
cases move "now"), so they are computed per category in Python and passed in as a CASE expression.
Notice texts are rendered once per template and language with placeholders the INSERT fills in.
"""

from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from civic.models import Notice
from civic.notices import channels_sql, deliver_after_commit, notice_render
from civic.workcal import add_working_time
from grid.models import GridNode, Level, Post, Role
from issues.events import publish_sweep
from issues.models import OPEN_STATUSES, Case, CaseEvent, Category, Status

__all__ = ["escalate_overdue"]

_TOP = Level.DISTRICT
_PLACEHOLDERS = ("reference", "category", "grid", "level")


def _mark(name: str) -> str:
    return f"\u27e6{name}\u27e7"  # ⟦name⟧: cannot occur in a rendered template by accident


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _db(value: datetime):
    """A datetime parameter of raw SQL, stored as the ORM stores it. On SQLite the driver would write
    an aware datetime as local text with an offset, which neither compares with the ORM's naive-UTC
    text nor matches its lookups."""
    return connection.ops.adapt_datetimefield_value(value)


@transaction.atomic
def escalate_overdue(now: datetime | None = None) -> dict[str, int]:
    """Escalate or flag every overdue case; returns how many of each."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        events = _insert_events(cursor, now)
        if not events:
            return {"escalated": 0, "flagged": 0}
        escalated = _move(cursor, now)
        flagged = _flag(cursor, now)
    pending = (_insert_notices(now, escalated=True) + _insert_notices(now, escalated=True, to_reporters=True)
               + _insert_notices(now, escalated=False))
    deliver_after_commit(pending)
    publish_sweep(now)
    return {"escalated": escalated, "flagged": flagged}


def _overdue_sql(alias: str = "") -> tuple[str, list]:
    """The overdue condition, shared by every statement so that they all see the same rows."""
    a = f"{alias}." if alias else ""
    marks = ", ".join(["%s"] * len(OPEN_STATUSES))
    return f"{a}status IN ({marks}) AND {a}due_at < %s AND {a}flagged_at IS NULL", [*OPEN_STATUSES]


def _moving_sql(alias: str = "") -> str:
    a = f"{alias}." if alias else ""
    return f"({a}handling_department_id IS NOT NULL OR {a}handling_level > {int(_TOP)})"


def _new_level_sql(table: str) -> str:
    return (f"(CASE WHEN {table}.handling_department_id IS NOT NULL THEN {int(_TOP)}"
            f" ELSE {table}.handling_level - 1 END)")


def _insert_events(cursor, now: datetime) -> int:
    """The timeline rows, written first: on PostgreSQL their SELECT ... FOR UPDATE is the claim.

    A second sweep blocked on those row locks re-checks its WHERE once this one commits, finds the
    new deadline, and leaves the rows alone.
    """
    events = _q(CaseEvent._meta.db_table)
    overdue, params = _overdue_sql()
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    cursor.execute(
        f"INSERT INTO {events} (case_id, action, from_status, to_status, from_level, to_level, department_id,"
        " comment, expired_deadline, created_at)"
        f" SELECT id, CASE WHEN {_moving_sql()} THEN 'escalate' ELSE 'flag' END, status,"
        f" CASE WHEN {_moving_sql()} THEN %s ELSE status END, handling_level,"
        f" CASE WHEN {_moving_sql()} THEN {_new_level_sql(_q(Case._meta.db_table))} ELSE handling_level END,"
        f" CASE WHEN {_moving_sql()} THEN NULL ELSE handling_department_id END, '', due_at, %s"
        f" FROM {_q(Case._meta.db_table)} WHERE {overdue}{lock}",
        [Status.DISPATCHED, _db(now), *params, _db(now)],
    )
    return cursor.rowcount


def _ours(table: str) -> str:
    """Only rows this sweep wrote a timeline event for (a row that fell due meanwhile waits for the next)."""
    return (f"EXISTS (SELECT 1 FROM {_q(CaseEvent._meta.db_table)} e WHERE e.case_id = {table}.id"
            f" AND e.expired_deadline = {table}.due_at AND e.created_at = %s)")


def _move(cursor, now: datetime) -> int:
    table = _q(Case._meta.db_table)
    overdue, params = _overdue_sql()
    deadlines, deadline_params = _new_deadlines_sql(now)
    cursor.execute(
        f"UPDATE {table} SET handling_level = {_new_level_sql(table)},"
        # The node of the new level is the grid's ancestor at that depth: a prefix of the grid's path.
        f" handling_node_id = (SELECT n.id FROM {_q(GridNode._meta.db_table)} n WHERE n.path ="
        f" SUBSTR({table}.grid_path, 1, {GridNode.steplen} * {_new_level_sql(table)})),"
        f" handling_department_id = NULL, status = %s, due_at = {deadlines},"
        " escalation_count = escalation_count + 1, version = version + 1, updated_at = %s"
        f" WHERE {overdue} AND {_moving_sql()} AND {_ours(table)}",
        [Status.DISPATCHED, *deadline_params, _db(now), *params, _db(now), _db(now)],
    )
    return cursor.rowcount


def _flag(cursor, now: datetime) -> int:
    table = _q(Case._meta.db_table)
    overdue, params = _overdue_sql()
    cursor.execute(
        f"UPDATE {table} SET flagged_at = %s, version = version + 1, updated_at = %s"
        f" WHERE {overdue} AND NOT {_moving_sql()} AND {_ours(table)}",
        [_db(now), _db(now), *params, _db(now), _db(now)],
    )
    return cursor.rowcount


def _new_deadlines_sql(now: datetime) -> tuple[str, list]:
    within = dict(Category.objects.values_list("pk", "resolve_within"))
    # Categories sharing a duration share a deadline: one calendar walk each.
    deadlines = {duration: add_working_time(now, duration) for duration in set(within.values())}
    whens = " ".join("WHEN %s THEN %s" for _ in within)
    params = [value for pk, duration in within.items() for value in (pk, _db(deadlines[duration]))]
    return f"(CASE category_id {whens} END)", params


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


def _insert_notices(now: datetime, *, escalated: bool, to_reporters: bool = False) -> list[int]:
    """The notices of this sweep's cases, set-based, to the staff of the level now holding each case (or
    to its reporter, who hears that it went up); returns the ids of the e-mail and SMS ones to send."""
    template = "issues/case_escalated" if escalated else "issues/case_overdue_flagged"
    texts = _texts(template)
    subject_sql, subject_params = _per_language(texts, 0)
    body_sql, body_params = _per_language(texts, 1)
    user_table = _q(Notice._meta.get_field("recipient").related_model._meta.db_table)
    # The cases this sweep moved (or flagged) are those with one of its timeline events.
    action = "escalate" if escalated else "flag"
    key = "'case:' || c.id || ':" + ("escalated" if escalated else "flagged") + ":' || c.version"
    channels = " UNION ALL ".join(f"SELECT '{c}' AS channel" for c in Notice.Channel.values)
    if to_reporters:
        recipients, recipient_params = f" JOIN {user_table} u ON u.id = c.reporter_id AND u.is_active", []
    else:
        recipients = (f" JOIN {_q(Post._meta.db_table)} p ON p.node_id = c.handling_node_id AND p.role <> %s"
                      f" JOIN {user_table} u ON u.id = p.user_id AND u.is_active")
        recipient_params = [Role.DEPARTMENT_STAFF]
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
        f"{recipients}"
        f" CROSS JOIN ({channels}) ch"
        f" JOIN {_q(CaseEvent._meta.db_table)} e ON e.case_id = c.id AND e.created_at = %s AND e.action = %s"
        # Only the channels each recipient wants and has an address for: civic.notices' one rule.
        f" WHERE {channels_sql('u', 'ch.channel')}"
        " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, status"
    )
    params = [template, *subject_params, *body_params, _db(now), _db(now), *recipient_params, _db(now), action]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [pk for pk, status in cursor.fetchall() if status == Notice.Status.PENDING]
