"""The grid suite's city: built once per package through the real services (tests/support/city.py);
every test runs in its own savepoint on top of it and gets fresh Python objects, so cached grants
never leak from one test to another.

On top of tests.factories.CityBuilder it adds what the permission matrix needs:

* a second district D2 → street C → community C1 → grid C1g1, with a household, a place, a
  department ("water") and a grid worker (worker3) of its own: a sibling subtree for the district;
* a household in B1g2 and a department at the city ("citymgmt");
* a place and an estate with one building in every grid that holds a household (RECORD_GRIDS).
"""

from types import SimpleNamespace

import pytest

from grid import services
from grid.geo import rectangle
from grid.models import Building, Department, Estate, Place, PlaceKind, Post, Role
from tests.factories import CityBuilder, UserFactory
from tests.support.city import built_once, restore

# Grids holding a household, a place and an estate (with one building) each.
RECORD_GRIDS = ("A1g1", "A1g2", "A2g1", "B1g1", "B1g2", "C1g1")


def _extend(ns) -> None:
    admin = ns.admin
    city = ns.nodes["city"]
    box = (111.80, 40.80, 111.90, 40.90)
    parent = city
    for key, segment, name in (("D2", "03", "回民区"), ("C", "001", "街道C"), ("C1", "001", "社区C1"),
                               ("C1g1", "001", "C1网格1")):
        parent = services.node_create(
            actor=admin, parent=parent, level=parent.level + 1, code=parent.code + segment, name=name,
            boundary=rectangle(*box),
        )
        ns.nodes[key] = parent
    for seq, key in enumerate(("B1g2", "C1g1"), start=5):
        ns.households[key] = CityBuilder._household(admin, ns.nodes[key], key, seq)
    ns.departments = {"sanitation": ns.department}
    for code, name, node in (("citymgmt", "城管局", city), ("water", "水务局", ns.nodes["D2"])):
        ns.departments[code] = services.record_save(actor=admin, instance=Department(node=node, code=code, name=name))
    worker3 = UserFactory(username="worker3")
    services.post_create(actor=admin, user=worker3, role=Role.GRID_WORKER, node=ns.nodes["C1g1"])
    ns.users["worker3"] = worker3
    ns.places = {
        key: services.record_save(
            actor=admin,
            instance=Place(grid=ns.nodes[key], kind=PlaceKind.BUSINESS, name=f"商店{key}", address=f"{key}商铺1号"),
        )
        for key in RECORD_GRIDS
    }
    ns.estates = {}
    for key in RECORD_GRIDS:
        estate = services.record_save(actor=admin, instance=Estate(grid=ns.nodes[key], name=f"小区{key}"))
        services.record_save(actor=admin, instance=Building(estate=estate, number="1", floors=6))
        ns.estates[key] = estate


def _build() -> SimpleNamespace:
    ns = CityBuilder().build()
    _extend(ns)
    return ns


@pytest.fixture(scope="package")
def city_state(django_db_setup, django_db_blocker):
    """The package-wide city (tests/support/city.py: built once, rolled back when the package is done)."""
    with built_once(django_db_blocker, _build) as snapshot:
        yield snapshot


@pytest.fixture
def city(db, city_state):
    """Fresh instances of the city's rows for this test (changes roll back with the test)."""
    city = restore(city_state)
    city.posts = {post.user.username: post for post in Post.objects.select_related("user", "node")}
    return city
