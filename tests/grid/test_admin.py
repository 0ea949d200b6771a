"""The grid admin: scoped changelists, foreign-key and filter choices, search, masked ID numbers in
the resident inline, tree browsing, protected deletes and the guardian permission page."""

import re

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from grid.admin import NodeCreateForm
from grid.idnumbers import mask_id_number
from grid.models import (
    Building,
    GridNode,
    GridNodeGroupObjectPermission,
    GridNodeUserObjectPermission,
    Household,
    Level,
    Resident,
)
from grid.permissions import can, forget_grants
from tests.factories import UserFactory
from tests.grid.utils import admin_client, admin_url

STAFF = ["admin", "district", "dept", "street", "street2", "director", "worker", "worker2"]

# Grids (of RECORD_GRIDS) each staff role sees records in.
RECORDS_SEEN = {
    "admin": {"A1g1", "A1g2", "A2g1", "B1g1", "B1g2", "C1g1"},
    "district": {"A1g1", "A1g2", "A2g1", "B1g1", "B1g2"},
    "dept": {"A1g1", "A1g2", "A2g1", "B1g1", "B1g2"},
    "street": {"A1g1", "A1g2", "A2g1"},
    "street2": {"B1g1", "B1g2"},
    "director": {"A1g1", "A1g2"},
    "worker": {"A1g1"},
    "worker2": {"B1g1"},
}

# Grids each role may register records in (change_registry).
GRIDS_WRITABLE = {
    "admin": {"A1g1", "A1g2", "A2g1", "A2g2", "B1g1", "B1g2", "C1g1"},
    "district": {"A1g1", "A1g2", "A2g1", "A2g2", "B1g1", "B1g2"},
    "street": {"A1g1", "A1g2", "A2g1", "A2g2"},
    "street2": {"B1g1", "B1g2"},
    "director": {"A1g1", "A1g2"},
    "worker": {"A1g1"},
    "worker2": {"B1g1"},
}


def _changelist(client, model: str, **params):
    response = client.get(admin_url(model, "changelist"), params)
    assert response.status_code == 200
    return response


