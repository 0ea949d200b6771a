"""The API's one pagination (civic.api.pagination, civic.counts): cursors that walk a list in any of its orderings
without skipping or repeating a row, both ways; counts exact when small and estimated when large;
page numbers only where the count is exact; bad cursors and pages are 4xx in the error shape."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civic import counts
from issues.models import Case, Priority
from tests.grid.utils import admin_client, api_client, assert_error_shape
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import report

URL = "/api/v1/issues/cases/"


@pytest.fixture
def listed(city, categories):  # noqa: F811 - the issues suite's fixture
    """23 cases with ties and NULLs in due_at and priority, so every ordering has ties to break."""
    now = timezone.now()
    for i in range(23):
        case = report(city, categories["sanitation"], description=f"排序 {i}")
        due = None if i % 5 == 0 else now + timedelta(hours=i % 4)
        Case.objects.filter(pk=case.pk).update(due_at=due, priority=Priority.LOW + i % 3)
    return city


def _walk(client, params: dict, *, backwards_from_end: bool = False) -> list[int]:
    """Every id, following next links from the first page (then previous links back, if asked)."""
    body = client.get(URL, params).json()
    pages = [body]
    while body["next"]:
        body = client.get(body["next"]).json()
        pages.append(body)
    ids = [row["id"] for page in pages for row in page["results"]]
    if not backwards_from_end:
        return ids
    back = [row["id"] for row in body["results"]]
    while body["previous"]:
        body = client.get(body["previous"]).json()
        back = [row["id"] for row in body["results"]] + back
    assert back == ids
    return ids


@pytest.mark.parametrize("ordering", ["-id", "id", "due_at", "-due_at", "priority", "-priority,due_at", "-created_at"])
def test_cursors_walk_every_row_once_in_order_both_ways(listed, ordering):
    client = api_client(listed.users["director"])
    walked = _walk(client, {"ordering": ordering, "page_size": 4}, backwards_from_end=True)
    one_page = client.get(URL, {"ordering": ordering, "page_size": 200}).json()
    assert walked == [row["id"] for row in one_page["results"]]
    assert len(walked) == len(set(walked)) == 23


def test_nulls_come_last_whichever_the_direction(listed):
    client = api_client(listed.users["director"])
    for ordering in ("due_at", "-due_at"):
        rows = client.get(URL, {"ordering": ordering, "page_size": 200}).json()["results"]
        dues = [row["due_at"] for row in rows]
        assert dues[-5:] == [None] * 5 and None not in dues[:-5]


def test_a_cursor_belongs_to_its_ordering(listed):
    client = api_client(listed.users["director"])
    next_link = client.get(URL, {"ordering": "due_at", "page_size": 4}).json()["next"]
    cursor = next_link.split("cursor=")[1].split("&")[0]
    error = assert_error_shape(client.get(URL, {"ordering": "priority", "page_size": 4, "cursor": cursor}), 400)
    assert "cursor" in error["fields"]


@pytest.mark.parametrize("cursor", [
    "garbage",
    "eyJvIjogWyItaWQiXX0",  # {"o": ["-id"]}: no values
    "eyJvIjpbIi1pZCJdLCJ2IjpbImFiYyJdLCJyIjpmYWxzZX0",  # an id that is not a number
])
def test_a_broken_cursor_is_a_400(listed, cursor):
    response = api_client(listed.users["director"]).get(URL, {"cursor": cursor})
    assert "cursor" in assert_error_shape(response, 400)["fields"]


def test_small_lists_count_exactly_and_keep_page_numbers(listed):
    client = api_client(listed.users["director"])
    body = client.get(URL, {"page": 2, "page_size": 10}).json()
    assert (body["count"], body["count_exact"], len(body["results"])) == (23, True, 10)
    assert "page=3" in body["next"] and "page=1" in body["previous"]
    assert assert_error_shape(client.get(URL, {"page": 9, "page_size": 10}), 404)
    assert "page" in assert_error_shape(client.get(URL, {"page": "x"}), 400)["fields"]
    assert "page_size" in assert_error_shape(client.get(URL, {"page_size": 0}), 400)["fields"]


def test_large_lists_say_their_count_is_not_exact_and_refuse_deep_page_numbers(listed, monkeypatch, postgres):
    """On PostgreSQL (elsewhere a count is always exact: small installations)."""
    monkeypatch.setattr(counts, "EXACT_COUNT_LIMIT", 10)
    client = api_client(listed.users["director"])
    body = client.get(URL, {"page_size": 5}).json()
    assert body["count_exact"] is False and body["count"] >= 11
    assert "cursor=" in body["next"]
    assert "page" in assert_error_shape(client.get(URL, {"page": 2}), 400)["fields"]


def test_the_estimate_comes_from_the_planner_on_postgresql(listed, postgres):
    count, exact = counts.count_with_estimate(Case.objects.all(), limit=10)
    assert exact is False and count >= 11


def test_the_admin_changelist_counts_once_and_says_when_it_estimates(listed, monkeypatch, postgres):
    monkeypatch.setattr(counts, "EXACT_COUNT_LIMIT", 10)
    client = admin_client(listed.users["director"])
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/issues/case/", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert len([q for q in queries if "COUNT(" in q["sql"].upper()]) == 1  # no second, unfiltered count
    assert "about" in page.content.decode()
    monkeypatch.setattr(counts, "EXACT_COUNT_LIMIT", 1000)
    assert "about" not in client.get("/admin/issues/case/", headers={"accept-language": "en"}).content.decode()


def test_cursors_follow_an_ordering_through_a_relation(city):
    """Posts are ordered by their node's path (node__path): the cursor carries that value too."""
    client = api_client(city.users["admin"])
    walked, body = [], client.get("/api/v1/grid/posts/", {"page_size": 2}).json()
    while True:
        walked += [row["id"] for row in body["results"]]
        if not body["next"]:
            break
        body = client.get(body["next"]).json()
    whole = [row["id"] for row in client.get("/api/v1/grid/posts/", {"page_size": 200}).json()["results"]]
    assert walked == whole and len(whole) == len(set(whole)) >= 7
