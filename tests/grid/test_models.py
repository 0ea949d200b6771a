"""Models of the grid and their helpers: ID numbers, boundaries, grid paths, posts, departments."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from grid.geo import bbox_of, contains, rectangle, validate_boundary
from grid.idnumbers import check_digit, make_id_number, mask_id_number, validate_id_number
from grid.models import Department, Estate, GridNode, Household, Level, Place, PlaceKind, Post, Resident, Role
from tests.factories import UserFactory

#
# ID card numbers
#


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "150102198001010014", make_id_number("150102", "20000229", 7)]
)
def test_valid_id_numbers(number):
    validate_id_number(number)


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check digit (X expected)
        "11010519491231002",  # 17 characters
        "11010519491231002X1",  # 19 characters
        "11010519491231002x",  # lower-case x
        "1101051949123100AX",  # a letter among the digits
        "1101**********002X",  # a mask
        "",
    ],
)
def test_invalid_id_numbers(number):
    with pytest.raises(ValidationError) as info:
        validate_id_number(number)
    assert info.value.code == "invalid_id"


def test_check_digit_and_make_id_number():
    assert check_digit("11010519491231002") == "X"
    number = make_id_number("150102", "19800101", 1234)
    assert number.startswith("15010219800101234")
    assert number[-1] == check_digit(number[:17])


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("150102198001011234", "1501**********1234"),
        ("11010519491231002X", "1101**********002X"),
        ("12345678", "********"),
        ("", ""),
    ],
)
def test_mask_id_number(number, masked):
    assert mask_id_number(number) == masked


def test_resident_validates_its_id_number(city):
    resident = Resident(household=city.households["A1g1"], name="x", id_number="110105194912310021")
    with pytest.raises(ValidationError) as info:
        resident.full_clean()
    assert "id_number" in info.value.message_dict


def test_the_database_keeps_one_registration_per_id_number(city):
    """Unique on the keyed hash, registrations under review as duplicates aside. Who learns that a number
    is taken is the service's decision (tests/grid/test_id_numbers.py), not a model validation message."""
    taken = city.households["A1g1"].residents.get().id_number
    with pytest.raises(IntegrityError), transaction.atomic():
        Resident.objects.create(household=city.households["B1g1"], name="x", id_number=taken)
    duplicate = Resident.objects.create(household=city.households["B1g1"], name="x", id_number=taken, duplicate=True)
    assert duplicate.id_number_hash == Resident.objects.get(household=city.households["A1g1"]).id_number_hash
    assert taken not in duplicate.id_number_hash


#
# Boundaries
#

BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.mark.parametrize(
    "boundary",
    [
        {"type": "Point", "coordinates": [111.6, 40.8]},
        {"type": "LineString", "coordinates": [[111.6, 40.8], [111.7, 40.9]]},
        [[111.6, 40.8], [111.7, 40.8], [111.7, 40.9]],
        "POLYGON ((0 0, 1 0, 1 1, 0 0))",
        BOWTIE,
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]},  # too few points
        {"type": "Polygon", "coordinates": "nonsense"},
        {"type": "Polygon"},
        {"type": "Polygon", "coordinates": []},  # empty
        rectangle(40.80, 111.60, 40.90, 111.70),  # latitude and longitude swapped: latitude > 90
        {"type": "MultiPolygon", "coordinates": [BOWTIE["coordinates"]]},
    ],
)
def test_boundary_validation_rejects(boundary):
    with pytest.raises(ValidationError) as info:
        validate_boundary(boundary)
    assert info.value.code == "invalid_boundary"


@pytest.mark.parametrize(
    "boundary",
    [
        rectangle(111.6, 40.8, 111.7, 40.9),
        {"type": "MultiPolygon", "coordinates": [rectangle(0, 0, 1, 1)["coordinates"],
                                                 rectangle(2, 2, 3, 3)["coordinates"]]},
    ],
)
def test_boundary_validation_accepts(boundary):
    validate_boundary(boundary)


def test_node_full_clean_rejects_a_self_intersecting_boundary(city):
    node = city.nodes["A1g1"]
    node.boundary = BOWTIE
    with pytest.raises(ValidationError) as info:
        node.full_clean()
    assert "boundary" in info.value.message_dict


def test_node_save_keeps_the_bounding_box(city):
    node = city.nodes["A1g1"]
    node.boundary = rectangle(111.61, 40.81, 111.62, 40.82)
    node.save()
    node.refresh_from_db()
    assert (node.min_lon, node.min_lat, node.max_lon, node.max_lat) == pytest.approx((111.61, 40.81, 111.62, 40.82))
    node.boundary = None
    node.save()
    node.refresh_from_db()
    assert node.min_lat is None and node.max_lon is None


def test_contains_includes_the_edge():
    box = rectangle(0, 0, 1, 1)
    assert contains(box, 0.5, 0.5)
    assert contains(box, 0, 0.5)  # on the edge
    assert not contains(box, 1.5, 0.5)
    assert bbox_of(box) == (0, 0, 1, 1)


