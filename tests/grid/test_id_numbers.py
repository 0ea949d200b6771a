"""ID numbers: no oracle for numbers out of the user's sight (issue 9, item 3), the keyed look-up hash,
the duplicate-registration review, the hourly limit, and every unmasked view audited (item 10).

The city: worker sees grid A1g1 only; B1g1's resident is out of their sight. A1g1 and B1g1 meet at
the district, so the district commander is the one who sees both households.
"""

import re

import pytest
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from guardian.shortcuts import assign_perm

from civic.models import AuditEvent, Notice
from grid import services
from grid.idnumbers import id_number_hash, make_id_number, mask_id_number
from grid.models import DuplicateRegistration, Household, Resident
from grid.selectors import id_number_holder
from tests.grid.utils import API, admin_client, admin_url, api_client, assert_error_shape

UNUSED = make_id_number("150102", "19910101", 1)
UNUSED_2 = make_id_number("150102", "19910101", 2)


def _out_of_sight(city) -> str:
    return city.households["B1g1"].residents.get().id_number


def _patch_number(user, household, resident, number):
    return api_client(user).patch(
        f"{API}/households/{household.pk}/", {"residents": [{"id": resident.pk, "name": resident.name,
                                                             "id_number": number}]}, format="json")


def _without_numbers(body: dict) -> dict:
    return {**body, "residents": [{k: v for k, v in r.items() if k != "id_number"} for r in body["residents"]]}


#
# The oracle, closed
#


def test_a_number_held_out_of_sight_gets_the_answer_of_an_unused_one(city):
    """The reported attack: a grid worker changes a resident of their own grid to a number held by a
    resident they cannot see. Before the fix: 400 "already exists" for a taken number, 200 otherwise."""
    household = city.households["A1g1"]
    resident = household.residents.get()
    taken = _patch_number(city.users["worker"], household, resident, _out_of_sight(city))
    unused = _patch_number(city.users["worker"], household, resident, UNUSED)
    assert (taken.status_code, unused.status_code) == (200, 200), taken.content
    assert taken.json()["residents"][0]["id_number"] == mask_id_number(_out_of_sight(city))
    assert unused.json()["residents"][0]["id_number"] == mask_id_number(UNUSED)
    assert _without_numbers(taken.json()) == _without_numbers(unused.json())
    assert set(taken.headers) == set(unused.headers)


def test_a_new_resident_with_a_number_out_of_sight_is_created_like_any_other(city):
    responses = [
        api_client(city.users["worker"]).post(
            f"{API}/households/", {"grid": city.nodes["A1g1"].pk, "address": f"新{i}",
                                   "residents": [{"name": "新人", "id_number": number}]}, format="json")
        for i, number in enumerate((_out_of_sight(city), UNUSED))
    ]
    assert [r.status_code for r in responses] == [201, 201]
    assert [sorted(r.json()) for r in responses][0] == sorted(responses[1].json())
    assert "duplicate" not in responses[0].content.decode()


def test_the_duplicate_is_stored_for_review_by_those_who_see_both(city):
    household = city.households["A1g1"]
    resident = household.residents.get()
    original = city.households["B1g1"].residents.get()
    _patch_number(city.users["worker"], household, resident, original.id_number)
    resident.refresh_from_db()
    assert resident.duplicate and resident.id_number == original.id_number
    review = DuplicateRegistration.objects.get()
    assert (review.resident, review.original, review.registered_by) == (resident, original, city.users["worker"])
    # The district commander's post is the lowest that covers both grids: they are told, in-app among others.
    told = set(Notice.objects.filter(template="grid/duplicate_registration").values_list("recipient__username",
                                                                                          flat=True))
    assert told == {"district"}
    notice = Notice.objects.filter(template="grid/duplicate_registration", channel=Notice.Channel.IN_APP).get()
    assert original.id_number not in notice.body and resident.name not in notice.body


@pytest.mark.parametrize(("username", "sees"), [("district", True), ("admin", True), ("street", False),
                                                 ("street2", False), ("worker", False)])
def test_the_review_is_visible_in_the_admin_to_staff_covering_both_households(city, username, sees):
    household = city.households["A1g1"]
    _patch_number(city.users["worker"], household, household.residents.get(), _out_of_sight(city))
    review = DuplicateRegistration.objects.get()
    client = admin_client(city.users[username])
    page = client.get(admin_url("duplicateregistration", "changelist"))
    assert (page.status_code == 200 and household.address in page.content.decode()) is sees
    assert client.get(admin_url("duplicateregistration", "change", review.pk)).status_code == (200 if sees else 302)


