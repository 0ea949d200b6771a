"""Comments never conflict with transitions: a comment only joins the timeline, so it neither needs
nor changes the case's version (the handlers' optimistic lock), through the API as in the services,
and under real concurrency on PostgreSQL."""

import pytest
from django.contrib.auth import get_user_model

from issues import services
from issues.models import Case, Status
from tests.grid.utils import api_client, assert_error_shape
from tests.issues.helpers import jpeg_upload, report
from tests.support.race import race

API = "/api/v1/issues/cases"


def _accepted(city, categories) -> Case:
    case = report(city, categories["sanitation"])
    return services.case_transition(actor=city.users["director"], case=case, name="accept", version=case.version)


def test_a_read_only_departments_comment_leaves_the_handlers_etag_valid(city, categories):
    """The review's case: the sanitation department reads the district and comments; the community
    director then resolves with the ETag read before the comment."""
    case = _accepted(city, categories)
    director, dept = api_client(city.users["director"]), api_client(city.users["dept"])
    etag = director.get(f"{API}/{case.pk}/")["ETag"]

    response = dept.post(f"{API}/{case.pk}/comment/", {"comment": "请尽快清运"}, format="json")
    assert response.status_code == 200, response.content
    assert response["ETag"] == etag and response.json()["version"] == case.version

    response = director.post(f"{API}/{case.pk}/resolve/", {"comment": "已清理"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == Status.RESOLVED and body["version"] == case.version + 1
    assert [e["action"] for e in body["events"]] == ["report", "accept", "comment", "resolve"]


def test_a_comment_needs_no_version_and_ignores_a_stale_one(city, categories):
    case = _accepted(city, categories)
    client = api_client(city.users["dept"])
    for extra in ({}, {"version": 1}, {"version": 99}):
        response = client.post(f"{API}/{case.pk}/comment/", {"comment": "收到", **extra}, format="json")
        assert response.status_code == 200, (extra, response.content)
    response = client.post(f"{API}/{case.pk}/comment/", {"comment": "收到"}, format="json", HTTP_IF_MATCH='"99"')
    assert response.status_code == 200, response.content
    stored = Case.objects.get(pk=case.pk)
    assert stored.version == case.version and stored.events.filter(action="comment").count() == 4


def test_added_photos_need_no_version_either(city, categories):
    case = _accepted(city, categories)
    client = api_client(city.users["director"])
    response = client.post(f"{API}/{case.pk}/photos/", {"photos": [jpeg_upload()]}, format="multipart",
                           HTTP_IF_MATCH='"99"')
    assert response.status_code == 200, response.content
    assert response.json()["version"] == case.version


def test_a_transition_still_needs_its_version(city, categories):
    case = _accepted(city, categories)
    client = api_client(city.users["director"])
    response = client.post(f"{API}/{case.pk}/resolve/", {"comment": "已清理"}, format="json")
    assert "version" in assert_error_shape(response, 400)["fields"]
    response = client.post(f"{API}/{case.pk}/resolve/", {"comment": "已清理", "version": 1}, format="json")
    assert assert_error_shape(response, 409)["code"] == "stale_version"


def test_the_schema_says_a_comment_reads_no_version(db):
    schema = api_client().get("/api/schema/?format=json").json()
    comment = schema["components"]["schemas"]["CaseCommentRequest"]
    resolve = schema["components"]["schemas"]["CaseResolveRequest"]
    assert "version" not in comment["properties"] and "version" in resolve["properties"]
    operation = schema["paths"]["/api/v1/issues/cases/{id}/comment/"]["post"]
    assert "If-Match" not in {p["name"] for p in operation.get("parameters", [])}
    assert "never conflicts with a transition" in operation["description"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_comments_and_a_transition_at_once_all_go_through(postgres, city, categories):
    """Real parallel connections: five comments and the handler's step, all on the version read before."""
    case = _accepted(city, categories)
    read = case.version
    User = get_user_model()
    commenters = ["dept", "worker", "street", "district", "admin"]

    def load(index: int):
        username = "director" if index == len(commenters) else commenters[index]
        return User.objects.get(username=username), Case.objects.get(pk=case.pk)

    def act(index: int, loaded):
        actor, fresh = loaded
        if index == len(commenters):
            return services.case_transition(actor=actor, case=fresh, name="resolve", version=read, comment="已清理")
        return services.case_transition(actor=actor, case=fresh, name="comment", version=read, comment=f"意见 {index}")

    outcome = race(act, len(commenters) + 1, prepare=load)
    assert outcome.errors == []
    stored = Case.objects.get(pk=case.pk)
    assert stored.status == Status.RESOLVED and stored.version == read + 1
    assert stored.events.filter(action="comment").count() == len(commenters)