#
# The tree
#


def test_level_is_the_depth(city):
    node = city.nodes["A1"]
    assert [city.nodes[k].level for k in ("city", "district", "A", "A1", "A1g1")] == [1, 2, 3, 4, 5]
    with pytest.raises(IntegrityError), transaction.atomic():
        GridNode.objects.filter(pk=node.pk).update(level=Level.GRID)


def test_node_code_is_digits_only(city):
    node = city.nodes["A1"]
    node.code = "15010200100A"
    with pytest.raises(ValidationError) as info:
        node.full_clean()
    assert "code" in info.value.message_dict


def test_ancestor_paths_root_first_without_queries(city, django_assert_num_queries):
    grid = city.nodes["A1g1"]
    with django_assert_num_queries(0):
        paths = grid.ancestor_paths()
    assert paths == [city.nodes[k].path for k in ("city", "district", "A", "A1")]
    assert city.nodes["city"].ancestor_paths() == []


#
# Registry records
#


def test_grid_record_save_keeps_grid_path_equal_to_the_grid_path(city):
    household = city.households["A1g1"]
    assert household.grid_path == city.nodes["A1g1"].path
    household.grid = city.nodes["B1g2"]
    household.save()
    household.refresh_from_db()
    assert household.grid_path == city.nodes["B1g2"].path
    for model in (Household, Place, Estate):
        for row in model.objects.select_related("grid"):
            assert row.grid_path == row.grid.path


def test_grid_record_save_ignores_a_forged_path(city):
    place = Place(grid=city.nodes["A1g1"], kind=PlaceKind.PUBLIC_PLACE, name="公园", grid_path=city.nodes["C1g1"].path)
    place.save()
    assert Place.objects.get(pk=place.pk).grid_path == city.nodes["A1g1"].path


@pytest.mark.parametrize(
    ("model", "fields"),
    [(Household, {"address": "x"}), (Place, {"name": "x", "kind": PlaceKind.BUSINESS}), (Estate, {"name": "x"})],
)
def test_records_are_registered_in_a_grid(city, model, fields):
    record = model(grid=city.nodes["A1"], **fields)
    with pytest.raises(ValidationError) as info:
        record.full_clean()
    assert "grid" in info.value.message_dict


def test_household_building_must_be_in_its_grid(city):
    household = city.households["A1g1"]
    household.building = city.estates["A1g2"].buildings.get()
    with pytest.raises(ValidationError) as info:
        household.full_clean()
    assert "building" in info.value.message_dict
    household.building = city.estates["A1g1"].buildings.get()
    household.full_clean()


#
# Departments and posts
#


@pytest.mark.parametrize(("key", "ok"), [("city", True), ("district", True), ("A", False), ("A1g1", False)])
def test_department_belongs_to_a_district_or_the_city(city, key, ok):
    department = Department(node=city.nodes[key], code=f"dept-{key.lower()}", name=f"部门{key}")
    if ok:
        department.full_clean()
    else:
        with pytest.raises(ValidationError) as info:
            department.full_clean()
        assert "node" in info.value.message_dict


@pytest.mark.parametrize(
    ("role", "key", "ok"),
    [
        (Role.GRID_WORKER, "A1g1", True),
        (Role.GRID_WORKER, "A1", False),
        (Role.COMMUNITY_DIRECTOR, "A1", True),
        (Role.COMMUNITY_DIRECTOR, "A", False),
        (Role.STREET_OFFICER, "A", True),
        (Role.STREET_OFFICER, "district", False),
        (Role.DISTRICT_COMMANDER, "district", True),
        (Role.DISTRICT_COMMANDER, "city", False),
    ],
)
def test_post_role_must_match_the_node_level(city, role, key, ok):
    post = Post(user=UserFactory(username="p"), role=role, node=city.nodes[key])
    if ok:
        post.full_clean()
    else:
        with pytest.raises(ValidationError) as info:
            post.full_clean()
        assert "node" in info.value.message_dict


def test_department_staff_are_posted_at_the_department_node(city):
    post = Post(user=UserFactory(username="p"), role=Role.DEPARTMENT_STAFF, node=city.nodes["A1g1"],
                department=city.departments["water"])
    post.full_clean()
    assert post.node_id == city.nodes["D2"].pk


def test_department_iff_department_staff(city):
    user = UserFactory(username="p")
    with pytest.raises(ValidationError) as info:
        Post(user=user, role=Role.DEPARTMENT_STAFF, node=city.nodes["district"]).full_clean()
    assert "department" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        Post(user=user, role=Role.GRID_WORKER, node=city.nodes["A1g1"], department=city.department).full_clean()
    assert "department" in info.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        Post.objects.create(user=user, role=Role.GRID_WORKER, node=city.nodes["A1g1"], department=city.department)
