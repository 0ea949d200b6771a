"""What a viewer may see of a case, decided once (issues.selectors.CaseView) for the API, the admin, the
portal and the field app: a reporter who asked not to be shown stays hidden from all staff (superusers
included) in each of them; the timeline's labels come from one table next to the workflow; and which
cases are public is one rule."""

import re
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse
from django.utils import translation

from issues import services
from issues.models import Case, CaseEvent, Status
from issues.selectors import CaseView, case_view, is_public, public_case_list
from issues.workflow import EVENT_LABELS, TRANSITIONS, event_label
from tests.factories import CityBuilder
from tests.grid.utils import api_client
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import drive, jpeg_upload, report
from tests.support.city import built_once, restore

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
HIDDEN_NAME = "李四"  # the hidden reporter's name: it must appear on no staff page


@pytest.fixture(scope="module")
def _city(django_db_setup, django_db_blocker):
    with built_once(django_db_blocker, CityBuilder().build) as snapshot:
        yield snapshot


@pytest.fixture
def city(db, _city):
    return restore(_city)


@pytest.fixture
def hidden(city, categories):  # noqa: F811
    """A citizen's case in grid A1g1, reported with "do not show me", with the citizen's own comment and
    photo on its timeline, then accepted by the community."""
    citizen = city.users["citizen"]
    citizen.last_name, citizen.first_name = HIDDEN_NAME[0], HIDDEN_NAME[1:]
    citizen.save()
    case = report(city, categories["city-management"], actor=citizen, reporter_public=False, photos=[jpeg_upload()])
    drive(case, citizen, ("comment", {"comment": "还是很脏", "photos": [jpeg_upload()]}))
    drive(case, city.users["director"], "accept")
    return Case.objects.get(pk=case.pk)


def client_for(user) -> Client:
    client = Client(**EN)
    client.force_login(user)
    return client


def admin_page(user, case) -> str:
    response = client_for(user).get(reverse("admin:issues_case_change", args=[case.pk]))
    assert response.status_code == 200
    return response.content.decode()


#
# The admin: the defect
#


@pytest.mark.parametrize("viewer", ["director", "street", "district", "admin"])
def test_the_admin_change_page_does_not_show_a_hidden_reporter(city, hidden, viewer):
    page = admin_page(city.users[viewer], hidden)
    assert HIDDEN_NAME not in page
    assert "(citizen)" not in page  # the username, as the admin writes a person: "name (username)"
    # The reporter field, the timeline's actor of the report and of the comment, the photos' uploader.
    assert page.count("the reporter (asked not to be shown)") == 1 + 2 + 2


def test_the_admin_still_shows_staff_and_a_reporter_who_did_not_hide(city, categories):  # noqa: F811
    director = city.users["director"]
    director.last_name, director.first_name = "王", "主任"
    director.save()
    citizen = city.users["citizen"]
    citizen.last_name, citizen.first_name = HIDDEN_NAME[0], HIDDEN_NAME[1:]
    citizen.save()
    case = report(city, categories["city-management"], actor=citizen, photos=[jpeg_upload()])
    drive(case, director, "accept")
    page = admin_page(city.users["street"], case)
    assert f"{HIDDEN_NAME} (citizen)" in page and "王主任 (director)" in page
    assert "asked not to be shown" not in page


def test_the_admin_changelist_cannot_be_filtered_by_reporter(city, hidden):
    """?reporter=<id> would list the cases a person reported, hidden ones included."""
    client = client_for(city.users["director"])
    changelist = reverse("admin:issues_case_changelist")
    for lookup in ("reporter", "reporter__id__exact", "reporter_id", "reporter__username"):
        value = "citizen" if lookup.endswith("username") else hidden.reporter_id
        response = client.get(changelist, {lookup: value})
        assert response.status_code == 400, lookup
        assert hidden.reference not in response.content.decode()
    # The changelist itself, and its other filters, work as before.
    response = client.get(changelist, {"reporter_kind__exact": "citizen"})
    assert response.status_code == 200 and hidden.reference in response.content.decode()
    assert HIDDEN_NAME not in response.content.decode()


#
# One selector for every front end
#


def _api(user, case) -> str:
    return api_client(user).get(f"/api/v1/issues/cases/{case.pk}/").content.decode()


def _field(user, case) -> str:
    return client_for(user).get(reverse("field:case", args=[case.pk])).content.decode()


FRONT_ENDS = {"admin": admin_page, "api": _api, "field": _field}


