"""issues.services.case_transition: every transition by every role, allowed and forbidden, and the
rules of routing (dispatch, return, escalate), deadlines, concurrency (versions) and the closed loop.

Every case is driven to its starting state through the services themselves."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from civic.models import Notice
from civic.workcal import add_working_time
from grid import services as grid_services
from grid.models import Department, Level
from issues import services
from issues.models import Case, CasePhoto, Category, Status
from issues.workflow import TRANSITIONS
from tests.factories import CityBuilder, UserFactory
from tests.issues.helpers import (
    act,
    drive,
    files_under,
    jpeg_upload,
    png_upload,
    point_in,
    report,
    snapshot,
    text_upload,
)
from tests.support.city import built_once, restore


@pytest.fixture(scope="module")
def _city(django_db_setup, django_db_blocker):
    with built_once(django_db_blocker, CityBuilder().build) as snapshot:
        yield snapshot


@pytest.fixture
def city(db, _city):
    """The module's one city (built once), as fresh instances for this test."""
    return restore(_city)


@pytest.fixture
def flow(city, categories):
    """The city's people under the names the matrix uses, and the category most cases are about.

    "reporter" is the citizen who reports the matrix's cases (in grid A1g1, so "worker" is its grid's
    worker); "other_citizen" is a second citizen with no relation to them.
    """
    users = dict(city.users)
    users["reporter"] = users.pop("citizen")
    users["other_citizen"] = UserFactory(username="citizen2", is_staff=False)
    return SimpleNamespace(city=city, categories=categories, category=categories["city-management"], users=users,
                           nodes=city.nodes, department=city.department)


#
# Driving a case to a state (through the services)
#


def reported(f, category=None) -> Case:
    return report(f.city, category or f.category, actor=f.users["reporter"])


def accepted(f) -> Case:
    return act(reported(f), f.users["director"], "accept")


def at_department(f) -> Case:
    return act(accepted(f), f.users["director"], "dispatch", department=f.department)


def in_progress_at_department(f) -> Case:
    return act(at_department(f), f.users["dept"], "start")


def at_street(f) -> Case:
    """Escalated by the community director: the street office has it now."""
    return act(reported(f), f.users["director"], "escalate", comment="社区无法处理")


def at_district(f) -> Case:
    return act(at_street(f), f.users["street"], "escalate", comment="街道无法处理")


def resolved(f) -> Case:
    return act(accepted(f), f.users["director"], "resolve", comment="已清理")


def verified(f) -> Case:
    return act(resolved(f), f.users["reporter"], "verify")


#
# The matrix
#

USERS = ["worker", "worker2", "director", "street", "street2", "district", "dept", "reporter", "other_citizen", "admin"]

# Handle actions: a handle_case grant covering the current handling node (a grant covers its subtree) ...
HANDLE_COMMUNITY = frozenset({"director", "street", "district", "admin"})
HANDLE_STREET = frozenset({"street", "district", "admin"})
HANDLE_DISTRICT = frozenset({"district", "admin"})
# ... or a department_staff post in the handling department (whose case sits at the district node).
HANDLE_DEPARTMENT = frozenset({"dept", "district", "admin"})
# Verify and dispute: the reporter, or verify_case covering the case's grid.
VERIFIERS = frozenset({"reporter", "worker", "director", "street", "district", "admin"})
# Comment: whoever can view the case.
VIEWERS = frozenset({"reporter", "worker", "director", "street", "district", "dept", "admin"})


@dataclass(frozen=True)
class Scenario:
    id: str
    name: str
    setup: Callable
    allowed: frozenset
    kwargs: Callable = lambda f: {}
    node: str = "A1"  # where the case is afterwards
    department: bool = False  # whether a department has it afterwards
    notify: tuple[str, frozenset] | None = None  # the template and the users told


def _comment(text="处理意见"):
    return lambda f: {"comment": text}


