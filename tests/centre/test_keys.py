"""Partners' API keys on the command centre's API: a key that may read cases gets the figures of its
subtree (the same counts as its case list); exports are for staff, so every key is refused."""

from partners.services import api_key_create, partner_ensure
from tests.grid.utils import assert_error_shape
from tests.partners.conftest import key_client


def test_a_key_reads_the_figures_of_its_subtree_and_never_exports(city, spread):
    partner = partner_ensure(actor=None, code="utility", name="春华水务")
    _key, text = api_key_create(actor=None, partner=partner, scopes=["cases.read"], node=city.nodes["A"])
    client = key_client(text)
    summary = client.get("/api/v1/centre/summary/")
    assert summary.status_code == 200, summary.content
    listed = client.get("/api/v1/issues/cases/").json()
    assert summary.json()["total"] == listed["count"] > 0
    assert_error_shape(client.get("/api/v1/centre/summary/", {"node": city.nodes["B"].pk}), 404)
    assert client.get("/api/v1/centre/series/").status_code == 200
    assert_error_shape(client.post("/api/v1/centre/exports/", {"format": "csv"}, format="json"), 403)
    _key, billing = api_key_create(actor=None, partner=partner, scopes=["billing.provider"], node=city.nodes["A"])
    assert_error_shape(key_client(billing).get("/api/v1/centre/summary/"), 403)