@pytest.mark.parametrize("front_end", sorted(FRONT_ENDS))
def test_every_front_end_asks_the_one_selector(city, hidden, front_end):
    """Hidden from the director everywhere; and when the selector (alone) is made to say "shown", every
    front end shows the reporter: none of them decides on its own."""
    show = FRONT_ENDS[front_end]
    director = city.users["director"]
    # How each writes a person: the API a username, the admin "surname given-name (username)", the field
    # app the full name.
    shown_by = {"api": "citizen", "admin": HIDDEN_NAME, "field": hidden.reporter.get_full_name()}[front_end]
    assert shown_by not in re.sub(r'"reporter_kind": ?"citizen"', "", show(director, hidden))
    with mock.patch.object(CaseView, "reporter_shown", property(lambda view: True)):
        assert shown_by in show(director, hidden)


def test_the_reporter_sees_themself_and_the_portal_never_names_staff(city, hidden):
    citizen = city.users["citizen"]
    body = api_client(citizen).get(f"/api/v1/issues/cases/{hidden.pk}/").json()
    assert body["reporter"] == "citizen"
    assert [(e["actor"], e["by_reporter"]) for e in body["events"]] == [
        ("citizen", True), ("citizen", True), ("director", False),
    ]
    page = client_for(citizen).get(reverse("portal:cases:detail", args=[hidden.reference])).content.decode()
    assert page.count('<span class="who">You</span>') == 2 and page.count('<span class="who">City staff</span>') == 1
    assert "director" not in page


def test_a_superuser_does_not_see_a_hidden_reporter_either(city, hidden):
    body = api_client(city.admin).get(f"/api/v1/issues/cases/{hidden.pk}/").json()
    assert body["reporter"] is None
    assert [e["actor"] for e in body["events"]] == [None, None, "director"]
    view = case_view(user=city.admin, case=hidden)
    assert view.sees_case and not view.reporter_shown and view.reporter is None


def test_the_view_of_the_public(city, hidden, categories):  # noqa: F811
    public = report(city, categories["city-management"], actor=city.users["citizen"], photos=[jpeg_upload()])
    anonymous = case_view(user=AnonymousUser(), case=public)
    assert not anonymous.sees_case and anonymous.photo_variants == ("display",)
    assert anonymous.reporter_shown  # a public reporter; the portal's public pages show no reporter anyway
    assert case_view(user=AnonymousUser(), case=hidden).photo_variants == ()
    sensitive = report(city, categories["dispute"], actor=city.users["citizen"])
    assert case_view(user=city.users["worker2"], case=sensitive).photo_variants == ()
    assert case_view(user=city.users["director"], case=sensitive).photo_variants == ("display", "original")


#
# Labels: one table next to the workflow
#


def test_the_workflow_table_and_the_services_handlers_cover_the_same_actions():
    assert set(TRANSITIONS) == set(services._APPLY)


def test_every_timeline_action_has_one_label():
    assert not set(EVENT_LABELS) & set(TRANSITIONS)  # one entry per action
    # What case_report, the overdue sweep and the transitions write, each named in Chinese by the table.
    with translation.override("zh-hans"):
        for action in ("report", "flag", *TRANSITIONS):
            assert event_label(action) != action, action
        assert event_label("unknown") == "unknown"


def test_the_api_and_the_admin_name_a_flag_alike(city, hidden):
    """They disagreed: "flagged to the command centre" in the API, "flag to the command centre" in the admin."""
    CaseEvent.objects.create(case=hidden, action="flag", from_status=hidden.status, to_status=hidden.status)
    api_labels = [e["label"] for e in api_client(city.users["district"]).get(
        f"/api/v1/issues/cases/{hidden.pk}/", **EN).json()["events"]]
    assert api_labels == ["report", "comment", "accept", "flagged to the command centre"]
    page = admin_page(city.users["district"], hidden)
    assert re.findall(r'<td class="field-what">\s*<p>([^<]*)</p>', page) == api_labels


def test_the_field_app_and_the_portal_use_the_same_labels(city, hidden):
    field = _field(city.users["director"], hidden)
    portal = client_for(city.users["citizen"]).get(
        reverse("portal:cases:detail", args=[hidden.reference])).content.decode()
    for page in (field, portal):
        assert "· comment" in page and "· note" not in page


#
# Which cases are public: one rule, as SQL and for a case in hand
#


@pytest.mark.parametrize("reporter_public", [True, False])
def test_public_case_list_and_is_public_agree(city, categories, reporter_public):  # noqa: F811
    case = report(city, categories["city-management"], actor=city.users["citizen"], reporter_public=reporter_public)
    for status in Status.values:
        Case.objects.filter(pk=case.pk).update(status=status)
        case.refresh_from_db()
        listed = public_case_list().filter(pk=case.pk).exists()
        assert listed == is_public(case), status
        assert listed == (reporter_public and status not in (Status.REJECTED, Status.DUPLICATE)), status
