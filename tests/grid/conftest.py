"""The grid suite's city: built once per package (through the real services) inside an outer
transaction that is rolled back when the package is done; every test runs in its own savepoint on
top of it and gets fresh Python objects, so cached grants never leak from one test to another.

On top of tests.factories.CityBuilder it adds what the permission matrix needs:

* a second district D2 → street C → community C1 → grid C1g1, with a household, a place, a
  department ("water") and a grid worker (worker3) of its own: a sibling subtree for the district;
* a household in B1g2 and a department at the city ("citymgmt");
* a place and an estate with one building in every grid that holds a household (RECORD_GRIDS).
"""

import sys
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from grid import services
from grid.geo import rectangle
from grid.models import Building, Department, Estate, GridNode, Household, Place, PlaceKind, Post, Role
from tests.factories import CityBuilder, UserFactory

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


@pytest.fixture(scope="package")
def city_state(django_db_setup, django_db_blocker):
    """Primary keys of the package-wide city (the rows live in the open outer transaction)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            ns = CityBuilder().build()
            _extend(ns)
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(*sys.exc_info())
            raise
    yield SimpleNamespace(
        nodes={key: node.pk for key, node in ns.nodes.items()},
        users={key: user.pk for key, user in ns.users.items()},
        households={key: household.pk for key, household in ns.households.items()},
        places={key: place.pk for key, place in ns.places.items()},
        departments={key: department.pk for key, department in ns.departments.items()},
        estates={key: estate.pk for key, estate in ns.estates.items()},
    )
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


def _fresh(model, pks: dict) -> dict:
    rows = model._default_manager.in_bulk(list(pks.values()))
    return {key: rows[pk] for key, pk in pks.items()}


@pytest.fixture
def city(db, city_state):
    """Fresh instances of the city's rows for this test (changes roll back with the test)."""
    nodes = _fresh(GridNode, city_state.nodes)
    users = _fresh(get_user_model(), city_state.users)
    departments = _fresh(Department, city_state.departments)
    posts = {post.user.username: post for post in Post.objects.select_related("user", "node")}
    return SimpleNamespace(
        nodes=nodes,
        users=users,
        admin=users["admin"],
        households=_fresh(Household, city_state.households),
        places=_fresh(Place, city_state.places),
        departments=departments,
        estates=_fresh(Estate, city_state.estates),
        department=departments["sanitation"],
        posts=posts,
    )

