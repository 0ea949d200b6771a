"""GET /api/v1/centre/summary/ and /series/: the counts agree with the case list for every user and
filter; bad input answers 4xx in the API's error shape."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from issues.models import OPEN_STATUSES, Status
from tests.grid.utils import api_client, assert_error_shape

SUMMARY = "/api/v1/centre/summary/"
SERIES = "/api/v1/centre/series/"
CASES = "/api/v1/issues/cases/"
STAFF = ["admin", "district", "street", "street2", "director", "worker", "worker2", "dept"]


def _count(client, **params) -> int:
    response = client.get(CASES, params)
    assert response.status_code == 200, response.content
    assert response.json()["count_exact"]  # the list counts exactly up to its limit: these scopes are below
    return response.json()["count"]


def _summary(client, **params) -> dict:
    response = client.get(SUMMARY, params)
    assert response.status_code == 200, response.content
    return response.json()


def _list_params(params: dict) -> dict:
    """The case list's own parameters for a centre request's from/to."""
    listed = {key: value for key, value in params.items() if key not in ("from", "to")}
    tz = timezone.get_default_timezone()
    if "from" in params:
        listed["created_after"] = timezone.datetime.combine(
            date.fromisoformat(params["from"]), timezone.datetime.min.time(), tzinfo=tz).isoformat()
    if "to" in params:
        listed["created_before"] = timezone.datetime.combine(
            date.fromisoformat(params["to"]) + timedelta(days=1), timezone.datetime.min.time(), tzinfo=tz).isoformat()
    return listed


def _filters(city, categories):
    today = timezone.localdate().isoformat()
    return [
        {},
        {"from": "2026-03-01", "to": "2026-03-31"},
        {"from": today, "to": today},
        {"node": city.nodes["A1"].pk},
        {"node": city.nodes["A1g2"].pk, "from": "2026-01-01"},
        {"category": categories["city-management"].pk},
        {"category": categories["sanitation"].pk},
        {"status": "accepted"},
        {"overdue": "true"},
        {"q": "manhole"},
    ]


def test_summary_counts_agree_with_the_case_list(city, categories, spread):
    for username in STAFF:
        _agree(api_client(city.users[username]), username, _filters(city, categories))


def _agree(client, username: str, filters: list[dict]) -> None:
    for params in filters:
        if "node" in params and client.get(SUMMARY, params).status_code == 404:
            continue  # out of this user's scope: tested below
        summary = _summary(client, **params)
        listed = _list_params(params)
        assert summary["total"] == _count(client, **listed), (username, params)
        assert summary["overdue"] == _count(client, **{**listed, "overdue": "true"}), (username, params)
        if "status" not in params:
            assert summary["open"] == _count(client, **listed, status=list(OPEN_STATUSES)), (username, params)
        assert set(summary["by_status"]) == set(Status.values)
        for status, n in summary["by_status"].items():
            if "status" not in params:
                assert n == _count(client, **listed, status=status), (username, params, status)
        for row in summary["by_category"]:
            if "category" not in params:
                assert row["count"] == _count(client, **listed, category=row["id"]), (username, params, row)
        # The answer names the list request it agrees with.
        assert client.get(summary["case_list"]).json()["count"] == summary["total"]


def test_the_numbers_differ_by_scope(city, categories, spread):
    district = _summary(api_client(city.users["district"]))
    street = _summary(api_client(city.users["street"]))
    worker = _summary(api_client(city.users["worker"]))
    assert district["total"] > street["total"] > worker["total"] > 0
    assert district["total"] == len(spread)


def test_summary_figures(city, categories, spread):
    summary = _summary(api_client(city.users["district"]))
    assert summary["by_status"]["closed"] == 1 and summary["by_status"]["rejected"] == 1
    filed = summary["total"] - 1  # the rejected case was never filed
    assert summary["closure_rate"] == round(1 / filed, 4)
    # Resolved now: closed, on the spot, March. Ever resolved: those and the reopened one (disputed).
    assert summary["resolved"] == 3
    assert summary["reopen_rate"] == round(1 / 4, 4)
    assert summary["on_time_rate"] == 1.0  # none of the resolved ones missed a deadline
    assert summary["open_by_level"]["department"] == 1  # the sanitation case
    # March: reported Friday 16:00, accepted Monday 10:00 (2.5 working hours), resolved Tuesday 11:30.
    march = _summary(api_client(city.users["district"]), **{"from": "2026-03-01", "to": "2026-03-31"})
    assert march["total"] == 1
    assert march["median_accept_hours"] == 2.5
    assert march["median_resolve_hours"] == 1.5 + 7 + 2.5  # Friday 16:00-17:30, all Monday, Tuesday to 11:30


def test_summary_query_budget(city, spread, query_budget):
    client = api_client(city.users["district"])
    client.get(SUMMARY)  # the session's first request loads more (the user, the grants' prepared statement)
    with query_budget("centre.summary"):
        assert client.get(SUMMARY, {"node": city.nodes["A"].pk, "from": "2026-01-01"}).status_code == 200


def test_summary_needs_a_post(city, spread):
    assert api_client().get(SUMMARY).status_code in (401, 403)
    assert_error_shape(api_client(city.users["citizen"]).get(SUMMARY), 403)


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-03-31", "to": "2026-03-01"}, "to"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-02-30"}, "to"),
    ({"node": "A1"}, "node"),
    ({"status": "lost"}, "status"),
])
def test_summary_refuses_bad_input(city, spread, params, field):
    error = assert_error_shape(api_client(city.users["district"]).get(SUMMARY, params), 400)
    assert field in error["fields"]


def test_summary_of_a_node_out_of_scope_is_404(city, spread):
    client = api_client(city.users["street"])
    assert_error_shape(client.get(SUMMARY, {"node": city.nodes["B1"].pk}), 404)
    assert_error_shape(client.get(SUMMARY, {"node": 999999}), 404)
    assert client.get(SUMMARY, {"node": city.nodes["A1"].pk}).status_code == 200


def test_series_counts_per_bucket(city, categories, spread):
    client = api_client(city.users["district"])
    response = client.get(SERIES, {"metric": "reported", "interval": "day", "from": "2026-03-01",
                                   "to": "2026-03-31"})
    assert response.status_code == 200, response.content
    points = response.json()["points"]
    assert len(points) == 31 and points[0]["start"] == "2026-03-01"
    assert {p["start"]: p["count"] for p in points if p["count"]} == {"2026-03-06": 1}
    weeks = client.get(SERIES, {"metric": "resolved", "interval": "week", "from": "2026-03-01",
                                "to": "2026-03-31"}).json()["points"]
    assert weeks[0]["start"] == "2026-02-23"  # the Monday of the week holding 1 March
    assert {p["start"]: p["count"] for p in weeks if p["count"]} == {"2026-03-09": 1}
    months = client.get(SERIES, {"interval": "month"}).json()
    assert len(months["points"]) == 12
    today = timezone.localdate()
    assert months["points"][-1] == {"start": today.replace(day=1).isoformat(),
                                    "count": _count(client, created_after=timezone.datetime.combine(
                                        today.replace(day=1), timezone.datetime.min.time(),
                                        tzinfo=timezone.get_default_timezone()).isoformat())}


@pytest.mark.parametrize("params, field", [
    ({"metric": "happiness"}, "metric"),
    ({"interval": "hour"}, "interval"),
    ({"interval": "day", "from": "2020-01-01", "to": "2026-01-01"}, "from"),
    ({"from": "2026-05-01", "to": "2026-04-01"}, "to"),
    ({"from": "01/05/2026"}, "from"),
])
def test_series_refuses_bad_input(city, spread, params, field):
    error = assert_error_shape(api_client(city.users["district"]).get(SERIES, params), 400)
    assert field in error["fields"]
