"""The grid API (/api/v1/grid/): filters, the tree's writes, the registry, masking, the error
shape, authentication, the schema and the query budget of the lists."""

import re

import pytest
from guardian.shortcuts import assign_perm

from grid import services
from grid.idnumbers import make_id_number
from grid.models import Estate, GridNode, Household, Level, Place, PlaceKind, Post, Resident
from grid.permissions import forget_grants
from tests.factories import PASSWORD, UserFactory
from tests.grid.utils import API, api_client, assert_error_shape, result_ids

MASKED = re.compile(r"^\d{4}\*{10}[\dX]{4}$")


def _ids(city, *keys) -> set[int]:
    return {city.nodes[key].pk for key in keys}


def _tree(city) -> list[tuple]:
    return list(GridNode.objects.order_by("pk").values_list("pk", "path", "code", "depth", "numchild"))


#
# Nodes: reads
#


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"level": Level.GRID}, {"A1g1", "A1g2", "A2g1", "A2g2", "B1g1", "B1g2"}),
        ({"level": Level.STREET_OFFICE}, {"A", "B"}),
        ({"parent": "A"}, {"A1", "A2"}),
        ({"parent": "A1g1"}, set()),
        ({"subtree": "A1"}, {"A1", "A1g1", "A1g2"}),
        ({"subtree": "B", "level": Level.GRID}, {"B1g1", "B1g2"}),
        ({"code": "150102001002"}, {"A2"}),
        ({"name": "网格2"}, {"A1g2", "A2g2", "B1g2"}),
    ],
)
def test_node_filters(city, params, expected):
    query = {key: city.nodes[value].pk if key in ("parent", "subtree") else value for key, value in params.items()}
    response = api_client(city.users["district"]).get(f"{API}/nodes/", query)
    assert result_ids(response) == _ids(city, *expected)


@pytest.mark.parametrize("param", ["parent", "subtree"])
def test_node_filters_refuse_nodes_out_of_scope(city, param):
    """Filtering by a node the user cannot see is an invalid choice, not a window into it."""
    response = api_client(city.users["street"]).get(f"{API}/nodes/", {param: city.nodes["B"].pk})
    error = assert_error_shape(response, 400)
    assert param in error["fields"]


def test_node_list_rows(city):
    response = api_client(city.users["street"]).get(f"{API}/nodes/", {"code": city.nodes["A1"].code})
    (row,) = response.json()["results"]
    assert row["parent_id"] == city.nodes["A"].pk
    assert row["children_count"] == 2
    assert row["household_count"] == 2
    assert row["level"] == Level.COMMUNITY


def test_node_detail_lists_ancestors_root_first(city):
    response = api_client(city.users["worker"]).get(f"{API}/nodes/{city.nodes['A1g1'].pk}/")
    assert response.status_code == 200
    body = response.json()
    assert [a["id"] for a in body["ancestors"]] == [city.nodes[k].pk for k in ("city", "district", "A", "A1")]
    assert [a["level"] for a in body["ancestors"]] == [1, 2, 3, 4]
    assert body["parent_id"] == city.nodes["A1"].pk
    assert body["household_count"] == 1


def test_household_and_place_filters(city):
    client = api_client(city.users["district"])
    response = client.get(f"{API}/households/", {"node": city.nodes["A"].pk})
    assert result_ids(response) == {city.households[k].pk for k in ("A1g1", "A1g2", "A2g1")}
    response = client.get(f"{API}/places/", {"node": city.nodes["B1g2"].pk, "kind": PlaceKind.BUSINESS})
    assert result_ids(response) == {city.places["B1g2"].pk}
    response = client.get(f"{API}/places/", {"kind": PlaceKind.PUBLIC_PLACE})
    assert result_ids(response) == set()


#
# Nodes: writes
#


def _create(client, parent, level, code, name="新节点"):
    return client.post(f"{API}/nodes/", {"parent": parent.pk, "level": level, "code": code, "name": name},
                       format="json")


def test_node_create(city):
    client = api_client(city.users["street"])
    response = _create(client, city.nodes["A2"], Level.GRID, "150102001002003")
    assert response.status_code == 201, response.content
    node = GridNode.objects.get(code="150102001002003")
    assert node.get_parent() == city.nodes["A2"]
    assert response.json()["parent_id"] == city.nodes["A2"].pk
    assert response.json()["ancestors"][-1]["id"] == city.nodes["A2"].pk


