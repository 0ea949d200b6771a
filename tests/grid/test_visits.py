"""Patrol visits (入户走访): the model's one-target rule, visit_record's grants and validation, the
patrol list's order, scope and query budget, the visit history, the admin and the API.

The city is tests/grid/conftest.py's: `worker` walks A1g1, `director` community A1 (A1g1, A1g2),
`street` (street office A) sees A's registry but does not patrol; every grid of RECORD_GRIDS holds a
household and a place.
"""

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import get_perms

from civic.errors import AlreadyDone
from grid import services
from grid.models import Household, Place, PlaceKind, Role, Visit, VisitOutcome
from grid.roles import ROLE_PERMISSIONS
from grid.selectors import patrol_list, visit_list
from tests.factories import UserFactory
from tests.grid.conftest import RECORD_GRIDS
from tests.grid.utils import API, admin_client, admin_url, api_client, assert_error_shape, result_ids

# Grids (of RECORD_GRIDS) whose records and visits each role sees.
SEEN = {
    "admin": set(RECORD_GRIDS),
    "district": {"A1g1", "A1g2", "A2g1", "B1g1", "B1g2"},
    "dept": {"A1g1", "A1g2", "A2g1", "B1g1", "B1g2"},
    "street": {"A1g1", "A1g2", "A2g1"},
    "street2": {"B1g1", "B1g2"},
    "director": {"A1g1", "A1g2"},
    "worker": {"A1g1"},
    "worker2": {"B1g1"},
    "citizen": set(),
}


def _ago(**delta):
    return timezone.now() - timedelta(**delta)


def _visit(city, key: str, *, kind: str = "household", actor=None, outcome=VisitOutcome.ALL_WELL, **fields):
    target = (city.households if kind == "household" else city.places)[key]
    return services.visit_record(actor=actor or city.admin, outcome=outcome, **{kind: target}, **fields)


@pytest.fixture
def visits(city):
    """One household visit in every grid of RECORD_GRIDS, by key."""
    return {key: _visit(city, key, visited_at=_ago(days=1)) for key in RECORD_GRIDS}


#
# The model
#


@pytest.mark.parametrize("targets", ["both", "neither"])
def test_the_database_refuses_a_visit_without_exactly_one_target(city, targets):
    household, place = city.households["A1g1"], city.places["A1g1"]
    fields = {"both": {"household": household, "place": place}, "neither": {}}[targets]
    with pytest.raises(IntegrityError), transaction.atomic():
        Visit.objects.create(grid=household.grid, visitor=city.admin, outcome=VisitOutcome.ALL_WELL, **fields)


def test_a_visit_is_in_the_grid_of_what_was_visited(city):
    visit = Visit(grid=city.nodes["A1g2"], household=city.households["A1g1"], visitor=city.admin,
                  outcome=VisitOutcome.ALL_WELL)
    with pytest.raises(ValidationError) as error:
        visit.full_clean()
    assert "grid" in error.value.message_dict


def test_visits_go_with_their_household(city):
    household = city.households["A1g1"]
    _visit(city, "A1g1")
    services.record_delete(actor=city.admin, instance=household)
    assert not Visit.objects.filter(household_id=household.pk).exists()


def test_visits_follow_their_grid_when_it_moves(city):
    visit = _visit(city, "A2g1")
    services.node_move(actor=city.admin, node=city.nodes["A2"], parent=city.nodes["B"])
    visit.refresh_from_db()
    city.nodes["A2g1"].refresh_from_db()
    assert visit.grid_path == city.nodes["A2g1"].path
    assert list(visit_list(user=city.users["street2"])) == [visit]
    assert not visit_list(user=city.users["street"]).exists()


#
# Grants
#


def test_patrolling_roles_hold_record_visit():
    holders = {role for role, codenames in ROLE_PERMISSIONS.items() if "record_visit" in codenames}
    assert holders == {Role.GRID_WORKER, Role.COMMUNITY_DIRECTOR}


