"""issues.selectors.report_grid_list and the field app's own reads."""

import pytest

from field.selectors import field_roles, patrol_grids, report_grid_options
from grid.models import Role
from issues.selectors import report_grid_list


@pytest.mark.parametrize(
    ("username", "grids"),
    [
        ("worker", ["A1g1"]),
        ("director", ["A1g1", "A1g2"]),
        ("street", ["A1g1", "A1g2", "A2g1", "A2g2"]),
        ("worker2", ["B1g1"]),
        ("dept", []),
        ("citizen", []),
    ],
)
def test_report_grids_are_where_case_report_accepts_a_report(city, username, grids):
    found = list(report_grid_list(user=city.users[username]))
    assert found == [city.nodes[key] for key in grids]


def test_field_roles_are_the_posts_in_the_grid_tree(city):
    assert field_roles(city.users["worker"]) == {Role.GRID_WORKER}
    assert field_roles(city.users["dept"]) == frozenset()
    assert field_roles(city.users["citizen"]) == frozenset()
    city.users["worker"].is_active = False
    assert field_roles(city.users["worker"]) == frozenset()


def test_report_grid_options_carry_the_outer_ring_and_the_centre(city):
    grid = city.nodes["A1g1"]
    grid.boundary = {"type": "MultiPolygon", "coordinates": [grid.boundary["coordinates"]]}
    [option] = report_grid_options([grid])
    assert option["id"] == grid.pk and option["name"] == grid.name
    assert option["rings"] == [grid.boundary["coordinates"][0][0]]
    assert (option["lat"], option["lon"]) == ("40.825000", "111.616666")


@pytest.mark.parametrize(
    ("username", "grids"),
    [
        ("worker", {"A1g1": True}),
        ("director", {"A1g1": True, "A1g2": True}),
        ("street", {"A1g1": False, "A1g2": False, "A2g1": False, "A2g2": False}),  # sees, does not patrol
        ("admin", dict.fromkeys(("A1g1", "A1g2", "A2g1", "A2g2", "B1g1", "B1g2"), True)),
        ("citizen", {}),
    ],
)
def test_patrol_grids_are_the_registry_i_see_marked_where_i_record_visits(city, username, grids):
    found = {grid.pk: grid.can_record for grid in patrol_grids(user=city.users[username])}
    assert found == {city.nodes[key].pk: can_record for key, can_record in grids.items()}
