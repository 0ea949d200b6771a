"""seed_demo: the demo city (structure, geometry, registry, accounts) and its idempotency, and the
synthetic benchmark city of ``--scale``.

The seed needs a database without city 1501, but the package's conftest keeps its own city open in
an outer transaction; so each seed here starts by emptying the tables inside a transaction (or the
test's savepoint) that is rolled back afterwards, which brings the package city back.
"""

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F

from grid import demo
from grid.geo import contains
from grid.idnumbers import validate_id_number
from grid.models import (
    Building,
    Department,
    Estate,
    GridNode,
    GridNodeGroupObjectPermission,
    GridNodeUserObjectPermission,
    Household,
    Level,
    Place,
    PlaceKind,
    Post,
    Resident,
    Role,
    Visit,
)
from grid.permissions import PATH_END, can
from grid.selectors import locate, patrol_list

# The demo city takes seconds to build: these are among the slow tests.
pytestmark = pytest.mark.slow

DEMO_USERS = ("admin", "district", "street", "street2", "director", "worker", "worker2", "dept", "citizen")
COUNTED = (GridNode, Household, Resident, Place, Estate, Building, Department, Post, GridNodeUserObjectPermission,
           GridNodeGroupObjectPermission, Visit)


# Reference data created by migrations: the seed and guardian need it. (The audit log is emptied too,
# its append-only trigger off until the caller rolls back: its rows point at the users deleted here.)
KEEP_TABLES = {"django_content_type", "auth_permission", "django_migrations"}


