"""The grid map for every map (GET /api/v1/grid/boundaries/), the centre's map of open cases and a
node's page: scoped, coloured by lateness, 404 outside the user's subtree."""

import pytest

from tests.grid.utils import admin_client, api_client, assert_error_shape

BOUNDARIES = "/api/v1/grid/boundaries/"


def test_boundaries_are_public_geojson(city):
    response = api_client().get(BOUNDARIES, {"level": 4})
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["truncated"] is False
    assert {f["properties"]["name"] for f in body["features"]} == {"社区A1", "社区A2", "社区B1"}
    assert body["features"][0]["geometry"]["type"] == "Polygon"
    assert "public" in response["Cache-Control"]


def test_boundaries_within_a_node_and_a_box(city):
    client = api_client()
    within = client.get(BOUNDARIES, {"level": 5, "within": city.nodes["A1"].pk}).json()
    assert [f["id"] for f in within["features"]] == [city.nodes["A1g1"].pk, city.nodes["A1g2"].pk]
    a1g1 = city.nodes["A1g1"]
    box = f"{a1g1.min_lon + 0.001},{a1g1.min_lat + 0.001},{a1g1.max_lon - 0.001},{a1g1.min_lat + 0.002}"
    assert [f["id"] for f in client.get(BOUNDARIES, {"level": 5, "bbox": box}).json()["features"]] == [a1g1.pk]


@pytest.mark.parametrize("params, field", [({"level": 9}, "level"), ({"bbox": "1,2,3"}, "bbox"),
                                           ({"within": "x"}, "within")])
def test_boundaries_bad_input(city, params, field):
    assert field in assert_error_shape(api_client().get(BOUNDARIES, params), 400)["fields"]
    assert_error_shape(api_client().get(BOUNDARIES, {"within": 999999}), 404)


def test_portal_maps_draw_the_grid_map(city, client):
    page = client.get("/cases/public/").content.decode()
    assert f'data-boundaries="{BOUNDARIES}"' in page and "grid/boundaries.js" in page


def test_map_cases_are_scoped_and_coloured(city, spread):
    street = admin_client(city.users["street"])
    assert street.get("/admin/centre/map/").status_code == 200
    features = street.get("/admin/centre/map/cases.json").json()["features"]
    references = {f["properties"]["reference"] for f in features}
    assert spread["accepted"].reference in references  # A1, open
    assert spread["b1"].reference not in references  # street B
    assert spread["closed"].reference not in references  # not open
    lateness = {f["properties"]["reference"]: f["properties"]["lateness"] for f in features}
    assert lateness[spread["overdue"].reference] == "overdue"
    assert street.get("/admin/centre/map/cases.json", {"node": city.nodes["B1"].pk}).status_code == 404
    assert street.get("/admin/centre/map/", {"from": "never"}).status_code == 400


def test_node_page_people_places_and_cases(city, spread):
    director = admin_client(city.users["director"])
    response = director.get(f"/admin/centre/nodes/{city.nodes['A1'].pk}/")
    assert response.status_code == 200
    assert response.context["households"] == 2  # A1g1 and A1g2 hold one each
    assert [post.user.username for post in response.context["staff"]] == ["director", "worker"]
    assert response.context["case_counts"]["total"] > 0
    assert director.get(f"/admin/centre/nodes/{city.nodes['A'].pk}/").status_code == 404
    assert director.get(f"/admin/centre/nodes/{city.nodes['B1'].pk}/").status_code == 404
