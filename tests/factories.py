"""Test data built through the real services, so tests exercise the code paths users hit."""

from types import SimpleNamespace

import factory
from django.contrib.auth import get_user_model

from grid import services
from grid.geo import rectangle
from grid.idnumbers import make_id_number
from grid.models import Department, Household, Level, Role

PASSWORD = "civic-test-pw"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password(PASSWORD)


class CityBuilder:
    """City → district → streets A and B → communities A1, A2, B1 → two grids each.

    Users: admin (superuser), district, street (A), street2 (B), director (A1), worker (A1 grid 1),
    worker2 (B1 grid 1), dept (sanitation, district level), citizen (no post).
    """

    def build(self) -> SimpleNamespace:
        admin = UserFactory(username="admin", is_superuser=True)
        ns = SimpleNamespace(admin=admin, nodes={}, users={"admin": admin})
        city = services.node_create(actor=admin, parent=None, level=Level.CITY, code="1501", name="呼和浩特市")
        district = self._node(admin, city, "02", "新城区", (111.60, 40.80, 111.80, 40.90))
        ns.nodes.update(city=city, district=district)
        layout = {"A": ("001", ["A1", "A2"]), "B": ("002", ["B1"])}
        lon = 111.60
        for street_key, (street_code, communities) in layout.items():
            width = 0.1 * len(communities) / 3
            street = self._node(admin, district, street_code, f"街道{street_key}", (lon, 40.80, lon + width, 40.90))
            ns.nodes[street_key] = street
            for i, community_key in enumerate(communities, start=1):
                c_lon = lon + (i - 1) * width / len(communities)
                c_box = (c_lon, 40.80, c_lon + width / len(communities), 40.90)
                community = self._node(admin, street, f"{i:03d}", f"社区{community_key}", c_box)
                ns.nodes[community_key] = community
                for g in (1, 2):
                    g_box = (c_box[0], 40.80 + (g - 1) * 0.05, c_box[2], 40.80 + g * 0.05)
                    grid = self._node(admin, community, f"{g:03d}", f"{community_key}网格{g}", g_box)
                    ns.nodes[f"{community_key}g{g}"] = grid
            lon += width
        ns.department = Department.objects.create(node=district, code="sanitation", name="环卫局")
        posts = {
            "district": dict(role=Role.DISTRICT_COMMANDER, node=district),
            "street": dict(role=Role.STREET_OFFICER, node=ns.nodes["A"]),
            "street2": dict(role=Role.STREET_OFFICER, node=ns.nodes["B"]),
            "director": dict(role=Role.COMMUNITY_DIRECTOR, node=ns.nodes["A1"]),
            "worker": dict(role=Role.GRID_WORKER, node=ns.nodes["A1g1"]),
            "worker2": dict(role=Role.GRID_WORKER, node=ns.nodes["B1g1"]),
            "dept": dict(role=Role.DEPARTMENT_STAFF, department=ns.department),
        }
        for username, post in posts.items():
            user = UserFactory(username=username)
            services.post_create(actor=admin, user=user, **post)
            ns.users[username] = user
        ns.users["citizen"] = UserFactory(username="citizen", is_staff=False)
        ns.households = {}
        for seq, key in enumerate(("A1g1", "A1g2", "A2g1", "B1g1"), start=1):
            ns.households[key] = self._household(admin, ns.nodes[key], key, seq)
        return ns

    @staticmethod
    def _node(actor, parent, segment, name, box):
        return services.node_create(
            actor=actor, parent=parent, level=parent.level + 1, code=parent.code + segment, name=name,
            boundary=rectangle(*box),
        )

    @staticmethod
    def _household(actor, grid, key, seq):
        household = Household(grid=grid, address=f"{grid.name} 1号楼 101", head_name=f"户主{key}")
        return services.household_save(
            actor=actor, household=household,
            residents=[{"name": f"居民{key}", "id_number": make_id_number("150102", "19800101", seq)}],
        )
