"""The cases API (/api/v1/issues/): categories, reporting (JSON and multipart), scoping per role,
filters, every transition endpoint, optimistic locking (version / If-Match), the error shape, the
schema and the query budget of the list and the detail."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework.authtoken.models import Token

from grid.models import Level
from issues import services
from issues.models import Case, CaseEvent, CasePhoto, Category, Priority, Status
from issues.workflow import TRANSITIONS
from tests.grid.utils import api_client, assert_error_shape

API = "/api/v1/issues"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads go to a temporary directory; the city's users get cheap password hashes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _centre(node) -> tuple[float, float]:
    ring = node.boundary["coordinates"][0]
    return (ring[0][1] + ring[2][1]) / 2, (ring[0][0] + ring[2][0]) / 2


def _jpeg(name="photo.jpg", size=(48, 32), colour="red") -> SimpleUploadedFile:
    buffer = BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def _report(city, categories, user="worker", grid="A1g1", category="city-management", **kwargs) -> Case:
    lat, lon = _centre(city.nodes[grid])
    kwargs.setdefault("description", f"问题 {grid}")
    return services.case_report(actor=city.users[user], category=categories[category], lat=lat, lon=lon, **kwargs)


def _payload(city, categories, grid="A1g1", category="city-management", **extra) -> dict:
    lat, lon = _centre(city.nodes[grid])
    return {"category": categories[category].pk, "description": "路灯不亮", "lat": lat, "lon": lon,
            "address": "星火巷 3 号", **extra}


def _case_url(case, action: str | None = None) -> str:
    pk = case if isinstance(case, int) else case.pk
    return f"{API}/cases/{pk}/" + (f"{action}/" if action else "")


def _post(client, case, action, **data):
    return client.post(_case_url(case, action), data, format="json")


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None
    return {row["id"] for row in body["results"]}


def _stored_files(media_root) -> list:
    return [path for path in media_root.rglob("*") if path.is_file()] if media_root.exists() else []


#
# Categories
#


def test_categories_in_the_request_language(city, categories):
    Category.objects.create(code="retired", name="停用", name_en="Retired", accept_within=timedelta(hours=1),
                            resolve_within=timedelta(hours=1), is_active=False)
    client = api_client(city.users["worker"])
    response = client.get(f"{API}/categories/")
    assert response.status_code == 200
    rows = {row["code"]: row for row in response.json()}
    assert set(rows) == {"city-management", "sanitation", "neighbour-dispute"}
    sanitation = rows["sanitation"]
    assert sanitation["name"] == "市容环卫维护"
    assert sanitation["name_zh"] == "市容环卫维护"
    assert sanitation["name_en"] == "Street cleanliness and sanitation"
    assert sanitation["parent"] == categories["city-management"].pk
    assert sanitation["department"] == city.department.pk
    assert sanitation["first_level"] == Level.COMMUNITY
    assert (sanitation["accept_within"], sanitation["resolve_within"]) == (2 * 3600, 8 * 3600)
    assert sanitation["default_priority"] == Priority.NORMAL
    assert rows["neighbour-dispute"]["sensitive"] is True

    english = client.get(f"{API}/categories/", HTTP_ACCEPT_LANGUAGE="en")
    assert {row["code"]: row["name"] for row in english.json()}["sanitation"] == "Street cleanliness and sanitation"
    retired = Category.objects.get(code="retired")
    assert client.get(f"{API}/categories/{retired.pk}/").status_code == 404
    detail = client.get(f"{API}/categories/{categories['dispute'].pk}/")
    assert detail.json()["code"] == "neighbour-dispute"


def test_categories_are_cacheable(city, categories):
    client = api_client(city.users["citizen"])
    response = client.get(f"{API}/categories/")
    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"] and "private" in response["Cache-Control"]
    etag = response["ETag"]
    again = client.get(f"{API}/categories/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    english = client.get(f"{API}/categories/", HTTP_IF_NONE_MATCH=etag, HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 200 and english["ETag"] != etag
    categories["dispute"].name = "邻里矛盾"
    categories["dispute"].save()
    assert client.get(f"{API}/categories/", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_categories_need_a_login(city, categories):
    response = api_client().get(f"{API}/categories/")
    assert_error_shape(response, response.status_code)
    assert response.status_code in (401, 403)


#
# Reporting
#


def test_report_as_json_then_add_photos(city, categories, media_root):
    client = api_client(city.users["worker"])
    response = client.post(f"{API}/cases/", _payload(city, categories, priority=Priority.HIGH), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    case = Case.objects.get(pk=body["id"])
    assert response["Location"].endswith(_case_url(case))
    assert response["ETag"] == f'W/"{case.pk}-1"'
    assert body["status"] == Status.REPORTED and body["version"] == 1
    assert body["grid"] == city.nodes["A1g1"].pk and body["handling_node"] == city.nodes["A1"].pk
    assert body["priority"] == Priority.HIGH and body["address"] == "星火巷 3 号"
    assert body["reporter"] == "worker" and body["reporter_kind"] == "grid_worker"
    assert [e["action"] for e in body["events"]] == ["report"]
    assert body["events"][0]["actor"] == "worker" and body["photos"] == []
    assert "comment" in body["actions"] and "accept" not in body["actions"]  # a worker does not handle

    response = client.post(_case_url(case, "photos"), {"photos": [_jpeg("a.jpg"), _jpeg("b.jpg")]},
                           format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 1  # photos join the timeline: the case itself is unchanged
    assert [p["kind"] for p in body["photos"]] == [CasePhoto.KIND_COMMENT] * 2
    assert [e["action"] for e in body["events"]] == ["report", "comment"]
    assert len(body["events"][1]["photos"]) == 2
    for photo in body["photos"]:
        # Served by the photo view, which applies the case's rules (tests/issues/test_photos.py).
        assert photo["url"] == f"http://testserver/api/v1/issues/photos/{photo['id']}/display/"
        assert photo["original_url"] == f"http://testserver/api/v1/issues/photos/{photo['id']}/original/"
        assert (photo["width"], photo["height"]) == (48, 32)
    assert len(_stored_files(media_root)) == 4  # original and display copy of each


def test_report_multipart_with_photos(city, categories, media_root):
    client = api_client(city.users["worker"])
    payload = _payload(city, categories, photos=[_jpeg("1.jpg"), _jpeg("2.jpg", colour="blue")])
    response = client.post(f"{API}/cases/", payload, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["grid"] == city.nodes["A1g1"].pk
    assert [p["kind"] for p in body["photos"]] == [CasePhoto.KIND_REPORT] * 2
    assert body["reporter"] == "worker"  # reporter_public omitted from the form: its default, True
    report_event = body["events"][0]
    assert report_event["action"] == "report" and len(report_event["photos"]) == 2
    case = Case.objects.get(pk=body["id"])
    stored = case.photos.get(pk=body["photos"][0]["id"])
    assert (media_root / stored.image.name).is_file() and (media_root / stored.display.name).is_file()
    assert client.get(body["photos"][0]["url"]).getvalue() == (media_root / stored.display.name).read_bytes()
    assert client.get(body["photos"][0]["original_url"]).getvalue() == (media_root / stored.image.name).read_bytes()


def test_two_request_phone_flow(city, categories):
    """A grid worker's phone: the categories, then the case with its photos in one multipart request."""
    token = Token.objects.create(user=city.users["worker"])
    phone = api_client()
    phone.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    categories_response = phone.get(f"{API}/categories/")
    assert categories_response.status_code == 200
    category = next(row for row in categories_response.json() if row["code"] == "sanitation")
    lat, lon = _centre(city.nodes["A1g1"])
    response = phone.post(f"{API}/cases/", {
        "category": category["id"], "description": "垃圾堆积", "lat": f"{lat:.9f}", "lon": f"{lon:.9f}",
        "photos": [_jpeg()],
    }, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["category"] == category["id"] and body["reference"].startswith("XC-")
    assert len(body["photos"]) == 1 and body["events"][0]["photos"][0]["id"] == body["photos"][0]["id"]


def test_report_resolved_on_the_spot(city, categories):
    client = api_client(city.users["worker"])
    payload = _payload(city, categories, resolve_on_spot="true", resolution="当场清理", photos=[_jpeg()],
                       after_photos=[_jpeg("after.jpg", colour="green")])
    response = client.post(f"{API}/cases/", payload, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == Status.RESOLVED
    assert sorted(p["kind"] for p in body["photos"]) == [CasePhoto.KIND_AFTER, CasePhoto.KIND_REPORT]
    assert [e["action"] for e in body["events"]] == ["report", "resolve"]
    assert body["events"][1]["comment"] == "当场清理"


def test_citizen_may_hide_their_identity(city, categories):
    citizen = api_client(city.users["citizen"])
    response = citizen.post(f"{API}/cases/", _payload(city, categories, reporter_public=False), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["reporter"] == "citizen" and body["reporter_kind"] == "citizen"  # the citizen sees themself
    case_id = body["id"]
    assert _post(citizen, case_id, "comment", version=1, comment="还在").status_code == 200

    director = api_client(city.users["director"]).get(_case_url(case_id)).json()
    assert director["reporter"] is None and director["reporter_public"] is False
    assert [(e["actor"], e["by_reporter"]) for e in director["events"]] == [(None, True), (None, True)]
    row = api_client(city.users["director"]).get(f"{API}/cases/").json()["results"][0]
    assert row["id"] == case_id and row["reporter"] is None

    _report(city, categories, user="citizen", reporter_public=True, description="公开")
    public = api_client(city.users["director"]).get(f"{API}/cases/", {"q": "公开"}).json()["results"][0]
    assert public["reporter"] == "citizen"


#
# Reporting: refusals change nothing
#


def _refused(city, categories, media_root, user, payload, status, field=None, fmt="json") -> dict:
    before = (Case.objects.count(), CaseEvent.objects.count(), CasePhoto.objects.count())
    response = api_client(city.users[user]).post(f"{API}/cases/", payload, format=fmt)
    error = assert_error_shape(response, status)
    if field:
        assert field in error["fields"], error
    assert (Case.objects.count(), CaseEvent.objects.count(), CasePhoto.objects.count()) == before
    assert _stored_files(media_root) == []
    return error


def test_report_refuses_an_unknown_or_retired_category(city, categories, media_root):
    _refused(city, categories, media_root, "worker", {**_payload(city, categories), "category": 999_999}, 400,
             "category")
    categories["dispute"].is_active = False
    categories["dispute"].save()
    _refused(city, categories, media_root, "worker", _payload(city, categories, category="dispute"), 400,
             "category")


def test_report_refuses_a_location_outside_every_grid(city, categories, media_root):
    payload = {**_payload(city, categories), "lat": 10.0, "lon": 10.0}
    _refused(city, categories, media_root, "worker", payload, 400, "lat")
    _refused(city, categories, media_root, "worker", {**payload, "lat": 91}, 400, "lat")


def test_report_refuses_a_grid_that_does_not_contain_the_point(city, categories, media_root):
    # The review's request: a citizen's point far from the city, filed in another street office's grid.
    payload = {**_payload(city, categories), "lat": 0, "lon": 0, "grid": city.nodes["B1g1"].pk}
    error = _refused(city, categories, media_root, "citizen", payload, 400, "grid")
    assert error["fields"] == {"grid": ["位置在该网格之外超过 50 米。"]}
    # A point inside the city, the grid of another street office; as multipart (the field app's queue) too.
    payload = {**_payload(city, categories, grid="A1g1"), "grid": city.nodes["B1g1"].pk}
    _refused(city, categories, media_root, "citizen", payload, 400, "grid")
    _refused(city, categories, media_root, "citizen", {**payload, "photos": [_jpeg()]}, 400, "grid", fmt="multipart")
    # The right grid goes through.
    response = api_client(city.users["citizen"]).post(
        f"{API}/cases/", {**payload, "grid": city.nodes["A1g1"].pk}, format="json")
    assert response.status_code == 201 and response.json()["grid"] == city.nodes["A1g1"].pk


def test_report_refuses_a_citizens_priority(city, categories, media_root):
    payload = _payload(city, categories, priority=Priority.URGENT)
    error = _refused(city, categories, media_root, "citizen", payload, 400, "priority")
    assert error["fields"] == {"priority": ["只有工作人员可以设置案件的优先级。"]}
    response = api_client(city.users["citizen"]).post(f"{API}/cases/", _payload(city, categories), format="json")
    assert response.status_code == 201 and response.json()["priority"] == categories["city-management"].default_priority


def test_report_refuses_staff_outside_their_scope(city, categories, media_root):
    error = _refused(city, categories, media_root, "worker", _payload(city, categories, grid="B1g1"), 403)
    assert error["code"] == "permission_denied"


def test_report_refuses_an_empty_description(city, categories, media_root):
    _refused(city, categories, media_root, "worker", _payload(city, categories, description="  "), 400,
             "description")


def test_report_refuses_a_file_that_is_not_an_image(city, categories, media_root):
    fake = SimpleUploadedFile("photo.jpg", b"not a photo at all", content_type="image/jpeg")
    payload = _payload(city, categories, photos=[_jpeg(), fake])
    error = _refused(city, categories, media_root, "worker", payload, 400, "photos", fmt="multipart")
    assert len(error["fields"]["photos"]) == 1


@override_settings(PHOTO_MAX_BYTES=200)
def test_report_refuses_a_too_large_photo(city, categories, media_root):
    payload = _payload(city, categories, photos=[_jpeg(size=(200, 200))])
    _refused(city, categories, media_root, "worker", payload, 400, "photos", fmt="multipart")


def test_resolve_on_the_spot_needs_after_photos(city, categories, media_root):
    payload = _payload(city, categories, resolve_on_spot=True, resolution="清理")
    _refused(city, categories, media_root, "worker", payload, 400, "after_photos")


#
# Scoping
#


@pytest.fixture
def spread(city, categories):
    """One case in each of A1g1 (and one by the citizen there), A1g2, A2g1 and B1g1."""
    return {
        "A1g1": _report(city, categories, "worker", "A1g1"),
        "citizen": _report(city, categories, "citizen", "A1g1"),
        "A1g2": _report(city, categories, "director", "A1g2"),
        "A2g1": _report(city, categories, "street", "A2g1"),
        "B1g1": _report(city, categories, "worker2", "B1g1"),
    }


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("worker", {"A1g1", "citizen"}),
        ("director", {"A1g1", "citizen", "A1g2"}),
        ("street", {"A1g1", "citizen", "A1g2", "A2g1"}),
        ("street2", {"B1g1"}),
        ("worker2", {"B1g1"}),
        ("district", {"A1g1", "citizen", "A1g2", "A2g1", "B1g1"}),
        ("dept", {"A1g1", "citizen", "A1g2", "A2g1", "B1g1"}),
        ("citizen", {"citizen"}),
    ],
)
def test_list_and_detail_are_scoped(city, spread, user, expected):
    client = api_client(city.users[user])
    assert _ids(client.get(f"{API}/cases/")) == {spread[key].pk for key in expected}
    for key, case in spread.items():
        response = client.get(_case_url(case))
        if key in expected:
            assert response.status_code == 200
            assert response["ETag"] == f'W/"{case.pk}-{case.version}"'
        else:
            assert assert_error_shape(response, 404)["code"] == "not_found"


#
# Filters and ordering
#


def test_list_filters(city, categories, spread):
    client = api_client(city.users["district"])
    sanitation = _report(city, categories, "worker", "A1g1", category="sanitation", description="垃圾",
                         address="星火巷 9 号")
    director = city.users["director"]
    accepted = services.case_transition(actor=director, case=spread["A1g2"], name="accept", version=1)
    Case.objects.filter(pk=spread["A1g1"].pk).update(due_at=timezone.now() - timedelta(minutes=5))
    Case.objects.filter(pk=spread["B1g1"].pk).update(created_at=timezone.now() - timedelta(days=10))

    def ids(**params):
        return _ids(client.get(f"{API}/cases/", params))

    assert ids(status=Status.ACCEPTED) == {accepted.pk}
    assert ids(status=[Status.ACCEPTED, Status.REPORTED]) == {c.pk for c in spread.values()} | {sanitation.pk}
    assert ids(overdue="true") == {spread["A1g1"].pk}
    assert spread["A1g1"].pk not in ids(overdue="false")
    assert ids(node=city.nodes["A1"].pk) == {spread[k].pk for k in ("A1g1", "citizen", "A1g2")} | {sanitation.pk}
    assert ids(node=city.nodes["A1g2"].pk) == {spread["A1g2"].pk}
    assert ids(category=categories["sanitation"].pk) == {sanitation.pk}
    assert sanitation.pk in ids(category=categories["city-management"].pk)  # sub-categories included
    assert ids(category=categories["dispute"].pk) == set()
    old = (timezone.now() - timedelta(days=5)).isoformat()
    assert ids(created_before=old) == {spread["B1g1"].pk}
    assert spread["B1g1"].pk not in ids(created_after=old)
    assert ids(q="星火巷 9") == {sanitation.pk}
    assert ids(q="垃圾") == {sanitation.pk}
    assert ids(q=sanitation.reference) == {sanitation.pk}


def test_node_filter_refuses_nodes_out_of_scope(city, spread):
    response = api_client(city.users["street2"]).get(f"{API}/cases/", {"node": city.nodes["A"].pk})
    assert "node" in assert_error_shape(response, 400)["fields"]


def test_list_ordering(city, categories, spread):
    client = api_client(city.users["district"])
    Case.objects.filter(pk=spread["A2g1"].pk).update(priority=Priority.URGENT)
    Case.objects.filter(pk=spread["B1g1"].pk).update(priority=Priority.LOW)
    rows = client.get(f"{API}/cases/").json()["results"]
    assert [row["id"] for row in rows] == sorted((c.pk for c in spread.values()), reverse=True)
    rows = client.get(f"{API}/cases/", {"ordering": "-priority"}).json()["results"]
    assert rows[0]["id"] == spread["A2g1"].pk and rows[-1]["id"] == spread["B1g1"].pk
    rows = client.get(f"{API}/cases/", {"ordering": "created_at"}).json()["results"]
    assert rows[0]["id"] == spread["A1g1"].pk


#
# Transitions
#


def test_every_transition_has_its_endpoint(city, categories):
    case = _report(city, categories)
    client = api_client(city.users["admin"])
    for name in TRANSITIONS:
        assert reverse(f"case-{name.replace('_', '-')}", args=[case.pk]) == _case_url(case, name)
        response = _post(client, case, name, version=99, comment="x")
        if TRANSITIONS[name].versioned:
            assert assert_error_shape(response, 409)["code"] == "stale_version", name
        else:  # a comment reads no version
            assert response.status_code == 200, (name, response.content)


def test_the_whole_workflow_through_the_api(city, categories):
    """Every transition endpoint, each by whoever may make it, with its effect on the case."""
    users = {name: api_client(city.users[name]) for name in ("worker", "director", "street", "dept")}
    used = set()

    def act(user, case, name, expected_status, **data):
        current = Case.objects.get(pk=case.pk)
        response = users[user].post(_case_url(case, name), {"version": current.version, **data},
                                    format="multipart" if "photos" in data else "json")
        assert response.status_code == 200, (name, response.content)
        body = response.json()
        bump = 1 if TRANSITIONS[name].versioned else 0
        assert body["status"] == expected_status and body["version"] == current.version + bump
        assert body["events"][-1]["action"] == name and body["events"][-1]["actor"] == user
        assert response["ETag"] == f'W/"{case.pk}-{body["version"]}"'
        used.add(name)
        return body

    case = _report(city, categories)
    act("director", case, "accept", Status.ACCEPTED)
    body = act("director", case, "assign", Status.ACCEPTED, assignee="director")
    assert body["assignee"] == "director"
    act("director", case, "comment", Status.ACCEPTED, comment="已派人查看")
    body = act("director", case, "dispatch", Status.DISPATCHED, level=Level.COMMUNITY)
    assert body["handling_node"] == city.nodes["A1"].pk
    act("director", case, "start", Status.IN_PROGRESS)
    body = act("director", case, "transfer", Status.DISPATCHED, comment="归环卫", department=city.department.pk)
    assert body["handling_department"] == city.department.pk and body["handling_level"] == Level.DISTRICT
    body = act("dept", case, "return", Status.RETURNED, comment="不归我们")
    assert body["handling_node"] == city.nodes["A1"].pk and body["handling_department"] is None
    act("director", case, "dispatch", Status.DISPATCHED, level=Level.COMMUNITY)
    body = act("director", case, "escalate", Status.DISPATCHED, comment="需要街道协调")
    assert body["handling_node"] == city.nodes["A"].pk
    act("street", case, "start", Status.IN_PROGRESS)
    body = act("street", case, "resolve", Status.RESOLVED, comment="已修好", photos=[_jpeg()])
    assert [p["kind"] for p in body["photos"]] == [CasePhoto.KIND_AFTER]
    assert body["events"][-1]["photos"][0]["id"] == body["photos"][0]["id"]
    act("worker", case, "reopen", Status.REOPENED, comment="还是不亮")
    act("street", case, "resolve", Status.RESOLVED, comment="换了灯泡")
    act("worker", case, "verify", Status.VERIFIED)
    body = act("street", case, "close", Status.CLOSED)
    assert body["actions"] == []

    rejected = _report(city, categories, description="重复上报")
    act("director", rejected, "reject", Status.REJECTED, comment="不属实")
    duplicate = _report(city, categories, description="同一问题")
    original = _report(city, categories, description="原始问题")
    body = act("director", duplicate, "mark_duplicate", Status.DUPLICATE, duplicate_of=original.pk)
    assert body["duplicate_of"] == original.pk
    assert used == set(TRANSITIONS)


def test_detail_lists_the_actions_of_this_user(city, categories):
    case = _report(city, categories)
    director = api_client(city.users["director"]).get(_case_url(case)).json()
    assert set(director["actions"]) == {"accept", "escalate", "reject", "mark_duplicate", "comment"}
    worker = api_client(city.users["worker"]).get(_case_url(case)).json()
    assert worker["actions"] == ["comment"]
    assert worker["is_overdue"] is False
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert api_client(city.users["worker"]).get(_case_url(case)).json()["is_overdue"] is True


def _unchanged(case: Case):
    current = Case.objects.get(pk=case.pk)
    assert (current.status, current.version, current.handling_node_id) == (case.status, case.version,
                                                                           case.handling_node_id)
    assert current.events.count() == 1


def test_stale_version_is_a_conflict_and_changes_nothing(city, categories):
    case = _report(city, categories)
    response = _post(api_client(city.users["director"]), case, "dispatch", version=case.version + 1,
                     level=Level.STREET_OFFICE)
    error = assert_error_shape(response, 409)
    assert error["code"] == "stale_version" and error["message"]
    _unchanged(case)


def test_if_match_carries_the_version(city, categories):
    case = _report(city, categories)
    client = api_client(city.users["director"])
    etag = client.get(_case_url(case))["ETag"]
    response = client.post(_case_url(case, "accept"), {}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response["ETag"] != etag
    # The old ETag is stale now: nothing changes.
    response = client.post(_case_url(case, "escalate"), {"comment": "x"}, format="json", HTTP_IF_MATCH=etag)
    assert assert_error_shape(response, 409)["code"] == "stale_version"
    # The bare form "<version>" works too.
    response = client.post(_case_url(case, "escalate"), {"comment": "x"}, format="json", HTTP_IF_MATCH='"2"')
    assert response.status_code == 200
    assert Case.objects.get(pk=case.pk).version == 3


def test_a_version_is_required(city, categories):
    case = _report(city, categories)
    other = _report(city, categories)
    client = api_client(city.users["director"])
    assert "version" in assert_error_shape(_post(client, case, "accept"), 400)["fields"]
    response = client.post(_case_url(case, "accept"), {}, format="json", HTTP_IF_MATCH=f'W/"{other.pk}-1"')
    assert "version" in assert_error_shape(response, 400)["fields"]
    response = client.post(_case_url(case, "accept"), {}, format="json", HTTP_IF_MATCH="garbage")
    assert "version" in assert_error_shape(response, 400)["fields"]
    _unchanged(case)


def test_transition_refusals(city, categories):
    case = _report(city, categories)
    # Not from this state: 400.
    error = assert_error_shape(_post(api_client(city.users["director"]), case, "close", version=1), 400)
    assert "action" in error["fields"]
    # Not for this role: 403 (a grid worker does not accept cases).
    assert assert_error_shape(_post(api_client(city.users["worker"]), case, "accept", version=1), 403)
    # Not visible: 404, whatever the body.
    assert assert_error_shape(_post(api_client(city.users["street2"]), case, "accept", version=1), 404)
    assert assert_error_shape(_post(api_client(city.users["citizen"]), case, "comment", version=1,
                                    comment="x"), 404)
    # A needed comment is missing: 400.
    error = assert_error_shape(_post(api_client(city.users["director"]), case, "reject", version=1), 400)
    assert "comment" in error["fields"]
    _unchanged(case)


def test_transition_refuses_references_the_user_cannot_use(city, categories):
    case = _report(city, categories)
    elsewhere = _report(city, categories, user="worker2", grid="B1g1")
    director = api_client(city.users["director"])
    response = _post(director, case, "mark_duplicate", version=1, duplicate_of=elsewhere.pk)
    assert "duplicate_of" in assert_error_shape(response, 400)["fields"]
    services.case_transition(actor=city.users["director"], case=case, name="accept", version=1)
    response = _post(director, case, "assign", version=2, assignee="nobody-here")
    assert "assignee" in assert_error_shape(response, 400)["fields"]
    response = _post(director, case, "assign", version=2, assignee=str(city.users["worker"].pk))
    assert "assignee" in assert_error_shape(response, 400)["fields"]  # a grid worker cannot handle it
    response = _post(director, case, "dispatch", version=2, level=Level.CITY)
    assert "level" in assert_error_shape(response, 400)["fields"]
    assert Case.objects.get(pk=case.pk).version == 2


def test_transition_photos_are_checked_before_anything_changes(city, categories, media_root):
    case = _report(city, categories)
    client = api_client(city.users["director"])
    fake = SimpleUploadedFile("x.jpg", b"GIF89a nonsense", content_type="image/jpeg")
    response = client.post(_case_url(case, "comment"), {"version": 1, "comment": "看图", "photos": [_jpeg(), fake]},
                           format="multipart")
    assert "photos" in assert_error_shape(response, 400)["fields"]
    _unchanged(case)
    response = client.post(_case_url(case, "photos"), {}, format="multipart")
    assert "photos" in assert_error_shape(response, 400)["fields"]
    assert _stored_files(media_root) == []


#
# Schema
#


def test_schema_documents_the_cases_api(db):
    schema = api_client().get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert {"/api/v1/issues/categories/", "/api/v1/issues/cases/", "/api/v1/issues/cases/{id}/",
            "/api/v1/issues/cases/{id}/photos/"} <= set(paths)
    for name in TRANSITIONS:
        operation = paths[f"/api/v1/issues/cases/{{id}}/{name}/"]["post"]
        assert operation["operationId"] == f"issues_cases_{name}"
        assert "409" in operation["responses"]
        # A comment reads no version (issues.workflow): it takes no If-Match either.
        assert ("If-Match" in [p["name"] for p in operation["parameters"]]) is TRANSITIONS[name].versioned
    components = schema["components"]["schemas"]

    def body(path, method, media_type):
        ref = paths[path][method]["requestBody"]["content"][media_type]["schema"]["$ref"]
        return components[ref.rsplit("/", 1)[-1]]

    dispatch = body("/api/v1/issues/cases/{id}/dispatch/", "post", "application/json")
    assert {"version", "comment", "level", "department"} <= set(dispatch["properties"])
    assert "assignee" not in dispatch["properties"]
    assert "comment" in body("/api/v1/issues/cases/{id}/reject/", "post", "application/json")["required"]
    multipart = body("/api/v1/issues/cases/", "post", "multipart/form-data")
    assert multipart["properties"]["photos"]["items"]["format"] == "binary"
    assert "photos" not in body("/api/v1/issues/cases/", "post", "application/json")["properties"]
    list_parameters = {p["name"] for p in paths["/api/v1/issues/cases/"]["get"]["parameters"]}
    assert {"status", "category", "node", "overdue", "created_after", "created_before", "q",
            "ordering"} <= list_parameters


def test_schema_generates_without_warnings(db, tmp_path):
    """Each choice set is named once: `manage.py check --deploy` fails on drf-spectacular's warnings."""
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yml"))


#
# Query budget: constant in the page size and the timeline's length
#


# tests/query_budgets.json: "issues.cases.list" (session, user, grants, count, page),
# "issues.cases.detail" (session, user, grants, case, events, photos) and "issues.cases.create" (a report
# and its answer: measured before the grid named with the point was checked against it; checking it
# costs no query, and a named grid is loaded by the serializer where locate() would have run).


@pytest.fixture
def crowded(city, categories):
    for i in range(30):
        _report(city, categories, "worker", "A1g1", description=f"问题{i}")
    _report(city, categories, "citizen", "A1g2", reporter_public=False)
    return city


@pytest.mark.parametrize("user", ["street", "admin", "citizen"])
def test_list_queries_do_not_grow_with_the_page(crowded, query_budget, user):
    client = api_client(crowded.users[user])
    counts = []
    for page_size in (5, 50):
        with query_budget("issues.cases.list") as queries:
            response = client.get(f"{API}/cases/", {"page_size": page_size})
        assert response.status_code == 200
        assert len(response.json()["results"]) == min(page_size, response.json()["count"])
        counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("named", [False, True], ids=["located", "grid-named"])
def test_report_queries(city, categories, query_budget, named):
    client = api_client(city.users["worker"])
    assert client.post(f"{API}/cases/", _payload(city, categories), format="json").status_code == 201  # warm-up
    payload = {**_payload(city, categories), **({"grid": city.nodes["A1g1"].pk} if named else {})}
    with query_budget("issues.cases.create"):
        response = client.post(f"{API}/cases/", payload, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(("user", "category", "extra"), [
    ("director", "city-management", 0),
    ("admin", "city-management", -1),  # a superuser has no grants to load
    # A department's case: one more query (is the user posted in that department?), asked once.
    ("dept", "sanitation", 1),
])
def test_detail_queries_do_not_grow_with_the_timeline(city, categories, query_budget, user, category, extra):
    director = city.users["director"]
    cases = []
    for photos in ([], [_jpeg()]):
        case = _report(city, categories, category=category, photos=photos)
        case = services.case_transition(actor=director, case=case, name="accept", version=1)
        case = services.case_transition(actor=director, case=case, name="dispatch", version=2)
        cases.append(case)
    long = cases[1]
    for _i in range(8):
        long = services.case_transition(actor=director, case=long, name="comment", version=long.version,
                                        comment="再看看", photos=[_jpeg()])
    client = api_client(city.users[user])
    counts = []
    for case in cases:
        with query_budget("issues.cases.detail", extra) as queries:
            response = client.get(_case_url(case))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    body = response.json()
    assert len(body["events"]) == 11 and len(body["photos"]) == 9
    assert "start" in body["actions"]  # each of them handles the case where it is now
