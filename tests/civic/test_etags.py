"""ETag / If-Match on the API's updates that race (civic.api.etags, on every grid endpoint): an update
made against an older read is refused with 412 in the error shape and changes nothing, also when two
arrive at the same moment on PostgreSQL."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from grid.models import Household
from tests.factories import CityBuilder
from tests.grid.utils import api_client, assert_error_shape
from tests.support.race import race

HOUSEHOLDS = "/api/v1/grid/households/"


def test_a_read_carries_an_etag_and_an_update_with_it_applies(city):
    client = api_client(city.users["director"])
    household = city.households["A1g1"]
    read = client.get(f"{HOUSEHOLDS}{household.pk}/")
    etag = read["ETag"]
    assert etag.startswith('W/"')
    updated = client.patch(f"{HOUSEHOLDS}{household.pk}/", {"head_name": "新户主"}, format="json",
                           headers={"If-Match": etag})
    assert updated.status_code == 200, updated.content
    assert updated["ETag"] != etag
    assert client.get(f"{HOUSEHOLDS}{household.pk}/")["ETag"] == updated["ETag"]


def test_an_update_against_an_older_read_is_412_and_changes_nothing(city):
    client = api_client(city.users["director"])
    household = city.households["A1g1"]
    stale = client.get(f"{HOUSEHOLDS}{household.pk}/")["ETag"]
    assert client.patch(f"{HOUSEHOLDS}{household.pk}/", {"head_name": "甲"}, format="json").status_code == 200
    refused = client.patch(f"{HOUSEHOLDS}{household.pk}/", {"head_name": "乙"}, format="json",
                           headers={"If-Match": stale})
    assert assert_error_shape(refused, 412)["code"] == "precondition_failed"
    household.refresh_from_db()
    assert household.head_name == "甲"


def test_if_match_star_and_lists_follow_the_http_rules(city):
    client = api_client(city.users["director"])
    household = city.households["A1g1"]
    etag = client.get(f"{HOUSEHOLDS}{household.pk}/")["ETag"]
    url = f"{HOUSEHOLDS}{household.pk}/"
    assert client.patch(url, {"address": "一号"}, format="json", headers={"If-Match": "*"}).status_code == 200
    etag = client.get(url)["ETag"]
    both = f'W/"0000", {etag}'
    assert client.patch(url, {"address": "二号"}, format="json", headers={"If-Match": both}).status_code == 200


def test_an_update_is_checked_against_the_object_as_the_reader_sees_it(city):
    """The node endpoint updates with another serializer than it reads with: the ETag is the read's."""
    client = api_client(city.users["street"])
    node = city.nodes["A1"]
    etag = client.get(f"/api/v1/grid/nodes/{node.pk}/")["ETag"]
    updated = client.patch(f"/api/v1/grid/nodes/{node.pk}/", {"name": "社区甲一"}, format="json",
                           headers={"If-Match": etag})
    assert updated.status_code == 200, updated.content
    assert updated["ETag"] == client.get(f"/api/v1/grid/nodes/{node.pk}/")["ETag"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_updates_from_the_same_read_at_once_one_wins(postgres):
    city = CityBuilder().build()
    household = city.households["A1g1"]
    token = Token.objects.create(user=city.users["director"]).key
    url = f"{HOUSEHOLDS}{household.pk}/"

    def client():
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return api

    etag = client().get(url)["ETag"]
    outcome = race(lambda i: client().patch(url, {"head_name": f"户主{i}"}, format="json",
                                            headers={"If-Match": etag}).status_code, threads=4)
    assert outcome.errors == []
    assert sorted(outcome.results) == [200, 412, 412, 412]
    assert Household.objects.get(pk=household.pk).head_name in {f"户主{i}" for i in range(4)}
