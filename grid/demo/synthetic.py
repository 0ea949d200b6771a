"""The synthetic city for benchmarks: any number of grids and households, bulk-inserted from the root
down with treebeard paths computed here (at 10,000 grids and a million households, per-node services
would take hours). Left alone when it already has the requested size. ``staff_synthetic_city`` posts
a person at every grid, community, street office and district, set-based too."""

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from grid.demo.accounts import ensure_demo_post, ensure_demo_user, password_hash
from grid.demo.geometry import Box, split
from grid.demo.progress import Progress, SeedError, no_progress
from grid.fields import GridPathField
from grid.models import (
    CODE_DIGITS,
    Building,
    Department,
    GridNode,
    GridNodeGroupObjectPermission,
    GridNodeUserObjectPermission,
    Household,
    Level,
    Post,
    Resident,
    Role,
)
from grid.permissions import PATH_END, subtree_q
from grid.roles import ROLE_PERMISSIONS
from grid.services import node_create

__all__ = [
    "SYNTHETIC_CITY_CODE",
    "build_synthetic_city",
    "ensure_bench_accounts",
    "staff_synthetic_city",
    "synthetic_size",
    "synthetic_staff_username",
]

SYNTHETIC_CITY_CODE = "9901"
# A square well away from Hohhot, so that locate() never mixes the two cities up.
SYNTHETIC_BOX = Box(100.0, 30.0, 102.0, 32.0)
_SYNTHETIC_NAMES = {Level.DISTRICT: "基准区", Level.STREET_OFFICE: "基准街道", Level.COMMUNITY: "基准社区",
                    Level.GRID: "基准网格"}
_BELOW_CITY = (Level.DISTRICT, Level.STREET_OFFICE, Level.COMMUNITY, Level.GRID)


def _fanout(leaves: int, levels: int) -> int:
    """The smallest k with k ** levels >= leaves: a tree as balanced as the leaf count allows."""
    k = 1
    while k**levels < leaves:
        k += 1
    return k


def synthetic_size() -> tuple[GridNode | None, int, int]:
    """(root, grids, households) of the synthetic city; (None, 0, 0) when there is none."""
    root = GridNode.objects.filter(code=SYNTHETIC_CITY_CODE).first()
    if root is None:
        return None, 0, 0
    grids = GridNode.objects.filter(subtree_q("path", root.path), level=Level.GRID).count()
    return root, grids, Household.objects.filter(subtree_q("grid_path", root.path)).count()


def _synthetic_node(parent: GridNode, level: int, index: int, box: Box) -> GridNode:
    if index >= 10 ** CODE_DIGITS[level]:
        raise SeedError(f"{index} children do not fit in a {CODE_DIGITS[level]}-digit code: ask for fewer grids.")
    code = f"{parent.code}{index:0{CODE_DIGITS[level]}d}"
    lat, lon = box.centre()
    # bulk_create skips GridNode.save(), which would fill the bounding box from the boundary.
    return GridNode(
        path=GridNode._get_path(parent.path, level, index), depth=level, numchild=0, level=level, code=code,
        name=f"{_SYNTHETIC_NAMES[level]}{code}", boundary=box.boundary(), centroid_lat=lat, centroid_lon=lon,
        min_lon=box.min_lon, min_lat=box.min_lat, max_lon=box.max_lon, max_lat=box.max_lat,
    )


def _plan_synthetic(root: GridNode, grids: int) -> list[GridNode]:
    """Every node below the root, level by level, with numchild set (the root's too, in memory)."""
    nodes: list[GridNode] = []
    frontier = [(root, SYNTHETIC_BOX, grids)]
    for level in _BELOW_CITY:
        next_frontier = []
        for parent, box, leaves in frontier:
            k = _fanout(leaves, Level.GRID - level + 1)
            parent.numchild = k
            for index, (size, child_box) in enumerate(zip(split(leaves, k), box.tile(k), strict=True), 1):
                child = _synthetic_node(parent, level, index, child_box)
                nodes.append(child)
                next_frontier.append((child, child_box, size))
        frontier = next_frontier
    return nodes