def test_a_new_post_grants_record_visit_at_its_node(city):
    newcomer = UserFactory(username="newcomer")
    services.post_create(actor=city.admin, user=newcomer, role=Role.GRID_WORKER, node=city.nodes["A2g1"])
    assert "record_visit" in get_perms(newcomer, city.nodes["A2g1"])
    services.post_create(actor=city.admin, user=newcomer, role=Role.STREET_OFFICER, node=city.nodes["B"])
    assert "record_visit" not in get_perms(newcomer, city.nodes["B"])


#
# visit_record
#


@pytest.mark.parametrize(
    ("role", "key", "allowed"),
    [
        ("worker", "A1g1", True),
        ("worker", "A1g2", False),  # a sibling grid
        ("worker", "B1g1", False),
        ("worker2", "B1g1", True),
        ("director", "A1g2", True),  # the community's subtree
        ("director", "A2g1", False),
        ("street", "A1g1", False),  # sees the registry, does not patrol
        ("dept", "A1g1", False),
        ("citizen", "A1g1", False),
        ("admin", "C1g1", True),
    ],
)
@pytest.mark.parametrize("kind", ["household", "place"])
def test_visit_record_needs_record_visit_on_the_grid(city, role, key, allowed, kind):
    actor = city.users[role]
    if not allowed:
        with pytest.raises(PermissionDenied):
            _visit(city, key, kind=kind, actor=actor)
        assert not Visit.objects.exists()
        return
    visit = _visit(city, key, kind=kind, actor=actor, outcome=VisitOutcome.PROBLEM_FOUND, note="楼道堆放杂物")
    visit.refresh_from_db()
    target = (city.households if kind == "household" else city.places)[key]
    assert (visit.target, visit.grid, visit.grid_path) == (target, city.nodes[key], city.nodes[key].path)
    assert (visit.visitor, visit.outcome, visit.note) == (actor, VisitOutcome.PROBLEM_FOUND, "楼道堆放杂物")
    assert abs(visit.visited_at - timezone.now()) < timedelta(minutes=1)


def test_visit_record_uses_where_the_record_is_now_not_the_callers_copy(city):
    stale = Household.objects.get(pk=city.households["A1g1"].pk)
    moved = Household.objects.get(pk=stale.pk)
    moved.grid = city.nodes["A1g2"]
    services.record_save(actor=city.admin, instance=moved)
    with pytest.raises(PermissionDenied):
        services.visit_record(actor=city.users["worker"], household=stale, outcome=VisitOutcome.ALL_WELL)
    visit = services.visit_record(actor=city.users["director"], household=stale, outcome=VisitOutcome.ALL_WELL)
    assert (visit.grid, visit.grid_path) == (city.nodes["A1g2"], city.nodes["A1g2"].path)


@pytest.mark.parametrize(
    ("arguments", "keys"),
    [
        (lambda city: {"household": city.households["A1g1"], "place": city.places["A1g1"]}, {"household", "place"}),
        (lambda city: {}, {"household", "place"}),
        (lambda city: {"household": city.households["A1g1"], "visited_at": timezone.now() + timedelta(hours=1)},
         {"visited_at"}),
        (lambda city: {"household": city.households["A1g1"], "note": "记" * 501}, {"note"}),
        (lambda city: {"household": city.households["A1g1"], "outcome": "fine"}, {"outcome"}),
    ],
    ids=["both", "neither", "future", "long-note", "unknown-outcome"],
)
def test_visit_record_refuses_bad_input_with_field_errors(city, arguments, keys):
    with pytest.raises(ValidationError) as error:
        services.visit_record(actor=city.users["worker"], **{"outcome": VisitOutcome.ALL_WELL, **arguments(city)})
    assert set(error.value.message_dict) == keys
    assert not Visit.objects.exists()


def test_a_phone_clock_slightly_ahead_is_tolerated(city):
    ahead = timezone.now() + timedelta(minutes=2)
    visit = _visit(city, "A1g1", actor=city.users["worker"], visited_at=ahead)
    assert visit.visited_at == ahead