SCENARIOS = [
    Scenario("accept", "accept", reported, HANDLE_COMMUNITY, node="A1"),
    Scenario("dispatch-to-street", "dispatch", accepted, HANDLE_COMMUNITY, lambda f: {"level": Level.STREET_OFFICE},
             node="A", notify=("issues/case_dispatched", frozenset({"street"}))),
    Scenario("dispatch-to-department", "dispatch", accepted, HANDLE_COMMUNITY,
             lambda f: {"department": f.department}, node="district", department=True,
             notify=("issues/case_dispatched", frozenset({"dept"}))),
    Scenario("transfer@department", "transfer", at_department, HANDLE_DEPARTMENT,
             lambda f: {"level": Level.STREET_OFFICE, "comment": "不属于本部门"}, node="A",
             notify=("issues/case_dispatched", frozenset({"street"}))),
    Scenario("start@department", "start", at_department, HANDLE_DEPARTMENT, node="district", department=True),
    Scenario("start@street", "start", at_street, HANDLE_STREET, node="A"),
    Scenario("return@department", "return", in_progress_at_department, HANDLE_DEPARTMENT, _comment("不属于本部门"),
             node="A1", notify=("issues/case_returned", frozenset({"director"}))),
    Scenario("escalate@community", "escalate", accepted, HANDLE_COMMUNITY, _comment("社区无法处理"), node="A",
             notify=("issues/case_escalated", frozenset({"street"}))),
    Scenario("escalate@street", "escalate", at_street, HANDLE_STREET, _comment("街道无法处理"), node="district",
             notify=("issues/case_escalated", frozenset({"district"}))),
    Scenario("escalate@department", "escalate", in_progress_at_department, HANDLE_DEPARTMENT, _comment("需要协调"),
             node="district", notify=("issues/case_escalated", frozenset({"district"}))),
    Scenario("resolve@community", "resolve", accepted, HANDLE_COMMUNITY, _comment("已清理"), node="A1",
             notify=("issues/case_resolved", frozenset({"reporter"}))),
    Scenario("resolve@department", "resolve", in_progress_at_department, HANDLE_DEPARTMENT, _comment("已清运"),
             node="district", department=True, notify=("issues/case_resolved", frozenset({"reporter"}))),
    Scenario("resolve@district", "resolve", at_district, HANDLE_DISTRICT, _comment("已协调解决"), node="district",
             notify=("issues/case_resolved", frozenset({"reporter"}))),
    Scenario("verify", "verify", resolved, VERIFIERS, node="A1"),
    Scenario("reopen@resolved", "reopen", resolved, VERIFIERS, _comment("垃圾还在"), node="A1",
             notify=("issues/case_dispatched", frozenset({"director"}))),
    Scenario("reopen@verified", "reopen", verified, VERIFIERS, _comment("又堆起来了"), node="A1",
             notify=("issues/case_dispatched", frozenset({"director"}))),
    Scenario("close", "close", verified, HANDLE_COMMUNITY, node="A1"),
    Scenario("reject", "reject", reported, HANDLE_COMMUNITY, _comment("不属于受理范围"), node="A1"),
    Scenario("mark_duplicate", "mark_duplicate", reported, HANDLE_COMMUNITY,
             lambda f: {"duplicate_of": report(f.city, f.category)}, node="A1"),
    Scenario("assign", "assign", accepted, HANDLE_COMMUNITY, lambda f: {"assignee": f.users["street"]}, node="A1",
             notify=("issues/case_dispatched", frozenset({"street"}))),
    Scenario("assign@department", "assign", in_progress_at_department, HANDLE_DEPARTMENT,
             lambda f: {"assignee": f.users["dept"]}, node="district", department=True,
             notify=("issues/case_dispatched", frozenset({"dept"}))),
    Scenario("comment", "comment", reported, VIEWERS, _comment("请尽快处理"), node="A1"),
    Scenario("comment@department", "comment", in_progress_at_department, VIEWERS, _comment("进展如何？"),
             node="district", department=True),
]


def test_the_matrix_covers_every_transition():
    assert {scenario.name for scenario in SCENARIOS} == set(TRANSITIONS)