def test_a_review_closes_once_one_registration_is_corrected(city):
    household = city.households["A1g1"]
    resident = household.residents.get()
    original = city.households["B1g1"].residents.get()
    _patch_number(city.users["worker"], household, resident, original.id_number)
    review = DuplicateRegistration.objects.get()
    client = admin_client(city.users["district"])
    url = admin_url("duplicateregistration", "change", review.pk)
    # Both still hold the number: it cannot be closed yet.
    client.post(url, {"resolution": "checked"})
    review.refresh_from_db()
    assert review.resolved_at is None
    # The earlier registration was the wrong one: removed, the new one becomes the registration.
    services.record_delete(actor=city.users["district"], instance=original)
    response = client.post(url, {"resolution": "moved house; old registration removed"})
    assert response.status_code == 302
    review.refresh_from_db()
    resident.refresh_from_db()
    assert review.resolved_by == city.users["district"] and review.resolved_at is not None
    assert not resident.duplicate and id_number_holder(resident.id_number) == resident


def test_correcting_the_new_registrations_number_closes_its_review(city):
    household = city.households["A1g1"]
    resident = household.residents.get()
    _patch_number(city.users["worker"], household, resident, _out_of_sight(city))
    _patch_number(city.users["worker"], household, resident, UNUSED)
    resident.refresh_from_db()
    assert not resident.duplicate
    assert DuplicateRegistration.objects.get().resolved_at is not None


def test_a_number_held_in_sight_is_refused_in_the_admin_too(city):
    """The inline's own check names a holder only to those who see it."""
    household = city.households["A1g1"]
    resident = household.residents.get()
    other = Household(grid=city.nodes["A1g1"], address="同格")
    services.household_save(actor=city.admin, household=other, residents=[{"name": "邻", "id_number": UNUSED}])
    for number, refused in ((UNUSED, True), (_out_of_sight(city), False)):
        response = admin_client(city.users["worker"]).post(
            admin_url("household", "change", household.pk), _inline_post(household, resident, number),
            headers={"accept-language": "en"})
        assert (response.status_code == 200) is refused, number
        assert ("already registered" in response.content.decode()) is refused
    resident.refresh_from_db()
    assert resident.id_number == _out_of_sight(city) and resident.duplicate


def _inline_post(household, resident, number) -> dict:
    return {
        "grid": household.grid_id, "address": household.address, "head_name": household.head_name, "phone": "",
        "residents-TOTAL_FORMS": "1", "residents-INITIAL_FORMS": "1", "residents-MIN_NUM_FORMS": "0",
        "residents-MAX_NUM_FORMS": "1000", "residents-0-id": resident.pk, "residents-0-household": household.pk,
        "residents-0-name": resident.name, "residents-0-id_number": number, "residents-0-relation": "",
        "residents-0-phone": "", "_save": "Save",
    }


#
# The keyed hash
#


def test_look_ups_go_through_a_keyed_hash(city, settings):
    resident = city.households["A1g1"].residents.get()
    assert resident.id_number_hash == id_number_hash(resident.id_number) and len(resident.id_number_hash) == 64
    assert resident.id_number not in resident.id_number_hash
    settings.ID_NUMBER_HASH_KEY = "another key"
    assert id_number_hash(resident.id_number) != resident.id_number_hash
    assert id_number_holder(resident.id_number) is None  # not found under another key ...
    services.residents_rehash()
    assert id_number_holder(resident.id_number) == resident  # ... until the hashes are recomputed


def test_the_migration_fills_the_hash_of_existing_rows(city):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("grid.migrations.0004_resident_id_number_hash")
    Resident.objects.update(id_number_hash=Concat(Value("stale-"), F("id")))
    migration.fill_hashes(apps, connection.schema_editor())
    assert all(r.id_number_hash == id_number_hash(r.id_number) for r in Resident.objects.all())


#
# The hourly limit and the audit trail of changes
#