#
# The patrol list
#


def _household(city, key: str, address: str, head_name: str = "") -> Household:
    return services.household_save(
        actor=city.admin, household=Household(grid=city.nodes[key], address=address, head_name=head_name)
    )


def test_patrol_list_puts_the_never_visited_first_then_the_oldest_visit(city):
    worker = city.users["worker"]
    household, place = city.households["A1g1"], city.places["A1g1"]
    recent, twice, never = (_household(city, "A1g1", address) for address in ("近访", "两访", "未访"))
    services.visit_record(actor=worker, place=place, outcome=VisitOutcome.PROBLEM_FOUND, visited_at=_ago(days=20))
    services.visit_record(actor=worker, household=recent, outcome=VisitOutcome.ALL_WELL, visited_at=_ago(days=10))
    # Recorded newest first: the last visit is the latest in time, not the latest recorded.
    services.visit_record(actor=worker, household=twice, outcome=VisitOutcome.NOBODY_HOME, visited_at=_ago(days=3))
    services.visit_record(actor=worker, household=twice, outcome=VisitOutcome.ALL_WELL, visited_at=_ago(days=30))

    items = patrol_list(user=worker)

    assert [(item.kind, item.id) for item in items] == [
        ("household", household.pk), ("household", never.pk), ("place", place.pk), ("household", recent.pk),
        ("household", twice.pk),
    ]
    assert [item.visit_count for item in items] == [0, 0, 1, 1, 2]
    assert [item.last_outcome for item in items] == [
        None, None, VisitOutcome.PROBLEM_FOUND, VisitOutcome.ALL_WELL, VisitOutcome.NOBODY_HOME,
    ]
    assert items[0].last_visited_at is None
    assert items[4].last_visited_at == Visit.objects.filter(household=twice).latest("visited_at").visited_at
    assert str(items[4].last_outcome_label) == str(VisitOutcome.NOBODY_HOME.label)
    assert items[0].last_outcome_label == ""
    assert [item.name for item in items] == [
        f"{household.address} · {household.head_name}", "未访", place.name, "近访", "两访",
    ]
    assert {(item.grid_id, item.grid_name) for item in items} == {(city.nodes["A1g1"].pk, city.nodes["A1g1"].name)}


def test_patrol_list_keeps_the_order_when_cut(city):
    worker = city.users["worker"]
    for i in range(6):
        household = _household(city, "A1g1", f"楼{i}")
        if i % 2:
            services.visit_record(actor=worker, household=household, outcome=VisitOutcome.ALL_WELL,
                                  visited_at=_ago(days=i))
    whole = patrol_list(user=worker)
    assert len(whole) == 8  # the fixture's household and place, and six more households
    assert patrol_list(user=worker, limit=3) == whole[:3]
    assert patrol_list(user=worker, limit=6) == whole[:6]


@pytest.mark.parametrize("role", list(SEEN))
def test_patrol_list_holds_only_records_of_the_users_grids(city, visits, role):
    items = patrol_list(user=city.users[role])
    expected = {("household", city.households[key].pk) for key in SEEN[role]}
    expected |= {("place", city.places[key].pk) for key in SEEN[role]}
    assert {(item.kind, item.id) for item in items} == expected
    assert {item.grid_id for item in items} == {city.nodes[key].pk for key in SEEN[role]}


@pytest.mark.parametrize(
    ("role", "grid", "expected"),
    [
        ("director", "A1g2", {"A1g2"}),
        ("director", "A1", {"A1g1", "A1g2"}),
        ("director", "A2g1", set()),  # a grid the director cannot see: nothing, not its records
        ("worker", "B1g1", set()),
        ("admin", "B1g2", {"B1g2"}),
    ],
)
def test_patrol_list_narrowed_to_a_grid_stays_within_the_scope(city, role, grid, expected):
    items = patrol_list(user=city.users[role], grid=city.nodes[grid])
    assert {item.grid_id for item in items} == {city.nodes[key].pk for key in expected}


