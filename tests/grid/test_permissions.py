"""The permission matrix: every role against its own subtree, a descendant subtree, a sibling subtree
(and its ancestors), for nodes, households, places, departments and posts, through the API and
the admin; then the unit functions of grid.permissions.

The city (tests/grid/conftest.py):

    city ─┬─ district ─┬─ A ─┬─ A1 ─┬─ A1g1  [household, place]   worker
          │  (district,│     │ (director) └─ A1g2  [household, place]
          │   dept,    │     └─ A2 ─┬─ A2g1  [household, place]
          │ sanitation)│ (street)   └─ A2g2
          │            └─ B ──── B1 ─┬─ B1g1  [household, place]   worker2
          │              (street2)   └─ B1g2  [household, place]
          └─ D2 ── C ── C1 ── C1g1  [household, place]             worker3
            (water)
    citymgmt department at the city; admin is a superuser; citizen holds no post.
"""

import re

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from guardian.shortcuts import assign_perm, get_perms

from grid import services
from grid.models import Department, GridNode, Household, Place, Post, Role
from grid.permissions import can, forget_grants, grant_paths, has_any_grant, require, rule_for, scope
from grid.roles import ROLE_PERMISSIONS
from tests.factories import UserFactory
from tests.grid.utils import API, admin_client, admin_url, api_client, result_ids

#
# What each role sees
#

ALL_NODES = {"city", "district", "A", "B", "A1", "A2", "B1", "A1g1", "A1g2", "A2g1", "A2g2", "B1g1", "B1g2",
             "D2", "C", "C1", "C1g1"}
DISTRICT_TREE = {"district", "A", "B", "A1", "A2", "B1", "A1g1", "A1g2", "A2g1", "A2g2", "B1g1", "B1g2"}
STREET_A_TREE = {"A", "A1", "A2", "A1g1", "A1g2", "A2g1", "A2g2"}
STREET_B_TREE = {"B", "B1", "B1g1", "B1g2"}
COMMUNITY_A1_TREE = {"A1", "A1g1", "A1g2"}
ALL_RECORDS = {"A1g1", "A1g2", "A2g1", "B1g1", "B1g2", "C1g1"}  # households and places, by grid
ALL_POSTS = {"district", "street", "street2", "director", "worker", "worker2", "dept", "worker3"}

VISIBLE = {
    # role:      (nodes,             registry (by grid),                       departments,                  posts)
    "admin":    (ALL_NODES,         ALL_RECORDS,                              {"citymgmt", "sanitation", "water"},
                 ALL_POSTS),
    "district": (DISTRICT_TREE,     {"A1g1", "A1g2", "A2g1", "B1g1", "B1g2"}, {"sanitation"},
                 ALL_POSTS - {"worker3"}),
    "dept":     (DISTRICT_TREE,     {"A1g1", "A1g2", "A2g1", "B1g1", "B1g2"}, {"sanitation"},
                 ALL_POSTS - {"worker3"}),
    "street":   (STREET_A_TREE,     {"A1g1", "A1g2", "A2g1"},                 set(),
                 {"street", "director", "worker"}),
    "street2":  (STREET_B_TREE,     {"B1g1", "B1g2"},                         set(), {"street2", "worker2"}),
    "director": (COMMUNITY_A1_TREE, {"A1g1", "A1g2"},                         set(), {"director", "worker"}),
    "worker":   ({"A1g1"},          {"A1g1"},                                 set(), {"worker"}),
    "worker2":  ({"B1g1"},          {"B1g1"},                                 set(), {"worker2"}),
    "citizen":  (set(),             set(),                                    set(), set()),
}
KINDS = ("nodes", "households", "places", "departments", "posts")

# What each role may change where it sees: (nodes, registry, departments, posts).
MAY_CHANGE = {
    "admin": (True, True, True, True),
    "district": (True, True, True, True),
    "street": (True, True, True, True),
    "street2": (True, True, True, True),
    "director": (True, True, True, True),
    "worker": (False, True, False, False),
    "worker2": (False, True, False, False),
    "dept": (False, False, False, False),
    "citizen": (False, False, False, False),
}