@pytest.mark.parametrize("kind", ["taken out of sight", "unused"])
def test_id_number_changes_are_limited_per_user_whatever_the_number(city, settings, kind):
    settings.ID_NUMBER_CHANGES_PER_HOUR = 2
    household = city.households["A1g1"]
    resident = household.residents.get()
    for seq in (11, 12):
        assert _patch_number(city.users["worker"], household, resident,
                             make_id_number("150102", "19920101", seq)).status_code == 200
    number = UNUSED if kind == "unused" else _out_of_sight(city)
    response = _patch_number(city.users["worker"], household, resident, number)
    error = assert_error_shape(response, 429)
    assert error["code"] == "throttled" and int(response.headers["Retry-After"]) > 0
    assert Resident.objects.get(pk=resident.pk).id_number == make_id_number("150102", "19920101", 12)
    assert not DuplicateRegistration.objects.exists()
    refusal = AuditEvent.objects.get(action="ratelimit.refused")
    assert refusal.actor == city.users["worker"] and refusal.summary == "grid.id_number_change"
    # Others keep their own allowance; a change that keeps the number is no ID-number change.
    assert _patch_number(city.users["director"], household, resident, UNUSED_2).status_code == 200
    response = api_client(city.users["worker"]).patch(
        f"{API}/households/{household.pk}/", {"residents": [{"id": resident.pk, "name": "改名"}]}, format="json")
    assert response.status_code == 200


def test_every_change_of_a_resident_is_audited_without_the_number(city):
    household = city.households["A1g1"]
    resident = household.residents.get()
    _patch_number(city.users["worker"], household, resident, _out_of_sight(city))
    event = AuditEvent.objects.get(action="resident.changed")
    assert (event.actor, event.target_id) == (city.users["worker"], str(resident.pk))
    assert event.detail["id_number_changed"] is True and event.detail["fields"] == ["id_number"]
    assert event.detail["duplicate_registration"] == DuplicateRegistration.objects.get().pk
    assert _out_of_sight(city) not in str(event.detail) + event.summary


#
# Unmasked views: one place decides, one audit row per request
#


def _grant_unmasked(city, username="street", node="A1"):
    assign_perm("grid.view_personal_id", city.users[username], city.nodes[node])


def test_an_api_page_showing_unmasked_numbers_writes_one_audit_row(city):
    _grant_unmasked(city)
    for i in range(3):
        services.household_save(actor=city.admin, household=Household(grid=city.nodes["A1g1"], address=f"审{i}"),
                                residents=[{"name": "甲", "id_number": make_id_number("150102", "19930101", i)}])
    response = api_client(city.users["street"]).get(f"{API}/households/", {"node": city.nodes["A1"].pk})
    shown = [r for h in response.json()["results"] for r in h["residents"] if "*" not in r["id_number"]]
    assert len(shown) == 5
    event = AuditEvent.objects.get(action="resident.id_number_viewed")
    assert event.actor == city.users["street"] and event.ip == "127.0.0.1"
    assert sorted(event.detail["ids"]) == sorted(str(r["id"]) for r in shown)


def test_masked_pages_write_no_audit_row(city):
    response = api_client(city.users["street"]).get(f"{API}/households/")
    assert response.status_code == 200 and all(
        re.match(r"^\d{4}\*+", r["id_number"]) for h in response.json()["results"] for r in h["residents"])
    assert not AuditEvent.objects.filter(action="resident.id_number_viewed").exists()


@pytest.mark.parametrize("editable", [True, False])
def test_the_admin_page_of_a_household_audits_the_unmasked_numbers_it_shows(city, editable):
    username = "director" if editable else "dept"
    _grant_unmasked(city, username)
    household = city.households["A1g1"]
    page = admin_client(city.users[username]).get(admin_url("household", "change", household.pk))
    assert household.residents.get().id_number in page.content.decode()
    event = AuditEvent.objects.get(action="resident.id_number_viewed")
    assert (event.actor.username, event.target_id) == (username, str(household.residents.get().pk))


@pytest.mark.parametrize("page_size", [5, 50])
def test_the_audit_row_costs_one_query_whatever_the_page(city, query_budget, page_size):
    """The list's budget (tests/query_budgets.json) plus the one audit row, for 5 households or 50."""
    for i in range(30):
        services.household_save(actor=city.admin, household=Household(grid=city.nodes["A1g1"], address=f"页{i}"),
                                residents=[{"name": "甲", "id_number": make_id_number("150102", "19940101", i)}])
    client = api_client(city.users["admin"])
    with query_budget("grid.households.list", extra=1):
        response = client.get(f"{API}/households/", {"page_size": page_size})
    assert len(response.json()["results"]) == min(page_size, response.json()["count"])
    assert AuditEvent.objects.filter(action="resident.id_number_viewed").count() == 1


def test_a_view_outside_a_request_is_written_at_once(city):
    from grid.selectors import shown_id_number

    resident = city.households["A1g1"].residents.get()
    with transaction.atomic():
        assert shown_id_number(viewer=city.admin, resident=resident) == resident.id_number
    assert AuditEvent.objects.filter(action="resident.id_number_viewed", target_id=str(resident.pk)).exists()
