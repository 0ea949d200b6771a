"""grid.services (writes) and grid.selectors (reads), called directly."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from guardian.shortcuts import assign_perm, get_perms, remove_perm

from grid import selectors, services
from grid.idnumbers import make_id_number
from grid.models import Department, Estate, GridNode, Household, Level, Place, PlaceKind, Post, Resident, Role
from grid.permissions import can
from grid.roles import ROLE_PERMISSIONS
from tests.factories import UserFactory

#
# The tree
#


def test_only_a_superuser_creates_a_city(city):
    for role in ("district", "street"):
        with pytest.raises(ValidationError) as info:
            services.node_create(actor=city.users[role], parent=None, level=Level.CITY, code="1502", name="包头市")
        assert "parent" in info.value.message_dict
    node = services.node_create(actor=city.users["admin"], parent=None, level=Level.CITY, code="1502", name="包头市")
    assert node.is_root() and node.depth == node.level == Level.CITY


@pytest.mark.parametrize(
    ("parent", "level", "code", "field"),
    [
        (None, Level.DISTRICT, "150104", "level"),
        ("city", Level.STREET_OFFICE, "150104001", "level"),
        ("district", Level.DISTRICT, "15010203", "level"),
        ("A1g1", Level.GRID, "150102001001001001", "parent"),
        ("A1", Level.GRID, "150102002001003", "code"),
        ("A1", Level.GRID, "15010200100103", "code"),
        ("A1", Level.GRID, "1501020010010033", "code"),
        ("A1", Level.GRID, "150102001001001", "code"),  # taken by A1g1
    ],
)
def test_node_create_validates_level_and_code_against_the_parent(city, parent, level, code, field):
    count = GridNode.objects.count()
    with pytest.raises(ValidationError) as info:
        services.node_create(actor=city.users["admin"], parent=city.nodes[parent] if parent else None,
                             level=level, code=code, name="x")
    assert field in info.value.message_dict
    assert GridNode.objects.count() == count


def test_node_create_keeps_the_parent_child_count(city):
    a1 = city.nodes["A1"]
    stale = GridNode.objects.get(pk=a1.pk)
    services.node_create(actor=city.users["street"], parent=a1, level=Level.GRID, code="150102001001003", name="x")
    # A stale parent object (numchild 2) still gets its child appended after the newest one.
    node = services.node_create(actor=city.users["street"], parent=stale, level=Level.GRID, code="150102001001004",
                                name="y")
    assert [c.code for c in GridNode.objects.get(pk=a1.pk).get_children()] == [
        "150102001001001", "150102001001002", "150102001001003", "150102001001004"]
    assert GridNode.objects.get(pk=a1.pk).numchild == 4
    assert node.get_parent() == a1


def test_node_create_needs_add_at_the_parent(city):
    with pytest.raises(PermissionDenied):
        services.node_create(actor=city.users["director"], parent=city.nodes["A1"], level=Level.GRID,
                             code="150102001001003", name="x")
    with pytest.raises(PermissionDenied):
        services.node_create(actor=city.users["street"], parent=city.nodes["B"], level=Level.COMMUNITY,
                             code="150102002002", name="x")


def test_node_update(city):
    node = city.nodes["A1g1"]
    with pytest.raises(PermissionDenied):
        services.node_update(actor=city.users["worker"], node=node, data={"name": "x"})
    with pytest.raises(ValidationError) as info:
        services.node_update(actor=city.users["director"], node=node, data={"code": "1", "level": 2})
    assert set(info.value.message_dict) == {"code", "level"}
    with pytest.raises(ValidationError) as info:
        services.node_update(actor=city.users["director"], node=node,
                             data={"boundary": {"type": "Point", "coordinates": [0, 0]}})
    assert set(info.value.message_dict) == {"boundary"}
    node.refresh_from_db()
    services.node_update(actor=city.users["director"], node=node,
                         data={"name": "新名", "centroid_lat": Decimal("40.81")})
    node.refresh_from_db()
    assert (node.name, node.centroid_lat) == ("新名", Decimal("40.81"))


@pytest.mark.parametrize(
    ("key", "blocker"),
    [
        ("A", "children"),
        ("A1g1", "household"),
        ("B1g2", "household"),
        ("district", "children"),
    ],
)
def test_node_cannot_be_deleted_with_children_or_records(city, key, blocker):
    node = city.nodes[key]
    with pytest.raises(ValidationError):
        services.node_delete(actor=city.users["admin"], node=node)
    assert GridNode.objects.filter(pk=node.pk).exists()
    assert GridNode.objects.filter(path__startswith=node.path).count() > (1 if blocker == "children" else 0)


@pytest.mark.parametrize("attached", ["place", "estate", "post", "department"])
def test_node_cannot_be_deleted_while_a_record_refers_to_it(city, attached):
    admin, grid = city.users["admin"], city.nodes["A2g2"]
    if attached == "place":
        services.record_save(actor=admin, instance=Place(grid=grid, kind=PlaceKind.BUSINESS, name="x"))
    elif attached == "estate":
        services.record_save(actor=admin, instance=Estate(grid=grid, name="x"))
    elif attached == "post":
        services.post_create(actor=admin, user=UserFactory(username="p"), role=Role.GRID_WORKER, node=grid)
    else:
        grid = city.nodes["D2"]
        for node in GridNode.objects.filter(path__startswith=grid.path).order_by("-depth"):
            if node.pk != grid.pk:
                Household.objects.filter(grid=node).delete()
                Place.objects.filter(grid=node).delete()
                for estate in Estate.objects.filter(grid=node):
                    estate.buildings.all().delete()
                    estate.delete()
                Post.objects.filter(node=node).delete()
                services.node_delete(actor=admin, node=node)
        grid.refresh_from_db()
        assert grid.numchild == 0
    with pytest.raises(ValidationError):
        services.node_delete(actor=admin, node=grid)
    assert GridNode.objects.filter(pk=grid.pk).exists()


def test_node_delete_of_an_empty_leaf(city):
    grid = city.nodes["A2g2"]
    with pytest.raises(PermissionDenied):
        services.node_delete(actor=city.users["street"], node=grid)
    services.node_delete(actor=city.users["district"], node=grid)
    assert not GridNode.objects.filter(pk=grid.pk).exists()
    assert GridNode.objects.get(pk=city.nodes["A2"].pk).numchild == 1
    # The parent takes new children again after the delete.
    services.node_create(actor=city.users["street"], parent=city.nodes["A2"], level=Level.GRID,
                         code="150102001002002", name="A2网格2")


def test_node_move_rewrites_the_subtree(city):
    a2, b = city.nodes["A2"], city.nodes["B"]
    old_path = a2.path
    node = services.node_move(actor=city.users["district"], node=a2, parent=b)
    assert node.get_parent() == b
    assert node.code == "150102002002"
    subtree = GridNode.objects.filter(path__startswith=node.path)
    assert sorted(n.code for n in subtree) == ["150102002002", "150102002002001", "150102002002002"]
    assert not GridNode.objects.filter(path__startswith=old_path).exists()
    for model in (Household, Place, Estate):
        for row in model.objects.select_related("grid"):
            assert row.grid_path == row.grid.path
    assert can(city.users["street2"], "change", Household.objects.get(pk=city.households["A2g1"].pk))
    assert not can(city.users["street"], "view", Household.objects.get(pk=city.households["A2g1"].pk))
    # The grants on the moved nodes move with them: they hang off the node rows.
    assert GridNode.objects.get(pk=city.nodes["A"].pk).numchild == 1


def test_node_move_needs_change_on_the_node_and_add_at_the_parent(city):
    with pytest.raises(PermissionDenied):
        services.node_move(actor=city.users["street"], node=city.nodes["A2"], parent=city.nodes["B"])
    with pytest.raises(PermissionDenied):
        services.node_move(actor=city.users["director"], node=city.nodes["A1g2"], parent=city.nodes["A2"])


def test_node_move_to_its_own_parent_is_a_no_op(city):
    before = list(GridNode.objects.values_list("pk", "path", "code"))
    services.node_move(actor=city.users["admin"], node=city.nodes["A1"], parent=city.nodes["A"])
    assert list(GridNode.objects.values_list("pk", "path", "code")) == before


#
# Registry
#


def test_record_save_checks_the_grant_where_the_record_is_and_goes(city):
    worker, director = city.users["worker"], city.users["director"]
    household = Household.objects.get(pk=city.households["A1g2"].pk)
    household.grid = city.nodes["A1g1"]  # from A1g2 (out of the worker's reach) into A1g1
    with pytest.raises(PermissionDenied):
        services.record_save(actor=worker, instance=household)
    assert Household.objects.get(pk=household.pk).grid_path == city.nodes["A1g2"].path
    services.record_save(actor=director, instance=household)
    assert Household.objects.get(pk=household.pk).grid_path == city.nodes["A1g1"].path


def test_record_save_refuses_a_read_only_user(city):
    with pytest.raises(PermissionDenied):
        services.record_save(actor=city.users["dept"], instance=Household(grid=city.nodes["A1g1"], address="x"))
    with pytest.raises(PermissionDenied):
        services.record_delete(actor=city.users["dept"], instance=city.places["A1g1"])
    assert Place.objects.filter(pk=city.places["A1g1"].pk).exists()


def test_household_save_is_all_or_nothing(city):
    counts = (Household.objects.count(), Resident.objects.count())
    with pytest.raises(ValidationError):
        services.household_save(
            actor=city.users["worker"], household=Household(grid=city.nodes["A1g1"], address="x"),
            residents=[{"name": "a", "id_number": make_id_number("150102", "19900101", 1)},
                       {"name": "b", "id_number": "150102199001010010"}],
        )
    assert (Household.objects.count(), Resident.objects.count()) == counts


def test_household_save_refuses_a_resident_of_another_household(city):
    household = city.households["A1g1"]
    other = city.households["A1g2"].residents.get()
    with pytest.raises(ValidationError) as info:
        services.household_save(actor=city.users["director"], household=household,
                                residents=[{"id": other.pk, "name": "偷"}])
    assert "residents" in info.value.message_dict
    other.refresh_from_db()
    assert other.household_id == city.households["A1g2"].pk and other.name != "偷"
    assert household.residents.count() == 1


def test_household_save_without_residents_leaves_them(city):
    household = city.households["A1g1"]
    household.head_name = "新"
    services.household_save(actor=city.users["worker"], household=household)
    assert household.residents.count() == 1


#
# Posts
#


def test_post_create_rejects_a_role_at_the_wrong_level(city):
    user = UserFactory(username="p")
    with pytest.raises(ValidationError) as info:
        services.post_create(actor=city.users["admin"], user=user, role=Role.GRID_WORKER, node=city.nodes["A1"])
    assert "node" in info.value.message_dict
    assert not Post.objects.filter(user=user).exists()
    assert not can(user, "view", city.nodes["A1"])


def test_department_staff_are_posted_at_their_department_node(city):
    user = UserFactory(username="p")
    post = services.post_create(actor=city.users["admin"], user=user, role=Role.DEPARTMENT_STAFF,
                                department=city.departments["water"])
    assert post.node == city.nodes["D2"]
    assert can(user, "view", city.households["C1g1"])
    assert not can(user, "change", city.households["C1g1"])
    assert not can(user, "view", city.households["A1g1"])


def test_department_staff_post_needs_manage_posts_at_the_department(city):
    with pytest.raises(PermissionDenied):
        services.post_create(actor=city.users["street"], user=UserFactory(username="p"),
                             role=Role.DEPARTMENT_STAFF, department=city.department)


def test_a_duplicate_post_is_refused(city):
    with pytest.raises(ValidationError):
        services.post_create(actor=city.users["admin"], user=city.users["worker"], role=Role.GRID_WORKER,
                             node=city.nodes["A1g1"])
    assert Post.objects.filter(user=city.users["worker"]).count() == 1


#
# Selectors
#


def test_locate_finds_the_grid_containing_a_point(city):
    assert selectors.locate(40.82, 111.61) == city.nodes["A1g1"]
    assert selectors.locate(40.87, 111.61) == city.nodes["A1g2"]
    assert selectors.locate(40.82, 111.65) == city.nodes["A2g1"]
    assert selectors.locate(40.88, 111.68) == city.nodes["B1g2"]
    assert selectors.locate(40.85, 111.85) == city.nodes["C1g1"]


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (40.85, 111.75),  # inside the district, in no grid
        (0, 0),
        (40.95, 111.61),  # just north of A1g2
        (-89.9, -179.9),
    ],
)
def test_locate_outside_every_grid_is_none(city, lat, lon):
    assert selectors.locate(lat, lon) is None


def test_locate_skips_a_bounding_box_hit_outside_the_polygon(city):
    grid = city.nodes["A2g2"]
    triangle = {"type": "Polygon", "coordinates": [[[111.64, 40.86], [111.66, 40.86], [111.64, 40.89],
                                                     [111.64, 40.86]]]}
    services.node_update(actor=city.users["admin"], node=grid, data={"boundary": triangle})
    assert selectors.locate(40.865, 111.645) == grid
    assert selectors.locate(40.885, 111.655) is None  # in the box, outside the triangle


def test_grid_centre_is_the_centroid_else_the_middle_of_the_box(city):
    grid = city.nodes["A1g1"]
    assert selectors.grid_centre(grid) == (Decimal("40.825000"), Decimal("111.616666"))
    grid.centroid_lat, grid.centroid_lon = Decimal("40.81"), Decimal("111.61")
    assert selectors.grid_centre(grid) == (Decimal("40.81"), Decimal("111.61"))
    grid.centroid_lat = grid.boundary = None
    grid.min_lat = None
    assert selectors.grid_centre(grid) == (None, None)


def test_node_list_annotates_parent_and_household_counts(city):
    nodes = {n.pk: n for n in selectors.node_list(user=city.users["district"])}
    assert nodes[city.nodes["district"].pk].household_count == 5
    assert nodes[city.nodes["A"].pk].household_count == 3
    assert nodes[city.nodes["A2g2"].pk].household_count == 0
    assert nodes[city.nodes["A1"].pk].parent_pk == city.nodes["A"].pk
    assert nodes[city.nodes["district"].pk].parent_pk == city.nodes["city"].pk
    assert city.nodes["city"].pk not in nodes


def test_node_ancestors(city):
    assert list(selectors.node_ancestors(city.nodes["A1g1"])) == [city.nodes[k] for k in
                                                                   ("city", "district", "A", "A1")]
    assert list(selectors.node_ancestors(city.nodes["city"])) == []


def test_department_and_post_lists_are_scoped(city):
    assert set(selectors.department_list(user=city.users["district"])) == {city.department}
    assert set(selectors.department_list(user=city.users["admin"])) == set(Department.objects.all())
    assert {p.user.username for p in selectors.post_list(user=city.users["director"])} == {"director", "worker"}


def test_posts_sync_grants_adds_what_roles_gained_and_nothing_else(city):
    worker, node = city.users["worker"], city.nodes["A1g1"]
    remove_perm("grid.change_registry", worker, node)
    assign_perm("grid.view_personal_id", worker, node)  # an explicit grant must survive

    assert services.posts_sync_grants() == 1

    assert set(get_perms(worker, node)) == ROLE_PERMISSIONS[Role.GRID_WORKER] | {"view_personal_id"}
    assert services.posts_sync_grants() == 0