# One row per (role, relation): the node of that subtree, a household/place in it (by grid), a
# department at it and a post in it (by username); None where the subtree holds none.
TARGETS = [
    # role       relation      node        record   department    post
    ("admin",    "own",        "city",     "A1g1",  "citymgmt",   "district"),
    ("admin",    "descendant", "A1",       "A1g2",  None,         "worker"),
    ("admin",    "other",      "D2",       "C1g1",  "water",      "worker3"),
    ("district", "own",        "district", "A1g1",  "sanitation", "district"),
    ("district", "descendant", "B1",       "B1g2",  None,         "worker2"),
    ("district", "sibling",    "D2",       "C1g1",  "water",      "worker3"),
    ("district", "ancestor",   "city",     None,    "citymgmt",   None),
    ("dept",     "own",        "district", "A2g1",  "sanitation", "dept"),
    ("dept",     "descendant", "A1",       "A1g1",  None,         "director"),
    ("dept",     "sibling",    "D2",       "C1g1",  "water",      "worker3"),
    ("street",   "own",        "A",        "A2g1",  None,         "street"),
    ("street",   "descendant", "A1",       "A1g2",  None,         "director"),
    ("street",   "sibling",    "B",        "B1g1",  None,         "street2"),
    ("street",   "ancestor",   "district", None,    "sanitation", "district"),
    ("street2",  "own",        "B",        "B1g2",  None,         "street2"),
    ("street2",  "descendant", "B1g1",     "B1g1",  None,         "worker2"),
    ("street2",  "sibling",    "A",        "A1g1",  None,         "street"),
    ("street2",  "ancestor",   "district", None,    "sanitation", "dept"),
    ("director", "own",        "A1",       "A1g2",  None,         "director"),
    ("director", "descendant", "A1g1",     "A1g1",  None,         "worker"),
    ("director", "sibling",    "A2",       "A2g1",  None,         None),
    ("director", "ancestor",   "A",        None,    None,         "street"),
    ("worker",   "own",        "A1g1",     "A1g1",  None,         "worker"),
    ("worker",   "sibling",    "A1g2",     "A1g2",  None,         None),
    ("worker",   "ancestor",   "A1",       None,    None,         "director"),
    ("worker2",  "own",        "B1g1",     "B1g1",  None,         "worker2"),
    ("worker2",  "sibling",    "B1g2",     "B1g2",  None,         None),
    ("worker2",  "ancestor",   "B1",       None,    None,         "street2"),
    ("citizen",  "any",        "A1g1",     "A1g1",  "sanitation", "worker"),
    ("citizen",  "root",       "city",     "C1g1",  "citymgmt",   "district"),
]


def _cases():
    """(role, relation, kind, target key, visible, may change) for every non-empty cell of TARGETS."""
    cases = []
    for role, relation, node, record, department, post in TARGETS:
        visible_nodes, visible_records, visible_departments, visible_posts = VISIBLE[role]
        changes = MAY_CHANGE[role]
        cells = [
            ("nodes", node, node in visible_nodes, changes[0]),
            ("households", record, record in visible_records, changes[1]),
            ("places", record, record in visible_records, changes[1]),
            ("departments", department, department in visible_departments, changes[2]),
            ("posts", post, post in visible_posts, changes[3]),
        ]
        for kind, key, visible, may_change in cells:
            if key is not None:
                cases.append(pytest.param(role, kind, key, visible, visible and may_change,
                                          id=f"{role}-{relation}-{kind}-{key}"))
    return cases


CASES = _cases()


def _target(city, kind: str, key: str):
    return {
        "nodes": city.nodes, "households": city.households, "places": city.places,
        "departments": city.departments, "posts": city.posts,
    }[kind][key]


def _expected_ids(city, role: str, kind: str) -> set[int]:
    column = {"nodes": 0, "households": 1, "places": 1, "departments": 2, "posts": 3}[kind]
    keys = VISIBLE[role][column]
    return {_target(city, kind, key).pk for key in keys}


def _label(city, kind: str, key: str) -> str:
    """A piece of the object's data that only a page showing it would contain."""
    obj = _target(city, kind, key)
    if kind == "posts":
        return obj.user.username
    return obj.address if kind in ("households", "places") else obj.code


def _shows(response, label: str) -> bool:
    return re.search(rf"\b{re.escape(label)}\b", response.content.decode()) is not None


# The admin's model name per kind, and a change the API accepts for each kind.
ADMIN_MODEL = {"nodes": "gridnode", "households": "household", "places": "place", "departments": "department",
               "posts": "post"}
