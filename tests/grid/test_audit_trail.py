"""Who changed a grant or a household (issue 9, item 10): each change writes its audit row, with the
change, in the same transaction. (Views of unmasked ID numbers: tests/grid/test_id_numbers.py.)"""

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory

from civic.audit import AuditMiddleware, audit_refusal
from civic.models import AuditEvent
from grid import services
from grid.idnumbers import make_id_number
from grid.models import Household, Post, Role
from tests.factories import UserFactory
from tests.grid.utils import API, admin_client, admin_url, api_client


@pytest.fixture
def new_events(db):
    """The events written during the test: the package's city was built through the audited services too."""
    first = (AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    return AuditEvent.objects.filter(id__gte=first).order_by("id")


def test_a_post_created_and_ended_through_the_api_is_audited_with_its_grants(city, new_events):
    newcomer = UserFactory(username="newcomer")
    client = api_client(city.users["director"])
    response = client.post(f"{API}/posts/", {"user": "newcomer", "role": Role.GRID_WORKER,
                                             "node": city.nodes["A1g2"].pk}, format="json")
    assert response.status_code == 201, response.content
    (created,) = list(new_events.filter(action="grant.post_created"))
    assert (created.actor, created.target_id) == (city.users["director"], str(newcomer.pk))
    assert "change_registry" in created.detail["permissions"] and created.detail["node"] == city.nodes["A1g2"].pk
    assert created.ip == "127.0.0.1"
    assert client.delete(f"{API}/posts/{response.json()['id']}/").status_code == 204
    (ended,) = list(new_events.filter(action="grant.post_deleted"))
    assert ended.actor == city.users["director"] and "change_registry" in ended.detail["permissions"]


def test_a_post_added_in_the_admin_is_audited(city, new_events):
    newcomer = UserFactory(username="newcomer")
    response = admin_client(city.users["street"]).post(
        admin_url("post", "add"), {"user": newcomer.pk, "role": Role.GRID_WORKER, "node": city.nodes["A1g2"].pk})
    assert response.status_code == 302
    assert Post.objects.filter(user=newcomer).exists()
    assert [e.actor.username for e in list(new_events.filter(action="grant.post_created"))] == ["street"]


def test_a_grant_changed_on_the_object_permissions_page_is_audited(city, new_events):
    street = city.users["street"]
    url = admin_url("gridnode", "permissions_manage_user", city.nodes["A1"].pk, street.pk)
    client = admin_client(city.users["admin"])
    assert client.post(url, {"permissions": ["view_personal_id", "record_visit"]}).status_code == 302
    assert client.post(url, {"permissions": ["record_visit"]}).status_code == 302
    given, taken = list(new_events.filter(action="grant.changed"))
    assert (given.actor, given.target_id) == (city.users["admin"], str(city.nodes["A1"].pk))
    assert given.detail["added"] == ["record_visit", "view_personal_id"] and given.detail["removed"] == []
    assert taken.detail["added"] == [] and taken.detail["removed"] == ["view_personal_id"]
    assert taken.detail["holder_type"] == "user" and taken.detail["holder_id"] == street.pk


def test_a_group_grant_is_audited_too(city, new_events):
    group = Group.objects.create(name="night shift")
    url = admin_url("gridnode", "permissions_manage_group", city.nodes["A1"].pk, group.pk)
    assert admin_client(city.users["admin"]).post(url, {"permissions": ["view_registry"]}).status_code == 302
    (event,) = list(new_events.filter(action="grant.changed"))
    assert event.detail["holder_type"] == "group" and event.detail["added"] == ["view_registry"]


def test_saving_without_a_change_of_grants_writes_nothing(city, new_events):
    street = city.users["street"]
    url = admin_url("gridnode", "permissions_manage_user", city.nodes["A1"].pk, street.pk)
    client = admin_client(city.users["admin"])
    assert client.post(url, {"permissions": ["record_visit"]}).status_code == 302
    assert client.post(url, {"permissions": ["record_visit"]}).status_code == 302
    assert len(list(new_events.filter(action="grant.changed"))) == 1


def test_households_and_residents_created_changed_and_deleted_are_audited(city, new_events):
    client = api_client(city.users["worker"])
    response = client.post(f"{API}/households/", {
        "grid": city.nodes["A1g1"].pk, "address": "审计楼 1",
        "residents": [{"name": "甲", "id_number": make_id_number("150102", "19950101", 1)}]}, format="json")
    household = Household.objects.get(pk=response.json()["id"])
    resident = household.residents.get()
    client.patch(f"{API}/households/{household.pk}/", {"head_name": "甲"}, format="json")
    client.delete(f"{API}/households/{household.pk}/")
    actions = [(e.action, e.target_id) for e in new_events.filter(
        action__regex=r"^(household|resident)\.")]
    assert actions == [("household.created", str(household.pk)), ("resident.created", str(resident.pk)),
                       ("household.changed", str(household.pk)), ("household.deleted", str(household.pk))]
    (changed,) = list(new_events.filter(action="household.changed"))
    assert changed.detail["fields"] == ["head_name"] and changed.actor == city.users["worker"]
    assert list(new_events.filter(action="household.deleted"))[0].detail["residents"] == [resident.pk]


def test_a_resident_dropped_from_a_household_is_audited(city, new_events):
    household = city.households["A1g1"]
    resident = household.residents.get()
    services.household_save(actor=city.users["worker"], household=household, residents=[])
    (event,) = list(new_events.filter(action="resident.deleted"))
    assert (event.actor, event.target_id, event.summary) == (city.users["worker"], str(resident.pk), resident.name)


def test_places_are_not_people_and_are_not_audited(city):
    place = city.places["A1g1"]
    place.name = "改名"
    services.record_save(actor=city.users["worker"], instance=place)
    assert not AuditEvent.objects.filter(target_type="grid.place").exists()


@pytest.mark.django_db
def test_a_refusal_survives_the_rollback_of_its_request(new_events):
    """Written after the response, outside the transaction that the refusal rolled back."""
    from django.db import transaction
    from django.http import HttpResponse

    user = UserFactory(username="prober")

    def view(request):
        try:
            with transaction.atomic():
                audit_refusal(actor=user, action="ratelimit.refused", summary="test")
                raise RuntimeError
        except RuntimeError:
            return HttpResponse(status=429)

    AuditMiddleware(view)(RequestFactory().get("/", REMOTE_ADDR="10.0.0.9"))
    (event,) = list(new_events.filter(action="ratelimit.refused"))
    assert (event.actor, event.ip) == (user, "10.0.0.9")