def empty_tables() -> None:
    """Delete every row but reference data, inside the caller's transaction (which must roll back)."""
    assert connection.in_atomic_block
    tables = [t for t in connection.introspection.django_table_names(only_existing=True) if t not in KEEP_TABLES]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Append-only tables refuse deletes (the audit log, billing's journal; SQLite's refuse only
            # updates), and their rows name the users deleted here: every trigger off only until the
            # caller rolls back (the pending deferred checks done first, as the rows were written).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")
            cursor.execute("SET LOCAL session_replication_role = replica")
        for table in tables:  # DELETE, not TRUNCATE: PostgreSQL refuses TRUNCATE with deferred FK checks pending
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    counts = {model.__name__: model.objects.count() for model in COUNTED}
    counts["User"] = get_user_model().objects.count()
    return counts


def subtree(queryset, lookup: str, node: GridNode):
    return queryset.filter(**{f"{lookup}__gte": node.path, f"{lookup}__lt": node.path + PATH_END})


@pytest.fixture(scope="module")
def demo_city(django_db_setup, django_db_blocker):
    """Seed once for the module (a few seconds), inside a transaction rolled back at the end.

    Each test's `db` fixture then runs in a savepoint of it, as Django's setUpTestData does.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        empty_tables()
        seed()
        yield
        transaction.set_rollback(True)


def post_of(username: str) -> Post:
    return Post.objects.select_related("node", "department").get(user__username=username)


#
# The demo city
#


@pytest.mark.usefixtures("demo_city")
class TestDemoCity:
    def test_tree(self, db):
        city = GridNode.objects.get(code="1501")
        district = GridNode.objects.get(code="150102")
        assert (city.name, district.name, district.get_parent()) == ("呼和浩特市", "新城区", city)
        streets = list(district.get_children())
        assert len(streets) == 8 and {"海拉尔东路街道", "东街街道", "成吉思汗大街街道"} <= {s.name for s in streets}
        assert GridNode.find_problems() == ([], [], [], [], [])
        for node in GridNode.objects.exclude(level=Level.CITY):
            parent = node.get_parent()
            assert node.level == node.depth == parent.level + 1
            assert node.code.startswith(parent.code)
            assert len(node.code) == len(parent.code) + (3 if node.level > Level.DISTRICT else 2)
            node.full_clean()

    def test_every_grid_has_a_boundary_and_is_found_at_its_centroid(self, db):
        grids = list(GridNode.objects.filter(level=Level.GRID, code__startswith="1501"))
        assert len(grids) >= 8 * 2 + 8
        for grid in grids:
            assert grid.boundary and grid.centroid_lat is not None
            assert locate(grid.centroid_lat, grid.centroid_lon) == grid
            parent = grid.get_parent()
            assert contains(parent.boundary, grid.centroid_lat, grid.centroid_lon)
        assert not GridNode.objects.filter(boundary__isnull=True).exists()

    def test_every_point_of_the_district_is_in_one_grid(self, db):
        district = GridNode.objects.get(code="150102")
        steps = 23  # not a divisor of any tiling, so the points fall inside cells and on their edges
        for i in range(steps + 1):
            for j in range(steps + 1):
                lat = district.min_lat + (district.max_lat - district.min_lat) * i / steps
                lon = district.min_lon + (district.max_lon - district.min_lon) * j / steps
                grid = locate(lat, lon)
                assert grid is not None and grid.path.startswith(district.path), (lat, lon)

    def test_xinghuo_lane(self, db):
        community = GridNode.objects.get(name="星火巷社区")
        assert community.get_parent().code == post_of("street").node.code
        grids = list(community.get_children())
        assert len(grids) == 8
        for grid in grids:
            assert 450 <= Household.objects.filter(grid=grid).count() <= 550
            assert Post.objects.filter(node=grid, role=Role.GRID_WORKER).count() == 3
            assert Place.objects.filter(grid=grid, kind=PlaceKind.PUBLIC_PLACE).exists()
        assert Estate.objects.filter(grid__in=grids, name="百灵小区").exists()

    def test_registry_rows_carry_their_grid_path_and_are_valid(self, db):
        for model in (Household, Place, Estate):
            assert not model.objects.exclude(grid_path=F("grid__path")).exists()
        assert Resident.objects.count() > Household.objects.count() > 4000
        for id_number in Resident.objects.values_list("id_number", flat=True):
            validate_id_number(id_number)
        for model in (Household, Resident, Place, Building):
            for row in model.objects.order_by("?")[:20]:
                row.full_clean()
        assert {"city-management", "sanitation", "water-supply", "heating", "housing", "public-security"} == set(
            Department.objects.values_list("code", flat=True)
        )

    def test_accounts(self, db):
        users = {u.username: u for u in get_user_model().objects.filter(username__in=DEMO_USERS)}
        assert set(users) == set(DEMO_USERS)
        assert users["admin"].is_superuser and users["admin"].is_staff
        assert not users["citizen"].is_staff and not users["citizen"].posts.exists()
        assert all(u.is_staff for name, u in users.items() if name != "citizen")
        # All accounts share the run's hash, so one PBKDF2 check (~0.3 s each) covers them. Partners'
        # service users have no password at all (they act only through their API keys).
        signing_in = get_user_model().objects.filter(partner__isnull=True)
        assert len({u.password for u in signing_in}) == 1
        assert all(not u.has_usable_password() for u in get_user_model().objects.filter(partner__isnull=False))
        assert authenticate(username="worker", password=demo.DEMO_PASSWORD) == users["worker"]
        assert authenticate(username="citizen", password="wrong") is None

    def test_posts(self, db):
        street, street2 = post_of("street").node, post_of("street2").node
        assert street != street2 and street.level == street2.level == Level.STREET_OFFICE
        assert post_of("district").node.code == "150102"
        assert post_of("director").node.name == "星火巷社区"
        assert post_of("worker").node.get_parent().name == "星火巷社区"
        assert post_of("worker2").node.path.startswith(street2.path)
        dept = post_of("dept")
        assert dept.role == Role.DEPARTMENT_STAFF and dept.department.code == "sanitation"

    def test_only_the_director_sees_unmasked_ids(self, db):
        household = Household.objects.filter(grid=post_of("worker").node).first()
        user = get_user_model().objects.get
        assert can(user(username="director"), "view_personal_id", household)
        assert not can(user(username="worker"), "view_personal_id", household)
        assert can(user(username="worker"), "view", household)
        assert not can(user(username="worker2"), "view", household)

    def test_patrol_visits(self, db):
        community = GridNode.objects.get(code=demo.XINGHUO_CODE)
        visits = subtree(Visit.objects.select_related("household", "place"), "grid_path", community)
        assert visits.count() > 500
        assert not Visit.objects.exclude(grid_path__startswith=community.path).exists()
        for visit in visits.order_by("?")[:50]:
            visit.full_clean()
            assert visit.target.grid_id == visit.grid_id
            assert Post.objects.filter(user=visit.visitor_id, node=visit.grid_id, role=Role.GRID_WORKER).exists()
        worker = get_user_model().objects.get(username="worker")
        items = patrol_list(user=worker)
        never = [item for item in items if item.last_visited_at is None]
        assert 0 < len(never) < len(items), "the worker's list shows unvisited households, then the oldest visits"
        assert items[: len(never)] == never
        visited = [item.last_visited_at for item in items[len(never):]]
        assert visited == sorted(visited)

    def test_a_duplicate_registration_awaits_the_district_commander(self, db):
        from grid.models import DuplicateRegistration
        from grid.selectors import duplicate_registration_list

        review = DuplicateRegistration.objects.get()
        assert review.resident.duplicate and review.resident.id_number == review.original.id_number
        user = get_user_model().objects.get
        assert list(duplicate_registration_list(user=user(username="district"))) == [review]
        for username in ("worker2", "street2", "street", "director"):
            assert not duplicate_registration_list(user=user(username=username)).exists(), username

    def test_a_second_run_creates_nothing(self, db):
        before = row_counts()
        assert "exists" in seed()
        assert row_counts() == before


#
# The synthetic city
#


def synthetic():
    root = GridNode.objects.get(code=demo.SYNTHETIC_CITY_CODE)
    grids = subtree(GridNode.objects.filter(level=Level.GRID), "path", root)
    return root, grids, subtree(Household.objects.all(), "grid_path", root)


def test_scale_builds_a_consistent_synthetic_city(db):
    empty_tables()
    seed("--scale", "12", "--households-per-grid", "3")
    root, grids, households = synthetic()
    assert grids.count() == 12 and households.count() == 36
    for household in households.select_related("grid"):
        assert household.grid_path == household.grid.path and household.grid.level == Level.GRID
    assert GridNode.find_problems() == ([], [], [], [], [])
    for node in subtree(GridNode.objects.all(), "path", root).exclude(pk=root.pk):
        parent = node.get_parent()
        assert node.level == node.depth and node.code.startswith(parent.code)
        assert node.numchild == GridNode.objects.filter(path__startswith=node.path, depth=node.depth + 1).count()
        node.full_clean()
        if node.level == Level.GRID:
            assert locate(node.centroid_lat, node.centroid_lon) == node
    assert post_of("bench_street").node.path.startswith(root.path)
    assert post_of("bench_district").node.level == Level.DISTRICT


def test_scale_is_idempotent_and_replaces_on_request(db):
    empty_tables()
    seed("--scale", "12", "--households-per-grid", "3")
    before = row_counts()
    assert "exists" in seed("--scale", "12", "--households-per-grid", "3")
    assert row_counts() == before
    with pytest.raises(CommandError, match="--replace"):
        seed("--scale", "5", "--households-per-grid", "2")
    seed("--scale", "5", "--households-per-grid", "2", "--replace")
    _root, grids, households = synthetic()
    assert (grids.count(), households.count()) == (5, 10)
    assert GridNode.find_problems() == ([], [], [], [], [])
    assert Post.objects.filter(user__username__startswith="bench_").count() == 2


def test_scale_leaves_the_demo_city_alone(db):
    empty_tables()
    seed()
    before = dict(GridNode.objects.values_list("code", "numchild"))
    demo_households = Household.objects.count()
    seed("--scale", "3", "--households-per-grid", "1")
    assert Household.objects.count() == demo_households + 3
    assert before.items() <= dict(GridNode.objects.values_list("code", "numchild")).items()