API_CHANGE = {"nodes": {"name": "改名"}, "households": {"address": "改址"}, "places": {"name": "改名"},
              "departments": {"name": "改名"}}


def test_matrix_covers_every_role_and_relation():
    roles = {row[0] for row in TARGETS}
    assert roles == set(VISIBLE) == set(MAY_CHANGE)
    for role in roles - {"admin", "citizen"}:
        relations = {row[1] for row in TARGETS if row[0] == role}
        assert {"own", "sibling"} <= relations, role


#
# API
#


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", list(VISIBLE))
def test_api_list_shows_exactly_the_subtree(city, role, kind):
    response = api_client(city.users[role]).get(f"{API}/{kind}/", {"page_size": 200})
    assert result_ids(response) == _expected_ids(city, role, kind)


@pytest.mark.parametrize(("role", "kind", "key", "visible", "may_change"), CASES)
def test_api_detail(city, role, kind, key, visible, may_change):
    obj = _target(city, kind, key)
    response = api_client(city.users[role]).get(f"{API}/{kind}/{obj.pk}/")
    if visible:
        assert response.status_code == 200
        assert response.json()["id"] == obj.pk
    else:
        # Not 403: an unreadable object must not even be confirmed to exist.
        assert response.status_code == 404
        assert response.json()["error"]["status"] == 404
        assert not _shows(response, _label(city, kind, key))


@pytest.mark.parametrize(("role", "kind", "key", "visible", "may_change"), CASES)
def test_api_change(city, role, kind, key, visible, may_change):
    obj = _target(city, kind, key)
    client = api_client(city.users[role])
    url = f"{API}/{kind}/{obj.pk}/"
    if kind == "posts":
        # A post is never edited, only ended: ending it is the change.
        response = client.delete(url)
        expected = 204 if may_change else 403 if visible else 404
        assert response.status_code == expected, response.content
        assert Post.objects.filter(pk=obj.pk).exists() is not may_change
        return
    response = client.patch(url, API_CHANGE[kind], format="json")
    expected = 200 if may_change else 403 if visible else 404
    assert response.status_code == expected, response.content
    if expected != 200:
        assert response.json()["error"]["status"] == expected
    field, value = next(iter(API_CHANGE[kind].items()))
    obj.refresh_from_db()
    assert (getattr(obj, field) == value) is may_change


#
# Admin
#