def _rows(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.mark.parametrize("role", STAFF)
def test_estate_and_building_changelists_show_only_the_subtree(city, role):
    client = admin_client(city.users[role])
    estates = {city.estates[key].pk for key in RECORDS_SEEN[role]}
    assert _rows(_changelist(client, "estate")) == estates
    assert _rows(_changelist(client, "building")) == set(
        Building.objects.filter(estate__in=estates).values_list("pk", flat=True)
    )


@pytest.mark.parametrize("role", STAFF)
def test_changelist_text_holds_no_row_from_outside(city, role):
    page = _changelist(admin_client(city.users[role]), "household").content.decode()
    for key, household in city.households.items():
        assert (household.address in page) is (key in RECORDS_SEEN[role])


@pytest.mark.parametrize("role", list(GRIDS_WRITABLE))
def test_household_add_form_offers_only_writable_grids(city, role):
    response = admin_client(city.users[role]).get(admin_url("household", "add"))
    assert response.status_code == 200
    offered = set(response.context["adminform"].form.fields["grid"].queryset)
    assert offered == {city.nodes[key] for key in GRIDS_WRITABLE[role]}


def test_household_add_is_refused_without_change_registry(city):
    client = admin_client(city.users["dept"])
    assert client.get(admin_url("household", "add")).status_code == 403
    count = Household.objects.count()
    response = client.post(admin_url("household", "add"), {"grid": city.nodes["A1g1"].pk, "address": "x"})
    assert response.status_code == 403
    assert Household.objects.count() == count


def test_household_add_refuses_a_grid_out_of_reach(city):
    count = Household.objects.count()
    response = admin_client(city.users["worker"]).post(
        admin_url("household", "add"),
        {"grid": city.nodes["A1g2"].pk, "address": "越界", **_inline_management(0)},
    )
    assert response.status_code == 200  # the form again, with an error on grid
    assert "grid" in response.context["adminform"].form.errors
    assert Household.objects.count() == count


@pytest.mark.parametrize("role", ["admin", "district", "street", "director", "worker"])
@pytest.mark.parametrize("model", ["household", "place", "estate"])
def test_grid_list_filter_offers_only_visible_grids(city, role, model):
    response = _changelist(admin_client(city.users[role]), model)
    specs = [spec for spec in response.context["cl"].filter_specs if getattr(spec, "field_path", "") == "grid"]
    visible = set(GridNode.objects.filter(level=Level.GRID, pk__in=_visible_node_pks(city, role))
                  .values_list("pk", flat=True))
    if len(visible) == 1:
        assert not specs  # Django shows no filter with a single choice
        return
    (spec,) = specs
    assert {pk for pk, _label in spec.lookup_choices} == visible


def _visible_node_pks(city, role):
    from grid.permissions import scope

    return scope(GridNode.objects.all(), city.users[role]).values_list("pk", flat=True)


def test_node_list_filter_of_departments_is_scoped(city):
    response = _changelist(admin_client(city.users["street"]), "department")
    (spec,) = [spec for spec in response.context["cl"].filter_specs if getattr(spec, "field_path", "") == "node"]
    assert {pk for pk, _label in spec.lookup_choices} == set(_visible_node_pks(city, "street"))


def test_filtering_by_a_grid_out_of_scope_shows_nothing(city):
    response = admin_client(city.users["street"]).get(
        admin_url("household", "changelist"), {"grid__id__exact": city.nodes["B1g1"].pk}
    )
    assert response.status_code == 200
    assert _rows(response) == set()


@pytest.mark.parametrize(("role", "found"), [("street", False), ("street2", True), ("admin", True)])
def test_search_is_scoped(city, role, found):
    household = city.households["B1g1"]
    response = _changelist(admin_client(city.users[role]), "household", q=household.address)
    assert _rows(response) == ({household.pk} if found else set())
    response = _changelist(admin_client(city.users[role]), "place", q=city.places["B1g1"].name)
    assert _rows(response) == ({city.places["B1g1"].pk} if found else set())


#
# Residents: masked ID numbers
#


def _inline_management(total: int, initial: int = 0) -> dict:
    return {"residents-TOTAL_FORMS": str(total), "residents-INITIAL_FORMS": str(initial),
            "residents-MIN_NUM_FORMS": "0", "residents-MAX_NUM_FORMS": "1000"}


def _household_post(household, resident, id_number, **changes) -> dict:
    data = {
        "grid": household.grid_id, "building": "", "address": household.address, "head_name": household.head_name,
        "phone": household.phone, **_inline_management(1, 1),
        "residents-0-id": resident.pk, "residents-0-household": household.pk, "residents-0-name": resident.name,
        "residents-0-id_number": id_number, "residents-0-relation": resident.relation,
        "residents-0-phone": resident.phone, "_save": "1",
    }
    data.update(changes)
    return data


def test_resident_inline_shows_masked_id_numbers(city):
    household = city.households["A1g1"]
    stored = household.residents.get().id_number
    page = admin_client(city.users["street"]).get(admin_url("household", "change", household.pk)).content.decode()
    assert f'value="{mask_id_number(stored)}"' in page
    assert stored not in page
    assert re.search(r"\d{4}\*{10}[\dX]{4}", page)
    page = admin_client(city.users["admin"]).get(admin_url("household", "change", household.pk)).content.decode()
    assert f'value="{stored}"' in page


def test_saving_the_mask_back_keeps_the_stored_number(city):
    household = city.households["A1g1"]
    resident = household.residents.get()
    stored = resident.id_number
    response = admin_client(city.users["street"]).post(
        admin_url("household", "change", household.pk),
        _household_post(household, resident, mask_id_number(stored), head_name="新户主",
                        **{"residents-0-name": "改名"}),
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    resident.refresh_from_db()
    assert (resident.name, resident.id_number) == ("改名", stored)
    household.refresh_from_db()
    assert household.head_name == "新户主"


def test_a_new_id_number_replaces_the_stored_one_and_is_validated(city):
    household = city.households["A1g1"]
    resident = household.residents.get()
    client = admin_client(city.users["street"])
    url = admin_url("household", "change", household.pk)
    bad = "1501**********9999"
    response = client.post(url, _household_post(household, resident, bad))
    assert response.status_code == 200  # the form again, with the error
    assert Resident.objects.get(pk=resident.pk).id_number == resident.id_number
    new = "150102198001010000"
    from grid.idnumbers import check_digit

    new = new[:17] + check_digit(new[:17])
    response = client.post(url, _household_post(household, resident, new))
    assert response.status_code == 302
    assert Resident.objects.get(pk=resident.pk).id_number == new


def test_read_only_household_shows_residents_masked_without_inputs(city):
    household = city.households["A1g1"]
    stored = household.residents.get().id_number
    response = admin_client(city.users["dept"]).get(admin_url("household", "change", household.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="_save"' not in page
    assert stored not in page
    assert 'name="residents-0-id_number"' not in page
    assert mask_id_number(stored) in page
    # Granted view_personal_id explicitly, the same read-only page shows the number.
    assign_perm("grid.view_personal_id", city.users["dept"], city.nodes["A1"])
    page = admin_client(city.users["dept"]).get(admin_url("household", "change", household.pk)).content.decode()
    assert stored in page


#
# The tree
#


def test_node_tree_browsing_lists_children_with_counts(city):
    a = city.nodes["A"]
    response = _changelist(admin_client(city.users["street"]), "gridnode", parent=a.pk)
    rows = {node.pk: node for node in response.context["cl"].result_list}
    assert set(rows) == {city.nodes["A1"].pk, city.nodes["A2"].pk}
    assert rows[city.nodes["A1"].pk].numchild == 2
    assert rows[city.nodes["A1"].pk].household_count == 2
    assert rows[city.nodes["A2"].pk].household_count == 1
    page = response.content.decode()
    assert f'href="/admin/grid/gridnode/?parent={city.nodes["A1"].pk}"' in page
    # The children of a grid: none.
    response = _changelist(admin_client(city.users["street"]), "gridnode", parent=city.nodes["A1g1"].pk)
    assert _rows(response) == set()


def test_node_tree_browsing_refuses_a_parent_out_of_scope(city):
    response = _changelist(admin_client(city.users["street"]), "gridnode", parent=city.nodes["B"].pk)
    assert _rows(response) == set()


def test_node_add_form_offers_parents_where_the_user_may_add(city):
    response = admin_client(city.users["street"]).get(admin_url("gridnode", "add"))
    assert response.status_code == 200
    offered = set(response.context["adminform"].form.fields["parent"].queryset)
    assert offered == {city.nodes[key] for key in ("A", "A1", "A2")}
    # The choices belong to this request's form, not to the form class every request shares.
    assert not NodeCreateForm.base_fields["parent"].queryset.exists()


def test_node_add_through_the_admin(city):
    client = admin_client(city.users["street"])
    data = {"parent": city.nodes["A2"].pk, "level": Level.GRID, "code": "150102001002003", "name": "A2网格3",
            "centroid_lat": "", "centroid_lon": "", "boundary": "", "_save": "1"}
    response = client.post(admin_url("gridnode", "add"), data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    node = GridNode.objects.get(code="150102001002003")
    assert node.get_parent() == city.nodes["A2"]
    response = client.post(admin_url("gridnode", "add"), {**data, "code": "150102001002004", "level": Level.COMMUNITY})
    assert response.status_code == 200
    assert "level" in response.context["adminform"].form.errors
    assert not GridNode.objects.filter(code="150102001002004").exists()


def test_node_change_through_the_admin(city):
    node = city.nodes["A1"]
    response = admin_client(city.users["director"]).post(
        admin_url("gridnode", "change", node.pk), {"name": "新名", "centroid_lat": "", "centroid_lon": "",
                                                   "boundary": "", "_save": "1"}
    )
    assert response.status_code == 302
    node.refresh_from_db()
    assert (node.name, node.code, node.level) == ("新名", "150102001001", Level.COMMUNITY)


def test_deleting_a_node_with_children_is_protected(city):
    a = city.nodes["A"]
    client = admin_client(city.users["district"])
    url = admin_url("gridnode", "delete", a.pk)
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["protected"]
    assert 'name="post"' not in response.content.decode()  # no confirmation form
    response = client.post(url, {"post": "yes"})
    assert GridNode.objects.filter(pk=a.pk).exists()
    assert GridNode.objects.filter(path__startswith=a.path).count() == 7


def test_deleting_a_grid_with_households_is_protected(city):
    grid = city.nodes["A1g1"]
    client = admin_client(city.users["district"])
    url = admin_url("gridnode", "delete", grid.pk)
    assert client.get(url).context["protected"]
    client.post(url, {"post": "yes"})
    assert GridNode.objects.filter(pk=grid.pk).exists()


def test_deleting_an_empty_leaf(city):
    grid = city.nodes["A2g2"]
    client = admin_client(city.users["district"])
    response = client.post(admin_url("gridnode", "delete", grid.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not GridNode.objects.filter(pk=grid.pk).exists()
    assert GridNode.objects.get(pk=city.nodes["A2"].pk).numchild == 1


def test_post_add_through_the_admin_grants_the_role(city):
    newcomer = UserFactory(username="newcomer")
    client = admin_client(city.users["director"])
    response = client.get(admin_url("post", "add"))
    assert set(response.context["adminform"].form.fields["node"].queryset) == {
        city.nodes[key] for key in ("A1", "A1g1", "A1g2")}
    response = client.post(admin_url("post", "add"),
                           {"user": newcomer.pk, "role": "grid_worker", "node": city.nodes["A1g2"].pk, "_save": "1"})
    assert response.status_code == 302
    assert can(newcomer, "change", city.households["A1g2"])
    assert not can(newcomer, "view", city.households["A1g1"])
    assert admin_client(city.users["worker"]).get(admin_url("post", "add")).status_code == 403


@pytest.mark.parametrize(("role", "status"), [("district", 403), ("street", 403), ("worker", 403), ("admin", 200)])
def test_guardian_permission_page_is_for_superusers_only(city, role, status):
    response = admin_client(city.users[role]).get(
        admin_url("gridnode", "permissions", city.nodes["A1g1"].pk)
    )
    assert response.status_code == status


@pytest.mark.parametrize("role", ["district", "street", "worker"])
@pytest.mark.parametrize("whom", ["user", "group"])
def test_guardian_grant_pages_are_for_superusers_only(city, role, whom):
    """Nobody but a superuser grants node permissions (view_personal_id above all) by hand."""
    user = city.users[role]
    node = city.nodes["A1g1"]
    group = Group.objects.create(name="helpers")
    user.groups.add(group)
    target = user.pk if whom == "user" else group.pk
    url = admin_url("gridnode", f"permissions_manage_{whom}", node.pk, target)
    client = admin_client(user)
    assert client.get(url).status_code == 403
    response = client.post(url, {"permissions": ["view_personal_id", "delete_gridnode"]})
    assert response.status_code == 403
    assert not GridNodeUserObjectPermission.objects.filter(permission__codename="view_personal_id").exists()
    assert not GridNodeGroupObjectPermission.objects.exists()
    forget_grants(user)
    assert not can(user, "view_personal_id", city.households["A1g1"])


def test_guardian_grant_page_works_for_a_superuser(city):
    street = city.users["street"]
    url = admin_url("gridnode", "permissions_manage_user", city.nodes["A1"].pk, street.pk)
    response = admin_client(city.users["admin"]).post(url, {"permissions": ["view_personal_id"]})
    assert response.status_code == 302
    assert can(street, "view_personal_id", city.households["A1g1"])


@pytest.mark.parametrize("role", ["worker", "dept"])
def test_admin_index_lists_the_grid_models_to_staff(city, role):
    response = admin_client(city.users[role]).get("/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    for model in ("gridnode", "department", "post", "estate", "building", "household", "place"):
        assert admin_url(model, "changelist") in page