def _insert_households_postgresql(root: GridNode, per_grid: int, progress: Progress) -> None:
    # One statement per round, one household per grid each: ids interleave across grids as they
    # would after years of registration, instead of running grid by grid.
    quote = connection.ops.quote_name
    field = Household._meta.get_field
    columns = ", ".join(quote(field(f).column) for f in
                        ("grid", "grid_path", "building", "address", "head_name", "phone", "registered_at"))
    sql = (
        f"INSERT INTO {quote(Household._meta.db_table)} ({columns}) "
        f"SELECT id, path, NULL, name || %s, '', '', %s FROM {quote(GridNode._meta.db_table)} "
        "WHERE level = %s AND path >= %s AND path < %s ORDER BY path"
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        for i in progress(range(1, per_grid + 1), "Households", "round"):
            cursor.execute(sql, [f" {i}号", now, Level.GRID, root.path, root.path + PATH_END])


def _insert_households_bulk(root: GridNode, per_grid: int, progress: Progress) -> None:
    grids = list(GridNode.objects.filter(subtree_q("path", root.path), level=Level.GRID)
                 .order_by("path").values_list("id", "path", "name"))
    for i in progress(range(1, per_grid + 1), "Households", "round"):
        Household.objects.bulk_create(
            (Household(grid_id=pk, grid_path=path, address=f"{name} {i}号") for pk, path, name in grids),
            batch_size=5000,
        )


def _delete_synthetic(root: GridNode) -> None:
    """Raw deletes for the big tables; the collector (which checks PROTECT) for the rest."""
    path = root.path
    residents = Resident.objects.filter(subtree_q("household__grid_path", path))
    residents._raw_delete(residents.db)
    households = Household.objects.filter(subtree_q("grid_path", path))
    households._raw_delete(households.db)
    Building.objects.filter(subtree_q("estate__grid_path", path)).delete()
    for model in apps.get_models():  # Estate, Place and the records of apps above grid
        for f in model._meta.concrete_fields:
            if isinstance(f, GridPathField) and model not in (GridNode, Household):
                model._base_manager.filter(subtree_q(f.name, path)).delete()
    Post.objects.filter(subtree_q("node__path", path)).delete()
    Department.objects.filter(subtree_q("node__path", path)).delete()
    for grants in (GridNodeUserObjectPermission, GridNodeGroupObjectPermission):
        grants.objects.filter(subtree_q("content_object__path", path)).delete()
    GridNode.objects.filter(pk=root.pk).delete()  # treebeard takes the descendants


def build_synthetic_city(*, actor, grids: int, households_per_grid: int, replace: bool = False,
                         progress: Progress = no_progress) -> str:
    """Build the synthetic city of `grids` grids unless it exists at that size; returns what happened."""
    if grids < 1 or households_per_grid < 0:
        raise SeedError("--scale must be at least 1 and --households-per-grid at least 0.")
    root, have_grids, have_households = synthetic_size()
    if root is not None:
        if (have_grids, have_households) == (grids, grids * households_per_grid):
            return f"Synthetic city {SYNTHETIC_CITY_CODE} exists with {grids} grids and {have_households} households."
        if not replace:
            raise SeedError(
                f"Synthetic city {SYNTHETIC_CITY_CODE} exists with {have_grids} grids and {have_households} "
                f"households, not {grids} and {grids * households_per_grid}: pass --replace to rebuild it."
            )
    with transaction.atomic():
        if root is not None:
            _delete_synthetic(root)
        _build_synthetic(actor, grids, households_per_grid, progress)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics, or the planner guesses on a million new rows
            cursor.execute(f"ANALYZE {GridNode._meta.db_table}, {Household._meta.db_table}")
    return f"Built synthetic city {SYNTHETIC_CITY_CODE}: {grids} grids, {grids * households_per_grid} households."


def _build_synthetic(actor, grids: int, per_grid: int, progress: Progress) -> None:
    lat, lon = SYNTHETIC_BOX.centre()
    root = node_create(actor=actor, parent=None, level=Level.CITY, code=SYNTHETIC_CITY_CODE, name="基准城",
                       boundary=SYNTHETIC_BOX.boundary(), centroid_lat=lat, centroid_lon=lon)
    nodes = _plan_synthetic(root, grids)
    GridNode.objects.filter(pk=root.pk).update(numchild=root.numchild)
    batch = 2000
    for start in progress(range(0, len(nodes), batch), f"Nodes ({len(nodes)})", "batch"):
        GridNode.objects.bulk_create(nodes[start:start + batch])
    insert = _insert_households_postgresql if connection.vendor == "postgresql" else _insert_households_bulk
    insert(root, per_grid, progress)


def _middle(nodes):
    return nodes[len(nodes) // 2]


@transaction.atomic
def ensure_bench_accounts(*, actor) -> dict[str, object]:
    """bench_district and bench_street, posted in the middle of the synthetic city (not at its edge)."""
    root = GridNode.objects.get(code=SYNTHETIC_CITY_CODE)
    district = _middle(list(root.get_children()))
    street = _middle(list(district.get_children()))
    posts = {"bench_district": (Role.DISTRICT_COMMANDER, district), "bench_street": (Role.STREET_OFFICER, street)}
    users = {}
    for username, (role, node) in posts.items():
        user = ensure_demo_user(username)
        held = Post.objects.filter(subtree_q("node__path", root.path), user=user, role=role)
        if not held.exists():
            ensure_demo_post(actor=actor, user=user, role=role, node=node)
        users[username] = user
    return users


#
# Staff
#

# Who is posted at each level of the synthetic city, and the stem of their usernames.
_STAFF = {
    Level.DISTRICT: (Role.DISTRICT_COMMANDER, "dc"),
    Level.STREET_OFFICE: (Role.STREET_OFFICER, "so"),
    Level.COMMUNITY: (Role.COMMUNITY_DIRECTOR, "cd"),
    Level.GRID: (Role.GRID_WORKER, "gw"),
}
_STAFF_BATCH = 5000


def synthetic_staff_username(node: GridNode) -> str:
    """The account staff_synthetic_city posts at `node` (a district, street office, community or grid)."""
    return f"bench_{_STAFF[node.level][1]}_{node.code}"


def staff_synthetic_city(*, progress: Progress = no_progress) -> str:
    """Post a grid worker at every grid of the synthetic city, a director at every community, an officer
    at every street office and a commander at every district, each with an account of their own
    (demo password, an e-mail address so that their notices go out) and the grants their role implies.

    What grid.services.post_create writes one post at a time (a Post row, a grant per permission of
    the role on the post's node), written here in bulk: 11,110 posts for 10,000 grids. Idempotent:
    existing accounts, posts and grants are left as they are, and every post of the city, the bench
    accounts' too, gets the grants its role implies now (as posts_sync_grants would).
    """
    root = GridNode.objects.filter(code=SYNTHETIC_CITY_CODE).first()
    if root is None:
        raise SeedError("There is no synthetic city to staff: build it with seed_demo --scale N first.")
    counted = (get_user_model(), Post, GridNodeUserObjectPermission)
    before = [model.objects.count() for model in counted]
    with transaction.atomic():
        nodes = list(GridNode.objects.filter(subtree_q("path", root.path), level__in=list(_STAFF))
                     .order_by("path").only("pk", "level", "code"))
        users = _ensure_staff_users(nodes, progress)
        posts = [Post(user_id=users[synthetic_staff_username(node)], role=_STAFF[node.level][0], node_id=node.pk)
                 for node in nodes]
        for start in progress(range(0, len(posts), _STAFF_BATCH), f"Posts ({len(posts)})", "batch"):
            Post.objects.bulk_create(posts[start:start + _STAFF_BATCH], ignore_conflicts=True)
        _grant_posts(root, progress)
    added = [model.objects.count() - n for model, n in zip(counted, before, strict=True)]
    return (f"Staffed synthetic city {SYNTHETIC_CITY_CODE}: {len(nodes)} posts in all; created {added[0]} accounts, "
            f"{added[1]} posts, {added[2]} grants.")


def _ensure_staff_users(nodes: list[GridNode], progress: Progress) -> dict[str, int]:
    user_model = get_user_model()
    names = [synthetic_staff_username(node) for node in nodes]
    accounts = [user_model(username=name, email=f"{name}@bench.example", is_staff=True, password=password_hash())
                for name in names]
    for start in progress(range(0, len(accounts), _STAFF_BATCH), f"Accounts ({len(accounts)})", "batch"):
        user_model.objects.bulk_create(accounts[start:start + _STAFF_BATCH], ignore_conflicts=True)
    ids = {}
    for start in range(0, len(names), _STAFF_BATCH):
        ids.update(user_model.objects.filter(username__in=names[start:start + _STAFF_BATCH])
                   .values_list("username", "pk"))
    return ids


def _grant_posts(root: GridNode, progress: Progress) -> None:
    """A grant per permission of each post's role on its node, for every post of the city (missing ones only)."""
    content_type = ContentType.objects.get_for_model(GridNode)
    permission_ids = dict(Permission.objects.filter(content_type=content_type).values_list("codename", "pk"))
    posts = Post.objects.filter(subtree_q("node__path", root.path)).values_list("user_id", "role", "node_id")
    grants = [GridNodeUserObjectPermission(user_id=user, permission_id=permission_ids[codename], content_object_id=node)
              for user, role, node in posts for codename in sorted(ROLE_PERMISSIONS[role])]
    for start in progress(range(0, len(grants), _STAFF_BATCH), f"Grants ({len(grants)})", "batch"):
        GridNodeUserObjectPermission.objects.bulk_create(grants[start:start + _STAFF_BATCH], ignore_conflicts=True)