def _admin_list_ids(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", [role for role in VISIBLE if role != "citizen"])
def test_admin_changelist_shows_exactly_the_subtree(city, role, kind):
    response = admin_client(city.users[role]).get(admin_url(ADMIN_MODEL[kind], "changelist"))
    assert _admin_list_ids(response) == _expected_ids(city, role, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_admin_refuses_users_who_are_not_staff(city, kind):
    response = admin_client(city.users["citizen"]).get(admin_url(ADMIN_MODEL[kind], "changelist"))
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def _assert_unreachable(response):
    """A write to an object the user cannot see: refused outright (no such grant anywhere) or
    answered like a missing object (a redirect to the index), never carried out."""
    if response.status_code == 302:
        assert response.url == "/admin/"
    else:
        assert response.status_code == 403


def _admin_cases():
    return [case for case in CASES if case.values[0] != "citizen"]


@pytest.mark.parametrize(("role", "kind", "key", "visible", "may_change"), _admin_cases())
def test_admin_change_view(city, role, kind, key, visible, may_change):
    obj = _target(city, kind, key)
    client = admin_client(city.users[role])
    response = client.get(admin_url(ADMIN_MODEL[kind], "change", obj.pk))
    if not visible:
        # Django answers a missing object with a redirect to the index: the object is never shown.
        assert response.status_code == 302
        assert response.url == "/admin/"
        followed = client.get(response.url)
        assert not _shows(followed, _label(city, kind, key))
        history = client.get(admin_url(ADMIN_MODEL[kind], "history", obj.pk))
        assert history.status_code == 302 and history.url == "/admin/"
        return
    assert response.status_code == 200
    page = response.content.decode()
    assert _shows(response, _label(city, kind, key))
    # Posts are never edited (only created or ended), whoever looks at them.
    editable = may_change and kind != "posts"
    assert ('name="_save"' in page) is editable
    assert response.context["has_change_permission"] is editable


@pytest.mark.parametrize(
    ("role", "kind", "key", "visible", "may_change"),
    [case for case in _admin_cases() if not (case.values[4] and case.values[1] != "posts")],
)
def test_admin_refuses_to_save_what_it_may_not_change(city, role, kind, key, visible, may_change):
    obj = _target(city, kind, key)
    response = admin_client(city.users[role]).post(
        admin_url(ADMIN_MODEL[kind], "change", obj.pk), {"name": "改名", "address": "改址", "_save": "1"}
    )
    if visible:
        assert response.status_code == 403
    else:
        _assert_unreachable(response)
    obj.refresh_from_db()
    assert getattr(obj, "name", None) != "改名"
    assert getattr(obj, "address", None) != "改址"


@pytest.mark.parametrize(
    ("role", "kind", "key", "visible", "may_change"),
    [case for case in _admin_cases() if case.values[1] == "posts"],
)
def test_admin_post_delete_needs_manage_posts(city, role, kind, key, visible, may_change):
    obj = _target(city, kind, key)
    client = admin_client(city.users[role])
    url = admin_url("post", "delete", obj.pk)
    response = client.get(url)
    if not visible:
        _assert_unreachable(response)
    else:
        assert response.status_code == (200 if may_change else 403)
    response = client.post(url, {"post": "yes"})
    assert Post.objects.filter(pk=obj.pk).exists() is not may_change


#
# The unit functions
#


def test_grant_paths_collapse_nested_grants(city):
    user = UserFactory(username="nested")
    for key in ("A", "A1", "A1g1", "B1g1"):
        assign_perm("grid.view_gridnode", user, city.nodes[key])
    assert grant_paths(user, "view_gridnode") == sorted([city.nodes["A"].path, city.nodes["B1g1"].path])
    assert grant_paths(user, "change_gridnode") == []


def test_grant_paths_are_loaded_once_per_user_object(city, django_assert_num_queries):
    user = city.users["street"]
    with django_assert_num_queries(1):
        grant_paths(user, "view_gridnode")
        grant_paths(user, "view_registry")
        can(user, "view", city.households["A1g1"])


def test_superuser_holds_everything(city):
    admin = city.users["admin"]
    assert grant_paths(admin, "view_personal_id") is None
    assert scope(GridNode.objects.all(), admin).count() == GridNode.objects.count()
    assert can(admin, "delete", city.nodes["city"])
    assert has_any_grant(admin)


@pytest.mark.parametrize("who", ["anonymous", "inactive", "none"])
def test_anonymous_inactive_and_missing_users_get_nothing(city, who):
    if who == "anonymous":
        user = AnonymousUser()
    elif who == "none":
        user = None
    else:
        user = city.users["district"]
        user.is_active = False
        user.save()
    assert grant_paths(user, "view_gridnode") == []
    assert not scope(GridNode.objects.all(), user).exists()
    assert not can(user, "view", city.nodes["A1g1"])
    assert not has_any_grant(user)
    with pytest.raises(PermissionDenied):
        require(user, "view", city.nodes["A1g1"])


def test_group_grants_count_like_user_grants(city):
    group = Group.objects.create(name="A2 inspectors")
    assign_perm("grid.view_gridnode", group, city.nodes["A2"])
    assign_perm("grid.view_registry", group, city.nodes["A2"])
    user = UserFactory(username="inspector")
    assert not can(user, "view", city.nodes["A2"])
    user.groups.add(group)
    forget_grants(user)
    assert grant_paths(user, "view_gridnode") == [city.nodes["A2"].path]
    assert set(scope(GridNode.objects.all(), user)) == {city.nodes[k] for k in ("A2", "A2g1", "A2g2")}
    assert set(scope(Household.objects.all(), user)) == {city.households["A2g1"]}
    assert not can(user, "change", city.households["A2g1"])
    # A user grant and a group grant on nested nodes collapse into the outer one.
    assign_perm("grid.view_gridnode", user, city.nodes["A2g1"])
    forget_grants(user)
    assert grant_paths(user, "view_gridnode") == [city.nodes["A2"].path]


def test_can_sees_where_an_unsaved_record_goes(city):
    """A household moved to a grid out of the user's reach is checked against the new grid."""
    household = city.households["A1g1"]
    worker = city.users["worker"]
    assert can(worker, "change", household)
    household.grid = city.nodes["A1g2"]
    assert not can(worker, "change", household)
    with pytest.raises(PermissionDenied):
        services.record_save(actor=worker, instance=household)
    assert Household.objects.get(pk=household.pk).grid == city.nodes["A1g1"]


def test_post_create_and_delete_refresh_the_cached_grants(city):
    admin, user = city.users["admin"], UserFactory(username="newcomer")
    assert not can(user, "view", city.nodes["A2g1"])  # loads (empty) grants onto the object
    post = services.post_create(actor=admin, user=user, role=Role.GRID_WORKER, node=city.nodes["A2g1"])
    assert can(user, "change", city.households["A2g1"])
    services.post_delete(actor=admin, post=post)
    assert not can(user, "view", city.households["A2g1"])
    assert get_perms(user, city.nodes["A2g1"]) == []


def test_post_delete_keeps_the_grants_another_post_at_the_node_implies(city):
    admin, district = city.users["admin"], city.nodes["district"]
    user = UserFactory(username="two-hats")
    commander = services.post_create(actor=admin, user=user, role=Role.DISTRICT_COMMANDER, node=district)
    services.post_create(actor=admin, user=user, role=Role.DEPARTMENT_STAFF, department=city.department)
    worker_post = services.post_create(actor=admin, user=user, role=Role.GRID_WORKER, node=city.nodes["A2g1"])
    assign_perm("grid.view_personal_id", user, district)  # explicit, implied by no role

    services.post_delete(actor=admin, post=commander)

    # Roles may carry permissions of apps above grid (cases), so the expected sets come from the roles.
    assert set(get_perms(user, district)) == ROLE_PERMISSIONS[Role.DEPARTMENT_STAFF] | {"view_personal_id"}
    assert set(get_perms(user, city.nodes["A2g1"])) == ROLE_PERMISSIONS[Role.GRID_WORKER]
    assert {"view_gridnode", "view_registry", "change_registry"} <= ROLE_PERMISSIONS[Role.GRID_WORKER]
    assert can(user, "view", city.households["B1g1"])
    assert not can(user, "change", city.households["B1g1"])
    assert can(user, "change", city.households["A2g1"])  # the grid worker's post is untouched

    services.post_delete(actor=admin, post=worker_post)
    assert get_perms(user, city.nodes["A2g1"]) == []
    assert can(user, "view", city.households["A2g1"])  # still under the department's district


def test_post_delete_needs_manage_posts_on_the_post(city):
    with pytest.raises(PermissionDenied):
        services.post_delete(actor=city.users["worker"], post=city.posts["worker"])
    with pytest.raises(PermissionDenied):
        services.post_delete(actor=city.users["street2"], post=city.posts["worker"])
    services.post_delete(actor=city.users["street"], post=city.posts["worker"])
    assert not Post.objects.filter(user=city.users["worker"]).exists()
    assert get_perms(city.users["worker"], city.nodes["A1g1"]) == []


def test_post_create_needs_manage_posts_at_the_node(city):
    newcomer = UserFactory(username="newcomer")
    with pytest.raises(PermissionDenied):
        services.post_create(actor=city.users["director"], user=newcomer, role=Role.GRID_WORKER,
                             node=city.nodes["A2g1"])
    with pytest.raises(PermissionDenied):
        services.post_create(actor=city.users["worker"], user=newcomer, role=Role.GRID_WORKER,
                             node=city.nodes["A1g1"])
    post = services.post_create(actor=city.users["director"], user=newcomer, role=Role.GRID_WORKER,
                                node=city.nodes["A1g2"])
    assert post.node == city.nodes["A1g2"]


@pytest.mark.parametrize(
    ("model", "action", "codename"),
    [
        (GridNode, "view", "view_gridnode"),
        (GridNode, "add", "add_gridnode"),
        (GridNode, "delete", "delete_gridnode"),
        (Household, "view", "view_registry"),
        (Household, "change", "change_registry"),
        (Place, "add", "change_registry"),
        (Department, "change", "change_gridnode"),
        (Post, "add", "manage_posts"),
    ],
)
def test_scope_uses_the_registered_permission(city, model, action, codename):
    user = UserFactory(username="granted")
    assign_perm(f"grid.{codename}", user, city.nodes["district"])
    queryset = model._default_manager.all()
    scoped = set(scope(queryset, user, action))
    assert scoped and scoped == set(scope(queryset, city.users["district"], action))
    others = {a for a, c in rule_for(model).actions.items() if c != codename}
    assert all(not scope(queryset, user, other).exists() for other in others)