@pytest.mark.parametrize("user_key", USERS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_transition_matrix(flow, scenario, user_key):
    transition = TRANSITIONS[scenario.name]
    case = scenario.setup(flow)
    kwargs = scenario.kwargs(flow)
    actor = flow.users[user_key]
    before = snapshot(case)
    allowed = user_key in scenario.allowed
    notices_before = set(Notice.objects.values_list("pk", flat=True))

    # What the API, the admin and the portal offer agrees with what the service accepts.
    offered = {t.name for t in services.transitions_for(actor, Case.objects.get(pk=case.pk))}
    assert (scenario.name in offered) is allowed

    if not allowed:
        with pytest.raises(PermissionDenied):
            services.case_transition(actor=actor, case=case, name=scenario.name, version=case.version, **kwargs)
        assert snapshot(case) == before
        return

    started = timezone.now()
    result = services.case_transition(actor=actor, case=case, name=scenario.name, version=case.version, **kwargs)
    stored = Case.objects.get(pk=case.pk)
    expected_status = transition.target or case.status
    assert result.status == stored.status == expected_status
    assert stored.version == case.version + (1 if transition.versioned else 0)  # a comment changes no state
    assert stored.handling_node == flow.nodes[scenario.node]
    assert (stored.handling_department == flow.department) is scenario.department
    assert stored.events.count() == before["events"] + 1

    event = stored.events.order_by("id").last()
    assert (event.actor, event.action, event.from_status, event.to_status) == (
        actor, scenario.name, case.status, expected_status,
    )
    assert event.comment == kwargs.get("comment", "")
    assert (event.from_level, event.to_level) == (case.handling_level, stored.handling_level)
    assert started <= event.created_at <= timezone.now()

    new_notices = Notice.objects.exclude(pk__in=notices_before)
    if scenario.notify:
        template, recipients = scenario.notify
        assert {n.template for n in new_notices} == {template}
        assert {n.recipient for n in new_notices} == {flow.users[key] for key in recipients}
    else:
        assert not new_notices.exists()


#
# Refusals that change nothing
#


NOT_FROM_HERE = [
    (reported, "dispatch", {}),
    (reported, "start", {}),
    (reported, "resolve", {"comment": "已清理"}),
    (reported, "verify", {}),
    (reported, "close", {}),
    (reported, "return", {"comment": "退回"}),
    (reported, "transfer", {"comment": "转办", "level": Level.STREET_OFFICE}),
    (reported, "assign", {}),
    (accepted, "accept", {}),
    (accepted, "verify", {}),
    (accepted, "close", {}),
    (accepted, "start", {}),
    (resolved, "resolve", {"comment": "再次办结"}),
    (resolved, "escalate", {"comment": "上报"}),
    (resolved, "close", {}),
    (resolved, "reject", {"comment": "驳回"}),
    (verified, "verify", {}),
    (at_department, "dispatch", {"level": Level.COMMUNITY}),
    (at_department, "mark_duplicate", {}),
]


@pytest.mark.parametrize(
    ("setup", "name", "kwargs"), NOT_FROM_HERE, ids=[f"{setup.__name__}-{name}" for setup, name, _ in NOT_FROM_HERE]
)
def test_transition_not_allowed_from_the_current_state(flow, setup, name, kwargs):
    case = setup(flow)
    before = snapshot(case)
    for user_key in ("admin", "reporter"):  # even a superuser, even the owner
        with pytest.raises(ValidationError) as error:
            services.case_transition(actor=flow.users[user_key], case=case, name=name, version=case.version, **kwargs)
        assert "action" in error.value.message_dict
    assert snapshot(case) == before


@pytest.mark.parametrize("final", ["close", "reject", "mark_duplicate"])
def test_a_final_case_takes_nothing_more(flow, final):
    original = report(flow.city, flow.category)
    if final == "close":
        case = drive(verified(flow), flow.users["director"], "close")
    elif final == "reject":
        case = act(reported(flow), flow.users["director"], "reject", comment="不属于受理范围")
    else:
        case = act(reported(flow), flow.users["director"], "mark_duplicate", duplicate_of=original)
    before = snapshot(case)
    admin = flow.users["admin"]
    assert services.transitions_for(admin, case) == []
    for name in TRANSITIONS:
        with pytest.raises(ValidationError):
            services.case_transition(actor=admin, case=case, name=name, version=case.version, comment="还有问题",
                                     level=Level.COMMUNITY, assignee=flow.users["director"], duplicate_of=original)
    assert snapshot(case) == before


def test_unknown_action(flow):
    case = reported(flow)
    before = snapshot(case)
    with pytest.raises(ValidationError) as error:
        services.case_transition(actor=flow.users["admin"], case=case, name="delete", version=case.version)
    assert "action" in error.value.message_dict
    assert snapshot(case) == before


def test_stale_version_changes_nothing(flow):
    case = accepted(flow)
    read_by_two = case.version
    # The director resolves; the street officer, who read the same version, escalates.
    act(case, flow.users["director"], "resolve", comment="已清理")
    before = snapshot(case)
    with pytest.raises(services.StaleVersion):
        services.case_transition(actor=flow.users["street"], case=case, name="escalate", version=read_by_two,
                                 comment="社区处理太慢")
    assert snapshot(case) == before
    # A version from the future is just as stale.
    with pytest.raises(services.StaleVersion):
        services.case_transition(actor=flow.users["reporter"], case=case, name="verify", version=before["version"] + 1)
    assert snapshot(case) == before


def test_the_reporter_is_told_on_the_channels_they_chose(flow):
    """issues.services queues through civic.notices, which reads the recipient's preferences."""
    reporter = flow.users["reporter"]
    reporter.email, reporter.phone, reporter.notify_sms = "reporter@example.org", "13800000008", False
    reporter.save()
    act(accepted(flow), flow.users["director"], "resolve", comment="已清理")
    told = Notice.objects.filter(template="issues/case_resolved", recipient=reporter)
    assert sorted(told.values_list("channel", flat=True)) == ["email", "in_app"]


def test_only_a_comment_leaves_the_version_alone():
    assert {name for name, t in TRANSITIONS.items() if not t.versioned} == {"comment"}


@pytest.mark.parametrize("commenter", ["dept", "reporter", "worker", "street"])
def test_a_comment_does_not_make_a_handlers_next_step_stale(flow, commenter):
    """A department that only reads the district, the reporter, anyone who sees the case may comment on it
    while its handler works: the handler's step, taken on the version read before, goes through."""
    case = accepted(flow)
    read = case.version
    comment = services.case_transition(actor=flow.users[commenter], case=case, name="comment", comment="进展如何？")
    assert comment.version == read == Case.objects.get(pk=case.pk).version
    result = services.case_transition(actor=flow.users["director"], case=case, name="resolve", version=read,
                                      comment="已清理")
    assert result.status == Status.RESOLVED and result.version == read + 1
    assert [e.action for e in result.events.order_by("id")][-2:] == ["comment", "resolve"]


@pytest.mark.parametrize("version", [None, 1, 99])
def test_a_comment_reads_no_version(flow, version):
    """A step taken meanwhile never makes a comment fail: whatever version it carries, it is stored."""
    case = accepted(flow)
    act(case, flow.users["director"], "dispatch", department=flow.department)
    before = snapshot(case)
    services.case_transition(actor=flow.users["dept"], case=case, name="comment", version=version, comment="收到")
    after = snapshot(case)
    assert after["events"] == before["events"] + 1
    assert {k: v for k, v in after.items() if k not in ("events", "all_events")} == {
        k: v for k, v in before.items() if k not in ("events", "all_events")}


def test_a_bad_photo_on_a_transition_changes_nothing(flow, settings):
    case = accepted(flow)
    before = snapshot(case)
    with pytest.raises(ValidationError) as error:
        services.case_transition(actor=flow.users["director"], case=case, name="resolve", version=case.version,
                                 comment="已清理", photos=[png_upload(), text_upload()])
    assert "photos" in error.value.message_dict
    assert snapshot(case) == before
    assert files_under(settings.MEDIA_ROOT) == []


NEEDS_COMMENT = {
    "transfer": (at_department, "dept", {"level": Level.STREET_OFFICE}),
    "return": (in_progress_at_department, "dept", {}),
    "escalate": (accepted, "director", {}),
    "resolve": (accepted, "director", {}),
    "reopen": (resolved, "reporter", {}),
    "reject": (reported, "director", {}),
    "comment": (reported, "reporter", {}),
}


def test_the_transitions_needing_a_comment():
    assert {name for name, t in TRANSITIONS.items() if t.needs_comment} == set(NEEDS_COMMENT)


@pytest.mark.parametrize("comment", ["", "  \n "], ids=["empty", "blank"])
@pytest.mark.parametrize("name", list(NEEDS_COMMENT))
def test_transitions_needing_a_comment_refuse_none(flow, name, comment):
    setup, user_key, kwargs = NEEDS_COMMENT[name]
    case = setup(flow)
    before = snapshot(case)
    with pytest.raises(ValidationError) as error:
        services.case_transition(actor=flow.users[user_key], case=case, name=name, version=case.version,
                                 comment=comment, **kwargs)
    assert "comment" in error.value.message_dict
    assert snapshot(case) == before
    # With a reason, the same call goes through.
    services.case_transition(actor=flow.users[user_key], case=case, name=name, version=case.version,
                             comment="理由", **kwargs)
    assert Case.objects.get(pk=case.pk).events.count() == before["events"] + 1


#
# Routing and deadlines
#


def _assert_due(case: Case, started, within: timedelta) -> None:
    """The deadline is `within` of working time after the transition (computed in [started, now])."""
    case.refresh_from_db()
    assert add_working_time(started, within) <= case.due_at <= add_working_time(timezone.now(), within)


def test_accept_starts_the_resolve_deadline(flow):
    case = reported(flow)
    started = timezone.now()
    act(case, flow.users["director"], "accept")
    _assert_due(case, started, flow.category.resolve_within)


def test_dispatch_to_a_department(flow):
    case = accepted(flow)
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(hours=1))  # the old deadline
    started = timezone.now()
    case = act(case, flow.users["director"], "dispatch", department=flow.department)
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED
    assert case.handling_department == flow.department
    assert case.handling_level == Level.DISTRICT and case.handling_node == flow.nodes["district"]
    assert case.dispatched_from_level == Level.COMMUNITY
    _assert_due(case, started, flow.category.resolve_within)  # reset, not the old one
    assert case.events.last().department == flow.department