@pytest.mark.parametrize(
    ("parent", "level", "code", "field"),
    [
        ("A", Level.GRID, "150102001003", "level"),  # a grid directly under a street office
        ("A", Level.COMMUNITY, "150102001001", "code"),  # A1's code
        ("A", Level.COMMUNITY, "150102002009", "code"),  # does not extend A's code
        ("A", Level.COMMUNITY, "1501020010091", "code"),  # one digit too many
        ("A1g1", Level.GRID, "150102001001001001", "parent"),  # below a grid
    ],
)
def test_node_create_refuses_bad_placement(city, parent, level, code, field):
    before = _tree(city)
    response = _create(api_client(city.users["district"]), city.nodes[parent], level, code)
    error = assert_error_shape(response, 400)
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert _tree(city) == before


def test_node_create_needs_add_at_the_parent(city):
    before = _tree(city)
    # The director may change A1 but not add under it; a street officer cannot see street B.
    response = _create(api_client(city.users["director"]), city.nodes["A1"], Level.GRID, "150102001001009")
    assert_error_shape(response, 403)
    response = _create(api_client(city.users["street"]), city.nodes["B"], Level.COMMUNITY, "150102002009")
    assert "parent" in assert_error_shape(response, 400)["fields"]
    response = api_client(city.users["district"]).post(
        f"{API}/nodes/", {"level": Level.CITY, "code": "1502", "name": "包头市"}, format="json"
    )
    assert "parent" in assert_error_shape(response, 400)["fields"]
    assert _tree(city) == before


def test_node_update_changes_only_descriptive_fields(city):
    node = city.nodes["A1"]
    response = api_client(city.users["director"]).patch(
        f"{API}/nodes/{node.pk}/", {"name": "新名", "code": "150102001009", "level": 5}, format="json"
    )
    assert response.status_code == 200, response.content
    node.refresh_from_db()
    assert (node.name, node.code, node.level) == ("新名", "150102001001", Level.COMMUNITY)


@pytest.mark.parametrize(
    "boundary",
    [{"type": "Point", "coordinates": [111.6, 40.8]},
     {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}],
)
def test_node_update_refuses_a_bad_boundary(city, boundary):
    node = city.nodes["A1g1"]
    response = api_client(city.users["director"]).patch(f"{API}/nodes/{node.pk}/", {"boundary": boundary},
                                                        format="json")
    error = assert_error_shape(response, 400)
    assert list(error["fields"]) == ["boundary"]
    node.refresh_from_db()
    assert node.boundary["type"] == "Polygon" and node.min_lat is not None