@pytest.fixture
def crowded_grid(city):
    """A1g1 with 40 more households and 5 more places, most visited once or twice."""
    for i in range(40):
        household = _household(city, "A1g1", f"加{i}", head_name=f"户主{i}")
        for days in range(i % 3):
            services.visit_record(actor=city.admin, household=household, outcome=VisitOutcome.ALL_WELL,
                                  visited_at=_ago(days=days + i))
    for i in range(5):
        place = services.record_save(
            actor=city.admin, instance=Place(grid=city.nodes["A1g1"], kind=PlaceKind.BUSINESS, name=f"店{i}")
        )
        services.visit_record(actor=city.admin, place=place, outcome=VisitOutcome.ALL_WELL, visited_at=_ago(days=i))
    return city


@pytest.mark.parametrize("role", ["worker", "director", "admin"])
def test_patrol_list_queries_do_not_grow_with_the_list(crowded_grid, django_assert_max_num_queries, role):
    user = crowded_grid.users[role]
    # The grant lookup, then one query for households and one for places.
    with django_assert_max_num_queries(3):
        items = patrol_list(user=user)
        shown = [(item.name, item.grid_name, item.last_outcome, item.visit_count) for item in items]
    # A1g1 holds 47 records, A1g2 two more; the admin's scope holds more than a list's 50.
    assert len(shown) == {"worker": 47, "director": 49, "admin": 50}[role]


#
# History
#


@pytest.mark.parametrize("role", list(SEEN))
def test_visit_list_is_scoped(city, visits, role):
    assert set(visit_list(user=city.users[role])) == {visits[key] for key in SEEN[role]}


def test_visit_list_is_newest_first(city):
    old = _visit(city, "A1g1", visited_at=_ago(days=9))
    new = _visit(city, "A1g1", kind="place", visited_at=_ago(days=1))
    middle = _visit(city, "A1g1", visited_at=_ago(days=4))
    assert list(visit_list(user=city.users["worker"])) == [new, middle, old]


#
# Admin
#


@pytest.mark.parametrize("role", [role for role in SEEN if role != "citizen"])
def test_admin_changelist_shows_only_visits_in_scope(city, visits, role):
    response = admin_client(city.users[role]).get(admin_url("visit", "changelist"))
    assert response.status_code == 200
    assert {visit.pk for visit in response.context["cl"].result_list} == {visits[key].pk for key in SEEN[role]}


def test_admin_changelist_filters_by_outcome_and_date(city, visits):
    problem = _visit(city, "A1g2", outcome=VisitOutcome.PROBLEM_FOUND, visited_at=_ago(days=40))
    client = admin_client(city.users["director"])
    response = client.get(admin_url("visit", "changelist"), {"outcome__exact": VisitOutcome.PROBLEM_FOUND})
    assert [visit.pk for visit in response.context["cl"].result_list] == [problem.pk]
    response = client.get(admin_url("visit", "changelist"), {"visited_at__gte": _ago(days=7).isoformat()})
    assert {visit.pk for visit in response.context["cl"].result_list} == {visits["A1g1"].pk, visits["A1g2"].pk}