def test_dispatch_defaults_to_the_category_department(flow):
    sanitation = flow.categories["sanitation"]
    case = act(reported(flow, sanitation), flow.users["director"], "accept")
    case = act(case, flow.users["director"], "dispatch")
    assert case.handling_department == sanitation.department == flow.department
    assert case.handling_node == flow.nodes["district"]


@pytest.mark.parametrize(
    ("level", "node"),
    [(Level.COMMUNITY, "A1"), (Level.STREET_OFFICE, "A"), (Level.DISTRICT, "district")],
)
def test_dispatch_to_a_level_of_the_chain(flow, level, node):
    case = accepted(flow)
    started = timezone.now()
    case = act(case, flow.users["director"], "dispatch", level=level)
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED
    assert case.handling_level == level and case.handling_node == flow.nodes[node]
    assert case.handling_department is None and case.dispatched_from_level == Level.COMMUNITY
    _assert_due(case, started, flow.category.resolve_within)


# Grid workers report and verify but do not handle: a case is never dispatched down to a grid.
@pytest.mark.parametrize("level", [Level.CITY, Level.GRID, 0, 6])
def test_dispatch_outside_the_chain_is_refused(flow, level):
    case = accepted(flow)
    before = snapshot(case)
    with pytest.raises(ValidationError) as error:
        services.case_transition(actor=flow.users["admin"], case=case, name="dispatch", version=case.version,
                                 level=level)
    assert "level" in error.value.message_dict
    assert snapshot(case) == before