def test_node_move_rewrites_codes_and_every_grid_path(city):
    a2, b = city.nodes["A2"], city.nodes["B"]
    response = api_client(city.users["district"]).post(f"{API}/nodes/{a2.pk}/move/", {"parent": b.pk}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["parent_id"] == b.pk
    assert body["code"] == "150102002002"
    assert [a["id"] for a in body["ancestors"]] == [city.nodes[k].pk for k in ("city", "district", "B")]

    a2.refresh_from_db()
    b.refresh_from_db()
    assert a2.get_parent() == b
    assert a2.path.startswith(b.path)
    assert {n.code for n in GridNode.objects.filter(pk__in=_ids(city, "A2g1", "A2g2"))} == {
        "150102002002001", "150102002002002"}
    for node in GridNode.objects.filter(pk__in=_ids(city, "A2g1", "A2g2")):
        assert node.get_parent() == a2
        assert node.code.startswith(a2.code)
    assert GridNode.objects.get(pk=city.nodes["A"].pk).numchild == 1
    assert b.numchild == 2
    for model in (Household, Place, Estate):
        rows = list(model.objects.select_related("grid"))
        assert rows
        for row in rows:
            assert row.grid_path == row.grid.path, (model.__name__, row.pk)
    moved = Household.objects.get(pk=city.households["A2g1"].pk)
    assert moved.grid_path.startswith(b.path)
    # Scoping follows the move at once: street officer B now sees the household, A no longer does.
    assert moved.pk in result_ids(api_client(city.users["street2"]).get(f"{API}/households/"))
    assert moved.pk not in result_ids(api_client(city.users["street"]).get(f"{API}/households/"))


@pytest.mark.parametrize(
    ("node", "parent", "user"),
    [
        ("A1", "A1", "district"),  # under itself
        ("A", "A1", "district"),  # under its own descendant
        ("A", "A1g1", "district"),
        ("A1", "B1", "district"),  # under a node of its own level
        ("A1", "B", "street"),  # under a street office the actor cannot see
    ],
)
def test_node_move_refused_changes_nothing(city, node, parent, user):
    before = _tree(city)
    paths = sorted(Household.objects.values_list("pk", "grid_path"))
    response = api_client(city.users[user]).post(
        f"{API}/nodes/{city.nodes[node].pk}/move/", {"parent": city.nodes[parent].pk}, format="json"
    )
    assert "parent" in assert_error_shape(response, 400)["fields"]
    assert _tree(city) == before
    assert sorted(Household.objects.values_list("pk", "grid_path")) == paths


def test_node_move_refuses_a_code_taken_under_the_new_parent(city):
    before = _tree(city)
    response = api_client(city.users["district"]).post(
        f"{API}/nodes/{city.nodes['A1'].pk}/move/", {"parent": city.nodes["B"].pk}, format="json"
    )
    assert "code" in assert_error_shape(response, 400)["fields"]  # B1 already is 150102002001
    assert _tree(city) == before


@pytest.mark.parametrize(
    ("key", "user", "status"),
    [
        ("A", "district", 400),  # has children
        ("A1g1", "district", 400),  # a household is registered in it
        ("A2g2", "street", 403),  # a street officer holds no delete_gridnode
        ("A2g2", "district", 204),  # a leaf without records
    ],
)
def test_node_delete(city, key, user, status):
    node = city.nodes[key]
    response = api_client(city.users[user]).delete(f"{API}/nodes/{node.pk}/")
    if status == 204:
        assert response.status_code == 204
        assert not GridNode.objects.filter(pk=node.pk).exists()
        assert GridNode.objects.get(pk=city.nodes["A2"].pk).numchild == 1
    else:
        assert_error_shape(response, status)
        assert GridNode.objects.filter(pk=node.pk).exists()


#
# Households and residents
#


def _id(seq: int) -> str:
    return make_id_number("150102", "19900101", seq)


def test_household_create_with_residents(city):
    response = api_client(city.users["worker"]).post(
        f"{API}/households/",
        {"grid": city.nodes["A1g1"].pk, "address": "一号楼 202", "head_name": "张三",
         "residents": [{"name": "张三", "id_number": _id(1), "relation": "本人"},
                       {"name": "李四", "id_number": _id(2), "relation": "配偶"}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    household = Household.objects.get(pk=response.json()["id"])
    assert household.grid_path == city.nodes["A1g1"].path
    assert sorted(household.residents.values_list("id_number", flat=True)) == sorted([_id(1), _id(2)])
    assert all(MASKED.match(r["id_number"]) for r in response.json()["residents"])


def test_household_update_replaces_residents_and_keeps_omitted_numbers(city):
    household = city.households["A1g1"]
    resident = household.residents.get()
    response = api_client(city.users["worker"]).patch(
        f"{API}/households/{household.pk}/",
        {"residents": [{"id": resident.pk, "name": "改名"}, {"name": "新人", "id_number": _id(3)}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    resident.refresh_from_db()
    assert (resident.name, resident.id_number) == ("改名", make_id_number("150102", "19800101", 1))
    assert household.residents.count() == 2
    assert {r["name"] for r in response.json()["residents"]} == {"改名", "新人"}


def test_household_create_out_of_scope_grid_is_refused(city):
    count = Household.objects.count()
    response = api_client(city.users["worker"]).post(
        f"{API}/households/", {"grid": city.nodes["A1g2"].pk, "address": "x"}, format="json"
    )
    assert "grid" in assert_error_shape(response, 400)["fields"]
    response = api_client(city.users["dept"]).post(
        f"{API}/households/", {"grid": city.nodes["A1g2"].pk, "address": "x"}, format="json"
    )
    assert assert_error_shape(response, 403)
    assert Household.objects.count() == count


def test_household_building_choices_are_scoped(city):
    client = api_client(city.users["worker"])
    own = city.estates["A1g1"].buildings.get()
    foreign = city.estates["C1g1"].buildings.get()
    url = f"{API}/households/{city.households['A1g1'].pk}/"
    response = client.patch(url, {"building": foreign.pk}, format="json")
    assert "building" in assert_error_shape(response, 400)["fields"]
    assert "C1" not in response.content.decode()  # nothing about the foreign building
    response = client.patch(url, {"building": own.pk}, format="json")
    assert response.status_code == 200, response.content
    assert Household.objects.get(pk=city.households["A1g1"].pk).building == own


@pytest.mark.parametrize(
    "bad",
    [
        _id(7)[:-1] + ("0" if _id(7)[-1] != "0" else "1"),  # wrong check digit
        _id(7)[:-1],  # 17 characters
        _id(7) + "1",  # 19 characters
        "15010219900101007A",  # a letter where the check digit may not be one
        "1501**********0071",  # a mask
    ],
)
def test_household_with_a_malformed_id_number_is_not_created(city, bad):
    households, residents = Household.objects.count(), Resident.objects.count()
    response = api_client(city.users["worker"]).post(
        f"{API}/households/",
        {"grid": city.nodes["A1g1"].pk, "address": "半户",
         "residents": [{"name": "好", "id_number": _id(8)}, {"name": "坏", "id_number": bad}]},
        format="json",
    )
    error = assert_error_shape(response, 400)
    assert error["fields"]["residents"][1]["id_number"]
    assert not error["fields"]["residents"][0]
    assert (Household.objects.count(), Resident.objects.count()) == (households, residents)
    assert not Household.objects.filter(address="半户").exists()


def test_resident_id_numbers_are_unique_where_the_user_sees_the_holder(city):
    """The other registration is in the user's own scope: the honest answer. (A holder the user cannot
    see is another matter: tests/grid/test_id_numbers.py.)"""
    taken = city.households["B1g1"].residents.get().id_number
    count = Household.objects.count()
    response = api_client(city.users["district"]).post(
        f"{API}/households/",
        {"grid": city.nodes["A1g1"].pk, "address": "x", "residents": [{"name": "n", "id_number": taken}]},
        format="json",
    )
    assert_error_shape(response, 400)
    assert Household.objects.count() == count


@pytest.mark.parametrize(("role", "status"), [("worker", 204), ("dept", 403), ("worker2", 404)])
def test_household_delete_takes_its_residents(city, role, status):
    household = city.households["A1g1"]
    residents = list(household.residents.values_list("pk", flat=True))
    response = api_client(city.users[role]).delete(f"{API}/households/{household.pk}/")
    assert response.status_code == status
    assert Household.objects.filter(pk=household.pk).exists() is (status != 204)
    assert Resident.objects.filter(pk__in=residents).exists() is (status != 204)


#
# Posts
#


def test_post_create_grants_the_role(city):
    newcomer = UserFactory(username="newcomer")
    client = api_client(city.users["director"])
    response = client.post(f"{API}/posts/", {"user": "newcomer", "role": "grid_worker", "node": city.nodes["A1g2"].pk},
                           format="json")
    assert response.status_code == 201, response.content
    assert response.json()["node"] == city.nodes["A1g2"].pk
    assert result_ids(api_client(newcomer).get(f"{API}/households/")) == {city.households["A1g2"].pk}
    # Out of the director's subtree the node does not exist for them; at the wrong level it is invalid.
    response = client.post(f"{API}/posts/", {"user": "newcomer", "role": "grid_worker", "node": city.nodes["A2g1"].pk},
                           format="json")
    assert "node" in assert_error_shape(response, 400)["fields"]
    response = client.post(f"{API}/posts/", {"user": "newcomer", "role": "grid_worker", "node": city.nodes["A1"].pk},
                           format="json")
    assert "node" in assert_error_shape(response, 400)["fields"]
    # A grid worker posts nobody.
    response = api_client(city.users["worker"]).post(
        f"{API}/posts/", {"user": "newcomer", "role": "grid_worker", "node": city.nodes["A1g1"].pk}, format="json"
    )
    assert_error_shape(response, 403)
    assert Post.objects.filter(user=newcomer).count() == 1


def test_posts_are_not_edited(city):
    response = api_client(city.users["admin"]).patch(
        f"{API}/posts/{city.posts['worker'].pk}/", {"role": "community_director"}, format="json"
    )
    assert_error_shape(response, 405)


def _id_numbers(client, household) -> list[str]:
    response = client.get(f"{API}/households/{household.pk}/")
    assert response.status_code == 200
    return [r["id_number"] for r in response.json()["residents"]]


@pytest.mark.parametrize("role", ["district", "street", "director", "worker", "dept"])
def test_id_numbers_are_masked_without_view_personal_id(city, role):
    household = city.households["A1g1"]
    stored = household.residents.get().id_number
    (shown,) = _id_numbers(api_client(city.users[role]), household)
    assert MASKED.match(shown)
    assert shown[:4] == stored[:4] and shown[-4:] == stored[-4:]
    listed = api_client(city.users[role]).get(f"{API}/households/").json()["results"]
    assert all(MASKED.match(r["id_number"]) for row in listed for r in row["residents"])


def test_id_numbers_are_shown_to_the_explicitly_granted_and_to_admin(city):
    street = city.users["street"]
    inside, outside = city.households["A1g1"], city.households["A2g1"]
    assign_perm("grid.view_personal_id", street, city.nodes["A1"])
    forget_grants(street)
    client = api_client(street)
    assert _id_numbers(client, inside) == [inside.residents.get().id_number]
    assert MASKED.match(_id_numbers(client, outside)[0])
    admin = api_client(city.users["admin"])
    assert _id_numbers(admin, outside) == [outside.residents.get().id_number]


#
# Errors, authentication, schema
#


@pytest.mark.parametrize("kind", ["nodes", "households", "places"])
def test_page_out_of_range_is_404_in_the_error_shape(city, kind):
    response = api_client(city.users["street"]).get(f"{API}/{kind}/", {"page": 99})
    assert assert_error_shape(response, 404)["code"] == "not_found"


@pytest.mark.parametrize("path", ["nodes/", "households/", "places/", "departments/", "posts/"])
def test_unauthenticated_requests_are_refused_in_the_error_shape(city, path):
    response = api_client().get(f"{API}/{path}")
    assert response.status_code in (401, 403)
    assert assert_error_shape(response, response.status_code)["code"] == "not_authenticated"


def test_token_authentication(city):
    client = api_client()
    response = client.post("/api/v1/auth/token/", {"username": "street", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get(f"{API}/households/")
    assert result_ids(response) == {city.households[k].pk for k in ("A1g1", "A1g2", "A2g1")}
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get(f"{API}/households/")
    # 403 rather than 401 while SessionAuthentication comes first (it sends no WWW-Authenticate).
    assert response.status_code in (401, 403)
    assert assert_error_shape(response, response.status_code)["code"] == "authentication_failed"


def test_token_with_a_wrong_password_is_refused(city):
    response = api_client().post("/api/v1/auth/token/", {"username": "street", "password": "wrong"}, format="json")
    assert assert_error_shape(response, 400)["fields"]


def test_schema_documents_the_error_shape(db):
    response = api_client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "Error" in schema["components"]["schemas"]
    assert "/api/v1/grid/nodes/{id}/move/" in schema["paths"]
    responses = schema["paths"]["/api/v1/grid/nodes/"]["post"]["responses"]
    assert responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_docs_are_served_without_a_cdn(db):
    response = api_client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "cdn.jsdelivr" not in html
    assert "unpkg" not in html


#
# Query budget: constant in the page size
#


LISTS = ("nodes", "households", "places")  # each with its budget "grid.<list>.list" in tests/query_budgets.json


@pytest.fixture
def crowded_city(city):
    admin = city.users["admin"]
    for i in range(30):
        services.household_save(
            actor=admin, household=Household(grid=city.nodes["A1g1"], address=f"加{i}"),
            residents=[{"name": "甲", "id_number": make_id_number("150102", "19900101", 100 + i)},
                       {"name": "乙", "id_number": make_id_number("150102", "19900102", 100 + i)}],
        )
        services.record_save(actor=admin, instance=Place(grid=city.nodes["A2g1"], kind=PlaceKind.BUSINESS,
                                                         name=f"加{i}"))
    for i in range(3, 40):
        services.node_create(actor=admin, parent=city.nodes["A2"], level=Level.GRID, code=f"150102001002{i:03d}",
                             name=f"加{i}")
    return city


@pytest.mark.parametrize("role", ["street", "admin"])
@pytest.mark.parametrize("kind", LISTS)
@pytest.mark.parametrize("page_size", [5, 50])
def test_list_queries_do_not_grow_with_the_page(crowded_city, query_budget, kind, role, page_size):
    client = api_client(crowded_city.users[role])
    with query_budget(f"grid.{kind}.list"):
        response = client.get(f"{API}/{kind}/", {"page_size": page_size})
    body = response.json()
    assert body["count"] > 30
    assert len(body["results"]) == min(page_size, body["count"])
