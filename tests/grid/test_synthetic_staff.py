"""seed_demo --scale N --staff: the synthetic city's staff, written in bulk, are what post_create would write."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from grid import demo
from grid.models import GridNode, GridNodeUserObjectPermission, Level, Post, Role
from grid.permissions import subtree_q
from grid.services import post_create

GRIDS = 16  # 2 districts, 4 street offices, 8 communities, 16 grids
STAFFED = {Level.DISTRICT: Role.DISTRICT_COMMANDER, Level.STREET_OFFICE: Role.STREET_OFFICER,
           Level.COMMUNITY: Role.COMMUNITY_DIRECTOR, Level.GRID: Role.GRID_WORKER}


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--scale", str(GRIDS), "--households-per-grid", "1", *args, stdout=out)
    return out.getvalue()


def city_nodes(level: int):
    root = GridNode.objects.get(code=demo.SYNTHETIC_CITY_CODE)
    return GridNode.objects.filter(subtree_q("path", root.path), level=level).order_by("path")


def footprint(user) -> tuple[list, list]:
    """What a post leaves behind: its rows and the user's grants, by node and codename."""
    posts = sorted(Post.objects.filter(user=user).values_list("role", "node_id", "department_id", "since"))
    grants = sorted(GridNodeUserObjectPermission.objects.filter(user=user)
                    .values_list("content_object_id", "permission__codename"))
    return posts, grants


def counts() -> tuple[int, int, int]:
    return get_user_model().objects.count(), Post.objects.count(), GridNodeUserObjectPermission.objects.count()


@pytest.fixture
def staffed(db):
    seed("--staff")


@pytest.mark.usefixtures("staffed")
def test_one_post_per_node_at_each_staffed_level():
    for level, role in STAFFED.items():
        nodes = list(city_nodes(level))
        assert len(nodes) == {Level.DISTRICT: 2, Level.STREET_OFFICE: 4, Level.COMMUNITY: 8, Level.GRID: 16}[level]
        for node in nodes:
            post = Post.objects.select_related("user").get(node=node, role=role,
                                                           user__username=demo.synthetic_staff_username(node))
            assert post.user.is_staff and post.user.is_active and post.user.email
    worker = get_user_model().objects.get(username=demo.synthetic_staff_username(city_nodes(Level.GRID)[3]))
    assert worker.check_password(demo.DEMO_PASSWORD)


@pytest.mark.usefixtures("staffed")
def test_bulk_posts_equal_what_post_create_writes():
    admin = get_user_model().objects.get(username="admin")
    for level, role in STAFFED.items():
        node = city_nodes(level)[1]
        user = get_user_model().objects.get(username=demo.synthetic_staff_username(node))
        bulk = footprint(user)
        assert bulk[1], "a post implies grants"
        Post.objects.filter(user=user).delete()
        GridNodeUserObjectPermission.objects.filter(user=user).delete()
        post_create(actor=admin, user=user, role=role, node=node)
        assert footprint(user) == bulk, role


@pytest.mark.usefixtures("staffed")
def test_staffing_again_creates_nothing_and_restores_missing_grants():
    before = counts()
    assert "created 0 accounts, 0 posts, 0 grants" in demo.staff_synthetic_city()
    assert counts() == before
    officer = get_user_model().objects.get(username="bench_street")  # a post of ensure_bench_accounts
    lost = GridNodeUserObjectPermission.objects.filter(user=officer, permission__codename="view_case")
    assert lost.delete()[0] == 1
    assert "created 0 accounts, 0 posts, 1 grants" in demo.staff_synthetic_city()
    assert counts() == before


def test_staff_are_written_set_based(db, django_assert_max_num_queries):
    seed()
    with django_assert_max_num_queries(20):  # one post at a time would take hundreds for 30 posts
        message = demo.staff_synthetic_city()
    assert "created 30 accounts, 30 posts" in message


def test_staff_needs_a_synthetic_city(db):
    with pytest.raises(CommandError, match="--scale"):
        call_command("seed_demo", "--staff", stdout=StringIO())
    with pytest.raises(demo.SeedError, match="seed_demo --scale"):
        demo.staff_synthetic_city()


@pytest.mark.usefixtures("staffed")
def test_the_sweep_notifies_the_staff_of_the_level_above():
    from civic.models import Notice
    from issues.models import Case, Category
    from issues.services import case_report
    from issues.sweep import escalate_overdue

    grid = city_nodes(Level.GRID)[5]
    worker = get_user_model().objects.get(username=demo.synthetic_staff_username(grid))
    category = Category.objects.create(code="staff-test", name="道路破损", name_en="Damaged road",
                                       first_level=Level.COMMUNITY, accept_within=timedelta(hours=2),
                                       resolve_within=timedelta(hours=8))
    case = case_report(actor=worker, category=category, description="路面塌陷", lat=grid.centroid_lat,
                       lon=grid.centroid_lon)
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert escalate_overdue()["escalated"] == 1
    street = GridNode.objects.get(path=grid.path[:GridNode.steplen * Level.STREET_OFFICE])
    officer = demo.synthetic_staff_username(street)
    channels = set(Notice.objects.filter(recipient__username=officer, template="issues/case_escalated")
                   .values_list("channel", flat=True))
    assert channels == {"in_app", "email"}