def test_return_from_a_department_goes_back_to_the_dispatching_level(flow):
    case = in_progress_at_department(flow)
    started = timezone.now()
    case = act(case, flow.users["dept"], "return", comment="不属于本部门")
    case.refresh_from_db()
    assert case.status == Status.RETURNED
    assert case.handling_department is None
    assert case.handling_level == Level.COMMUNITY and case.handling_node == flow.nodes["A1"]
    _assert_due(case, started, flow.category.accept_within)
    # The community dispatches it again.
    case = act(case, flow.users["director"], "dispatch", level=Level.STREET_OFFICE)
    assert case.status == Status.DISPATCHED and case.handling_node == flow.nodes["A"]


def test_return_goes_back_to_the_level_that_dispatched(flow):
    # Handled first at the street office, which dispatches down to the community; its director
    # starts it, then sends it back: it returns to the street office that dispatched it.
    category = Category.objects.create(
        code="street-first", name="街道受理", name_en="Street first", first_level=Level.STREET_OFFICE,
        accept_within=timedelta(hours=3), resolve_within=timedelta(hours=6),
    )
    street, director = flow.users["street"], flow.users["director"]
    case = report(flow.city, category, actor=flow.users["reporter"])
    assert case.handling_node == flow.nodes["A"]
    case = drive(case, street, "accept", ("dispatch", {"level": Level.COMMUNITY}))
    assert case.handling_node == flow.nodes["A1"]
    case = drive(case, director, "start", ("return", {"comment": "超出社区能力"}))
    assert case.status == Status.RETURNED and case.handling_node == flow.nodes["A"]
    # Back at the street office: the director can no longer act on it.
    with pytest.raises(PermissionDenied):
        act(case, director, "dispatch", level=Level.COMMUNITY)
    assert Notice.objects.filter(template="issues/case_returned", recipient=street).exists()