def test_admin_shows_a_visit_read_only_and_hides_others(city, visits):
    client = admin_client(city.users["worker"])
    response = client.get(admin_url("visit", "change", visits["A1g1"].pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert 'name="_save"' not in response.content.decode()
    response = client.get(admin_url("visit", "change", visits["A1g2"].pk))
    assert response.status_code == 302 and response.url == "/admin/"


@pytest.mark.parametrize("role", ["worker", "admin"])
def test_admin_neither_adds_nor_deletes_visits(city, visits, role):
    client = admin_client(city.users[role])
    assert client.get(admin_url("visit", "add")).status_code == 403
    response = client.post(admin_url("visit", "delete", visits["A1g1"].pk), {"post": "yes"})
    assert response.status_code == 403
    assert Visit.objects.filter(pk=visits["A1g1"].pk).exists()


#
# API
#


VISITS = f"{API}/visits/"


def test_api_records_a_visit_in_the_households_grid(city):
    household = city.households["A1g1"]
    response = api_client(city.users["worker"]).post(
        VISITS, {"household": household.pk, "outcome": "problem_found", "note": "暖气不热"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    visit = Visit.objects.get()
    assert body["id"] == visit.pk
    assert (body["grid"], body["household"], body["place"]) == (household.grid_id, household.pk, None)
    assert (body["visitor"], body["outcome"], body["note"]) == ("worker", "problem_found", "暖气不热")
    assert body["target_name"] == household.address
    assert (visit.visitor, visit.grid_path) == (city.users["worker"], household.grid_path)


def test_api_records_a_place_visit_at_a_given_time(city):
    when = _ago(hours=2).replace(microsecond=0)
    response = api_client(city.users["director"]).post(
        VISITS, {"place": city.places["A1g2"].pk, "outcome": "nobody_home", "visited_at": when.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Visit.objects.get().visited_at == when


def test_api_refuses_a_visit_by_someone_who_does_not_patrol(city):
    response = api_client(city.users["street"]).post(
        VISITS, {"household": city.households["A1g1"].pk, "outcome": "all_well"}, format="json"
    )
    assert assert_error_shape(response, 403)["code"] == "permission_denied"
    assert not Visit.objects.exists()


def test_api_records_a_visit_sent_twice_with_one_idempotency_key_once(city):
    client, key = api_client(city.users["worker"]), str(uuid.uuid4())
    body = {"household": city.households["A1g1"].pk, "outcome": "all_well"}
    first = client.post(VISITS, body, format="json", headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    # Answered like a resent case report: 200, the first visit, and the header that says so.
    again = client.post(VISITS, body, format="json", headers={"Idempotency-Key": key})
    assert again.status_code == 200, again.content
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and Visit.objects.count() == 1
    assert client.post(VISITS, body, format="json").status_code == 201  # no key: a visit each time
    assert Visit.objects.count() == 2


def test_api_refuses_an_idempotency_key_that_is_not_a_uuid(city):
    response = api_client(city.users["worker"]).post(
        VISITS, {"household": city.households["A1g1"].pk, "outcome": "all_well"}, format="json",
        headers={"Idempotency-Key": "twice"},
    )
    assert "idempotency_key" in assert_error_shape(response, 400)["fields"]
    assert not Visit.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (lambda city: {"household": city.households["A1g1"].pk, "place": city.places["A1g1"].pk,
                       "outcome": "all_well"}, {"household", "place"}),
        (lambda city: {"outcome": "all_well"}, {"household", "place"}),
        (lambda city: {"household": city.households["A1g1"].pk, "outcome": "all_well",
                       "visited_at": (timezone.now() + timedelta(days=1)).isoformat()}, {"visited_at"}),
        (lambda city: {"household": city.households["A1g1"].pk, "outcome": "all_well", "note": "记" * 501},
         {"note"}),
        (lambda city: {"household": city.households["A1g1"].pk, "outcome": "fine"}, {"outcome"}),
        # Out of the worker's scope: it does not exist for them.
        (lambda city: {"household": city.households["B1g1"].pk, "outcome": "all_well"}, {"household"}),
        (lambda city: {"place": city.places["A1g2"].pk, "outcome": "all_well"}, {"place"}),
    ],
    ids=["both", "neither", "future", "long-note", "unknown-outcome", "household-out-of-scope",
         "place-out-of-scope"],
)
def test_api_refuses_bad_input_in_the_error_shape(city, body, fields):
    response = api_client(city.users["worker"]).post(VISITS, body(city), format="json")
    error = assert_error_shape(response, 400)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == fields
    assert not Visit.objects.exists()


@pytest.mark.parametrize("role", [role for role in SEEN if role != "citizen"])
def test_api_list_is_scoped(city, visits, role):
    response = api_client(city.users[role]).get(VISITS)
    assert result_ids(response) == {visits[key].pk for key in SEEN[role]}


def test_api_list_filters(city, visits):
    client = api_client(city.users["street"])
    extra = _visit(city, "A2g1", kind="place", outcome=VisitOutcome.PROBLEM_FOUND, visited_at=_ago(days=30))
    assert result_ids(client.get(VISITS, {"node": city.nodes["A1"].pk})) == {visits["A1g1"].pk, visits["A1g2"].pk}
    assert result_ids(client.get(VISITS, {"household": city.households["A2g1"].pk})) == {visits["A2g1"].pk}
    assert result_ids(client.get(VISITS, {"place": city.places["A2g1"].pk})) == {extra.pk}
    assert result_ids(client.get(VISITS, {"outcome": "problem_found"})) == {extra.pk}
    assert result_ids(client.get(VISITS, {"visited_before": _ago(days=7).isoformat()})) == {extra.pk}
    assert extra.pk not in result_ids(client.get(VISITS, {"visited_after": _ago(days=7).isoformat()}))
    # An id outside the scope finds nothing; a node outside it is refused, as on every grid endpoint.
    assert result_ids(client.get(VISITS, {"household": city.households["B1g1"].pk})) == set()
    assert "node" in assert_error_shape(client.get(VISITS, {"node": city.nodes["B"].pk}), 400)["fields"]


def test_api_list_is_newest_first(city):
    visits = [_visit(city, "A1g1", visited_at=_ago(days=days)) for days in (5, 1, 9)]
    response = api_client(city.users["worker"]).get(VISITS)
    assert [row["id"] for row in response.json()["results"]] == [visits[1].pk, visits[0].pk, visits[2].pk]


def test_api_visits_are_never_changed_or_deleted(city, visits):
    client = api_client(city.users["worker"])
    url = f"{VISITS}{visits['A1g1'].pk}/"
    assert client.get(url).status_code == 200
    assert client.get(f"{VISITS}{visits['A1g2'].pk}/").status_code == 404
    for method in (client.put, client.patch, client.delete):
        assert_error_shape(method(url, {"note": "改"}, format="json"), 405)
    assert Visit.objects.get(pk=visits["A1g1"].pk).note == ""


@pytest.mark.parametrize("page_size", [5, 50])
def test_api_list_queries_do_not_grow_with_the_page(crowded_grid, django_assert_max_num_queries, page_size):
    client = api_client(crowded_grid.users["worker"])
    with django_assert_max_num_queries(5):
        response = client.get(VISITS, {"page_size": page_size})
    body = response.json()
    assert body["count"] > 40
    assert len(body["results"]) == min(page_size, body["count"])


def test_schema_documents_the_visits_api(db):
    schema = api_client().get("/api/schema/", {"format": "json"}).json()
    operations = schema["paths"]["/api/v1/grid/visits/"]
    assert set(operations) == {"get", "post"}
    parameters = {parameter["name"] for parameter in operations["get"]["parameters"]}
    assert {"node", "household", "place", "outcome", "visited_after", "visited_before"} <= parameters
    assert operations["post"]["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


#
# Once per client key (a double tap, a resent form); between parallel connections: tests/test_visit_once.py
#


def test_a_client_key_records_one_visit_per_visitor(city):
    target, key = Household.objects.get(grid=city.nodes["A1g1"]), uuid.uuid4()
    worker, director = city.users["worker"], city.users["director"]
    first = services.visit_record(actor=worker, household=target, outcome=VisitOutcome.ALL_WELL, client_key=key)
    with pytest.raises(AlreadyDone) as again:
        services.visit_record(actor=worker, household=target, outcome=VisitOutcome.ALL_WELL, client_key=key)
    theirs = services.visit_record(actor=director, household=target, outcome=VisitOutcome.ALL_WELL, client_key=key)
    assert again.value.instance == first and theirs != first
    services.visit_record(actor=worker, household=target, outcome=VisitOutcome.ALL_WELL)
    assert Visit.objects.count() == 3

