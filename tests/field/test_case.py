"""/field/cases/<id>/: a case of my area with the actions issues.services offers me now (handle,
resolve with an after photo, verify on site, dispute, note); a stale version changes nothing."""

import re

import pytest

from issues.models import Case, CasePhoto, Status
from tests.issues.helpers import drive, jpeg_upload, report, text_upload

EN = {"accept-language": "en"}


def url(case: Case) -> str:
    return f"/field/cases/{case.pk}/"


def offered(html: str) -> list[str]:
    return re.findall(r'<input type="hidden" name="name" value="(\w+)">', html)


def in_progress(city, categories, **kwargs) -> Case:
    return drive(report(city, categories["city-management"], **kwargs), city.users["director"],
                 "accept", ("dispatch", {"level": 4}), "start")


def resolved(city, categories, **kwargs) -> Case:
    return drive(in_progress(city, categories, **kwargs), city.users["director"], ("resolve", {"comment": "已修好"}))


def test_a_case_outside_my_area_is_404(as_user, city, categories):
    case = report(city, categories["city-management"])
    client = as_user("worker2")
    assert client.get(url(case)).status_code == 404
    assert client.post(url(case), {"name": "comment", "version": 1, "comment": "x"}).status_code == 404
    assert not case.events.filter(action="comment").exists()


def test_the_worker_verifies_a_resolution_on_site(as_user, city, categories):
    case = resolved(city, categories)
    client = as_user("worker")
    html = client.get(url(case), headers=EN).content.decode()
    assert offered(html) == ["verify", "reopen", "comment"]
    assert "已修好" in html and "Checked on site: the problem is solved" in html
    response = client.post(url(case), {"name": "verify", "version": case.version, "photos": [jpeg_upload()]},
                           headers=EN)
    assert response.status_code == 302 and response["Location"] == url(case)
    case.refresh_from_db()
    assert case.status == Status.VERIFIED
    assert case.events.get(action="verify").photos.count() == 1
    assert "Saved." in client.get(url(case), headers=EN).content.decode()


def test_a_dispute_needs_a_comment(as_user, city, categories):
    case = resolved(city, categories)
    response = as_user("worker").post(url(case), {"name": "reopen", "version": case.version}, headers=EN)
    assert response.status_code == 400
    assert 'id="id_reopen_comment"' in response.content.decode()
    assert response.context["actions"][1]["form"].errors["comment"]
    case.refresh_from_db()
    assert case.status == Status.RESOLVED


def test_the_worker_may_only_add_notes_to_an_open_case(as_user, city, categories):
    case = in_progress(city, categories)
    client = as_user("worker")
    assert offered(client.get(url(case)).content.decode()) == ["comment"]
    response = client.post(url(case), {"name": "resolve", "version": case.version, "comment": "修好了",
                                       "photos": [jpeg_upload()]}, headers=EN)
    assert response.status_code == 400
    assert "You may not do this to this case." in response.content.decode()
    assert Case.objects.get(pk=case.pk).status == Status.IN_PROGRESS


def test_community_staff_resolve_with_an_after_photo(as_user, city, categories):
    case = in_progress(city, categories)
    client = as_user("director")
    assert offered(client.get(url(case)).content.decode()) == ["resolve", "comment"]
    response = client.post(url(case), {"name": "resolve", "version": case.version, "comment": "已修好"}, headers=EN)
    assert response.status_code == 400
    assert "Add a photo taken after handling." in response.content.decode()
    response = client.post(url(case), {"name": "resolve", "version": case.version, "comment": "已修好",
                                       "photos": [text_upload()]}, headers=EN)
    assert response.status_code == 400 and Case.objects.get(pk=case.pk).status == Status.IN_PROGRESS
    response = client.post(url(case), {"name": "resolve", "version": case.version, "comment": "已修好",
                                       "photos": [jpeg_upload()]})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.RESOLVED
    assert case.photos.filter(kind=CasePhoto.KIND_AFTER).count() == 1


def test_a_stale_version_changes_nothing_and_says_reload(as_user, city, categories):
    case = report(city, categories["city-management"])
    stale = case.version
    drive(case, city.users["director"], "accept")
    response = as_user("director").post(url(case), {"name": "accept", "version": stale}, headers=EN)
    assert response.status_code == 409
    assert "Reload to see its latest state" in response.content.decode()
    assert case.events.filter(action="accept").count() == 1
    # A comment reads no version: the step taken meanwhile does not make it fail.
    response = as_user("worker").post(url(case), {"name": "comment", "version": stale, "comment": "有进展吗"})
    assert response.status_code == 302 and case.events.filter(action="comment").exists()


def test_a_reporter_who_asked_not_to_be_shown_stays_hidden(as_user, city, categories):
    citizen = city.users["citizen"]
    citizen.first_name = "李四"
    citizen.save()
    case = report(city, categories["city-management"], actor=citizen, reporter_public=False)
    html = as_user("worker").get(url(case), headers=EN).content.decode()
    assert "李四" not in html and "the reporter" in html


@pytest.mark.parametrize("notes", [0, 5])
def test_the_case_page_costs_the_same_queries_however_long_its_timeline(as_user, city, categories, notes,
                                                                        django_assert_max_num_queries):
    case = in_progress(city, categories)
    for _ in range(notes):
        drive(case, city.users["director"], ("comment", {"comment": "跟进", "photos": [jpeg_upload()]}))
    client = as_user("worker")
    # session, user, posts, grants, own cases outside the grants?, the case, its timeline, its photos
    with django_assert_max_num_queries(8):
        assert client.get(url(case)).status_code == 200