def test_escalate_by_hand_goes_up_one_level_at_a_time(flow):
    case = act(accepted(flow), flow.users["director"], "dispatch", level=Level.COMMUNITY)
    assert case.handling_node == flow.nodes["A1"]
    climb = [("director", "A", Level.STREET_OFFICE), ("street", "district", Level.DISTRICT)]
    for count, (user_key, node, level) in enumerate(climb, start=1):
        started = timezone.now()
        case = act(case, flow.users[user_key], "escalate", comment="无法处理")
        case.refresh_from_db()
        assert case.status == Status.DISPATCHED
        assert (case.handling_level, case.handling_node) == (level, flow.nodes[node])
        assert case.escalation_count == count
        _assert_due(case, started, flow.category.resolve_within)
        event = case.events.last()
        assert (event.action, event.from_level, event.to_level) == ("escalate", level + 1, level)
    # The district is the top of the chain.
    before = snapshot(case)
    with pytest.raises(ValidationError):
        act(case, flow.users["district"], "escalate", comment="还要上报")
    assert snapshot(case) == before


def test_escalating_a_department_case_goes_to_the_district(flow):
    case = act(in_progress_at_department(flow), flow.users["dept"], "escalate", comment="需要协调")
    case.refresh_from_db()
    assert case.handling_department is None and case.handling_node == flow.nodes["district"]
    assert case.status == Status.DISPATCHED and case.escalation_count == 1
    # The department no longer holds it.
    with pytest.raises(PermissionDenied):
        act(case, flow.users["dept"], "start")


def test_reopen_after_a_dispute_restarts_the_deadline(flow):
    case = resolved(flow)
    assert case.due_at is None and case.resolved_at is not None
    started = timezone.now()
    case = act(case, flow.users["reporter"], "reopen", comment="垃圾还在")
    case.refresh_from_db()
    assert case.status == Status.REOPENED and case.resolved_at is None
    _assert_due(case, started, flow.category.resolve_within)
    case = drive(case, flow.users["director"], "start", ("resolve", {"comment": "彻底清理"}))
    assert case.status == Status.RESOLVED


def test_mark_duplicate_needs_the_original(flow):
    case = reported(flow)
    before = snapshot(case)
    for duplicate_of in (None, case):
        with pytest.raises(ValidationError) as error:
            act(case, flow.users["director"], "mark_duplicate", duplicate_of=duplicate_of)
        assert "duplicate_of" in error.value.message_dict
        assert snapshot(case) == before
    original = report(flow.city, flow.category)
    case = act(case, flow.users["director"], "mark_duplicate", duplicate_of=original)
    case.refresh_from_db()
    assert case.status == Status.DUPLICATE and case.duplicate_of == original and case.due_at is None


@pytest.mark.parametrize("assignee", [None, "worker", "worker2", "street2", "dept", "reporter", "other_citizen"])
def test_assign_needs_someone_who_can_handle(flow, assignee):
    case = accepted(flow)
    before = snapshot(case)
    with pytest.raises(ValidationError) as error:
        act(case, flow.users["director"], "assign", assignee=flow.users.get(assignee))
    assert "assignee" in error.value.message_dict
    assert snapshot(case) == before


def test_assign_follows_the_handling_level(flow):
    case = at_street(flow)
    # The director cannot handle the street office's case, so cannot be given it either.
    with pytest.raises(ValidationError):
        act(case, flow.users["street"], "assign", assignee=flow.users["director"])
    case = act(case, flow.users["street"], "assign", assignee=flow.users["district"])
    assert Case.objects.get(pk=case.pk).assignee == flow.users["district"]


def test_what_each_role_is_offered_on_a_new_case(flow):
    case = reported(flow)
    offered = {key: [t.name for t in services.transitions_for(user, case)] for key, user in flow.users.items()}
    handler = ["accept", "escalate", "reject", "mark_duplicate", "comment"]
    assert offered == {
        "admin": handler, "district": handler, "street": handler, "director": handler,
        "street2": [], "worker": ["comment"], "worker2": [], "dept": ["comment"], "reporter": ["comment"],
        "other_citizen": [],
    }


#
# The closed loop
#


def test_the_closed_loop(flow, settings):
    """上报 → 受理 → 派遣 → 处置 → 办结 → 核查 → 结案: the grid worker reports and verifies on site."""
    users = flow.users
    sanitation = flow.categories["sanitation"]
    case = report(flow.city, sanitation, actor=users["worker"], photos=[jpeg_upload()])
    case = act(case, users["director"], "accept")
    case = act(case, users["director"], "dispatch", department=flow.department)
    case = act(case, users["dept"], "start")
    case = act(case, users["dept"], "resolve", comment="已清运", photos=[png_upload()])
    case = act(case, users["worker"], "verify", comment="现场核查已清理")
    case = act(case, users["district"], "close")

    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.version == 7
    assert case.closed_at and case.resolved_at and case.resolved_at <= case.closed_at
    timeline = list(case.events.order_by("id").values_list("action", "actor__username", "from_status", "to_status"))
    assert timeline == [
        ("report", "worker", "", Status.REPORTED),
        ("accept", "director", Status.REPORTED, Status.ACCEPTED),
        ("dispatch", "director", Status.ACCEPTED, Status.DISPATCHED),
        ("start", "dept", Status.DISPATCHED, Status.IN_PROGRESS),
        ("resolve", "dept", Status.IN_PROGRESS, Status.RESOLVED),
        ("verify", "worker", Status.RESOLVED, Status.VERIFIED),
        ("close", "district", Status.VERIFIED, Status.CLOSED),
    ]
    created = list(case.events.order_by("id").values_list("created_at", flat=True))
    assert created == sorted(created)
    assert case.events.get(action="verify").comment == "现场核查已清理"
    kinds = list(case.photos.order_by("id").values_list("kind", "event__action"))
    assert kinds == [(CasePhoto.KIND_REPORT, "report"), (CasePhoto.KIND_AFTER, "resolve")]
    # Who was told what, in order: the community on report, the department on dispatch, the reporter on resolve.
    told = list(Notice.objects.order_by("id").values_list("template", "recipient__username"))
    assert told == [
        ("issues/case_reported", "director"),
        ("issues/case_dispatched", "dept"),
        ("issues/case_resolved", "worker"),
    ]
    assert services.transitions_for(users["admin"], case) == []


def test_a_department_of_another_district_is_refused(flow):
    admin = flow.users["admin"]
    other = grid_services.node_create(actor=admin, parent=flow.nodes["city"], level=Level.DISTRICT, code="150199",
                                      name="别区")
    foreign = Department.objects.create(node=other, code="foreign-sanitation", name="别区环卫")
    case = accepted(flow)
    before = snapshot(case)
    with pytest.raises(ValidationError) as error:
        act(case, flow.users["director"], "dispatch", department=foreign)
    assert "department" in error.value.message_dict
    assert snapshot(case) == before


def test_an_inactive_department_member_cannot_handle(flow):
    case = at_department(flow)
    dept = flow.users["dept"]
    assert services.can_handle(dept, case)
    dept.is_active = False
    assert not services.can_handle(dept, case)


def test_handling_on_the_spot_bumps_the_version_and_tells_the_community(flow):
    lat, lon = point_in(flow.nodes["A1g1"])
    case = services.case_report(
        actor=flow.users["worker"], category=flow.category, description="路边垃圾", lat=lat, lon=lon,
        resolve_on_spot=True, resolution="已清理", after_photos=[jpeg_upload()],
    )
    assert case.status == Status.RESOLVED and case.version == 2
    told = Notice.objects.filter(template="issues/case_resolved", channel="in_app")
    assert set(told.values_list("recipient__username", flat=True)) == {"director"}


def test_someone_who_cannot_see_the_case_learns_nothing_of_its_state(flow):
    case = verified(flow)
    with pytest.raises(PermissionDenied):  # not a ValidationError naming the status
        act(case, flow.users["street2"], "accept")
