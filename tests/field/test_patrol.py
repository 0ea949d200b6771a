"""/field/patrol/: the households and places of my grids that most need a visit (never visited first,
then the longest since the last one), and a plain form recording a visit through
grid.services.visit_record. Only those who patrol get the form; nothing outside their grids can
even be named; the list costs the same queries however long it is."""

import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from grid import services
from grid.models import Household, Place, PlaceKind, Role, Visit, VisitOutcome
from tests.factories import UserFactory

URL = "/field/patrol/"
EN = {"accept-language": "en"}


def household(city, key: str = "A1g1") -> Household:
    """The household tests.factories.CityBuilder registers in grid `key`."""
    return Household.objects.get(grid=city.nodes[key])


def add_household(city, address: str, key: str = "A1g1") -> Household:
    return services.household_save(actor=city.admin, household=Household(grid=city.nodes[key], address=address))


def add_place(city, name: str, key: str = "A1g1") -> Place:
    return services.record_save(actor=city.admin,
                                instance=Place(grid=city.nodes[key], kind=PlaceKind.BUSINESS, name=name))


def visited(city, target, *, days: int, outcome=VisitOutcome.ALL_WELL) -> Visit:
    return services.visit_record(actor=city.admin, outcome=outcome, visited_at=timezone.now() - timedelta(days=days),
                                 **{target._meta.model_name: target})


def visit_data(outcome, **extra) -> dict:
    """What the visit form posts: a fresh client key per form, as the page makes one."""
    return {"client_key": uuid.uuid4(), "outcome": outcome, **extra}


def name_of(record) -> str:
    """As the patrol list names it: a household by its address and its head, a place by its name."""
    head = getattr(record, "head_name", "")
    return f"{record.address} · {head}" if head else str(record)


def visit_url(record) -> str:
    return f"/field/patrol/{record._meta.model_name}/{record.pk}/"


def rows(html: str) -> list[str]:
    """The patrol list's rows, in page order."""
    listed = html.split('<ol class="stops">', 1)[1].split("</ol>", 1)[0]
    return [row.split("</li>", 1)[0] for row in listed.split('<li class="stop')[1:]]


def names(html: str) -> list[str]:
    return [re.search(r"<strong>(.*?)</strong>", row).group(1) for row in rows(html)]


def row(html: str, record) -> str:
    return next(item for item in rows(html) if f"<strong>{name_of(record)}</strong>" in item)


#
# The list
#


def test_my_grid_only_never_visited_first_then_the_longest_since_the_last_visit(as_user, city):
    never = household(city)
    shop = add_place(city, "便民超市")
    long_ago = add_household(city, "3号楼 301")
    lately = add_household(city, "5号楼 502")
    visited(city, long_ago, days=14, outcome=VisitOutcome.PROBLEM_FOUND)
    visited(city, lately, days=30)
    visited(city, lately, days=2)
    next_door = add_place(city, "邻网格商店", key="A1g2")

    html = as_user("worker").get(URL, headers=EN).content.decode()

    assert names(html) == [name_of(never), "便民超市", "3号楼 301", "5号楼 502"]
    assert next_door.name not in html
    assert row(html, never).startswith(' never"') and "Never visited" in row(html, never)
    assert "Visits: 0" in row(html, shop)
    assert "Last visit 2\xa0weeks ago: problem found" in row(html, long_ago) and "Visits: 1" in row(html, long_ago)
    assert "Last visit 2\xa0days ago: all well" in row(html, lately) and "Visits: 2" in row(html, lately)
    for record in (never, shop, long_ago, lately):
        assert f'href="{visit_url(record)}"' in row(html, record)
    assert 'name="grid"' not in html  # one grid: nothing to pick

    chinese = as_user("worker").get(URL).content.decode()
    assert "从未走访" in row(chinese, never) and "上次走访：2\xa0周前，发现问题" in row(chinese, long_ago)


def test_a_director_narrows_the_list_to_one_of_their_grids(as_user, city):
    here, there = household(city, "A1g1"), household(city, "A1g2")
    client = as_user("director")
    html = client.get(URL, headers=EN).content.decode()
    assert set(names(html)) == {name_of(here), name_of(there)}
    picker = html.split('<select id="patrol-grid" name="grid">', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="(\d*)"', picker) == ["", str(city.nodes["A1g1"].pk), str(city.nodes["A1g2"].pk)]

    grid = city.nodes["A1g2"]
    html = client.get(URL, {"grid": grid.pk}).content.decode()
    assert names(html) == [name_of(there)]
    assert f'<option value="{grid.pk}" selected>' in html
    assert f'href="{visit_url(there)}?grid={grid.pk}"' in html
    response = client.post(f"{visit_url(there)}?grid={grid.pk}", visit_data(VisitOutcome.ALL_WELL))
    assert response.status_code == 302 and response["Location"] == f"{URL}?grid={grid.pk}"

    assert client.get(URL, {"grid": ""}).status_code == 200
    for other in (city.nodes["B1g1"].pk, city.nodes["A1"].pk, "x"):
        assert client.get(URL, {"grid": other}).status_code == 404


@pytest.mark.parametrize("username", ["street", "district"])
def test_staff_who_do_not_patrol_see_the_list_read_only(as_user, city, username):
    target = household(city)
    client = as_user(username)
    html = client.get(URL, headers=EN).content.decode()
    assert name_of(target) in names(html)
    assert "Record a visit" not in html and "/field/patrol/household/" not in html
    assert client.get(visit_url(target)).status_code == 404
    assert client.post(visit_url(target), visit_data(VisitOutcome.ALL_WELL)).status_code == 404
    assert not Visit.objects.exists()


def test_the_record_control_is_on_the_rows_where_i_patrol_only(client, city):
    """A street officer of B who also walks grid A1g1 sees B's registry and records visits in A1g1 only."""
    officer = city.users["street2"]
    services.post_create(actor=city.admin, user=officer, role=Role.GRID_WORKER, node=city.nodes["A1g1"])
    mine, theirs = household(city, "A1g1"), household(city, "B1g1")
    client.force_login(officer)
    html = client.get(URL).content.decode()
    assert f'href="{visit_url(mine)}"' in row(html, mine)
    assert "/field/patrol/" not in row(html, theirs)
    assert client.get(visit_url(theirs)).status_code == 404
    assert client.post(visit_url(mine), visit_data(VisitOutcome.ALL_WELL)).status_code == 302


def test_a_grid_with_nothing_registered_says_so(client, city):
    newcomer = UserFactory(username="newcomer")
    services.post_create(actor=city.admin, user=newcomer, role=Role.GRID_WORKER, node=city.nodes["A2g2"])
    client.force_login(newcomer)
    html = client.get(URL, headers=EN).content.decode()
    assert "No households or places are registered in your grids." in html and '<ol class="stops">' not in html


def test_the_patrol_tab_marks_the_page(as_user):
    html = as_user("worker").get(URL, headers=EN).content.decode()
    assert '<a href="/field/patrol/" aria-current="page">Patrol</a>' in html
    assert '<a href="/field/patrol/">Patrol</a>' in as_user("worker").get("/field/", headers=EN).content.decode()


#
# Recording a visit
#


def test_a_worker_records_a_visit_and_the_row_moves_down(as_user, city):
    target = household(city)
    shop = add_place(city, "便民超市")
    visited(city, shop, days=5)
    client = as_user("worker")
    assert names(client.get(URL).content.decode()) == [name_of(target), "便民超市"]

    form = client.get(visit_url(target), headers=EN).content.decode()
    assert name_of(target) in form and city.nodes["A1g1"].name in form
    response = client.post(visit_url(target), visit_data(VisitOutcome.NOBODY_HOME, note="敲门无人应答"),
                           headers=EN)
    assert response.status_code == 302 and response["Location"] == URL

    visit = Visit.objects.get(household=target)
    assert (visit.visitor, visit.grid, visit.outcome, visit.note) == (
        city.users["worker"], city.nodes["A1g1"], VisitOutcome.NOBODY_HOME, "敲门无人应答")
    html = client.get(URL, headers=EN).content.decode()
    assert f"Visit recorded: {target.address}." in html
    assert names(html) == ["便民超市", name_of(target)]
    assert "Last visit 0\xa0minutes ago: nobody home" in row(html, target) and "Visits: 1" in row(html, target)


def test_a_director_records_a_place_visit_in_the_neighbouring_grid(as_user, city):
    shop = add_place(city, "社区菜店", key="A1g2")
    response = as_user("director").post(visit_url(shop), visit_data(VisitOutcome.PROBLEM_FOUND))
    assert response.status_code == 302
    assert Visit.objects.get().place == shop


@pytest.mark.parametrize(
    "target",
    [
        lambda city: household(city, "A1g2"),  # a sibling grid of the same community
        lambda city: household(city, "B1g1"),
        lambda city: add_place(city, "别处商店", key="B1g1"),
    ],
    ids=["household-next-door", "household-elsewhere", "place-elsewhere"],
)
def test_nothing_outside_my_grids_can_be_named(as_user, city, target):
    record = target(city)
    client = as_user("worker")
    assert client.get(visit_url(record)).status_code == 404
    assert client.post(visit_url(record), visit_data(VisitOutcome.ALL_WELL, note="x")).status_code == 404
    assert not Visit.objects.exists()


@pytest.mark.parametrize("url", ["/field/patrol/resident/1/", "/field/patrol/household/999999/",
                                 "/field/patrol/household/x/"])
def test_no_other_kind_or_id_is_found(as_user, url):
    assert as_user("worker").get(url).status_code == 404


def test_a_double_tap_records_one_visit(as_user, city):
    client = as_user("worker")
    form = client.get(visit_url(household(city))).content.decode()
    key = re.search(r'name="client_key" value="([0-9a-f-]{36})"', form).group(1)
    data = {"client_key": key, "outcome": VisitOutcome.ALL_WELL, "note": "一切正常"}
    assert client.post(visit_url(household(city)), data).status_code == 302
    again = client.post(visit_url(household(city)), data, headers={"accept-language": "en"}, follow=True)
    assert again.status_code == 200 and Visit.objects.count() == 1
    assert (f"This visit had already been recorded: {household(city).address}. Nothing was stored twice."
            in again.content.decode())
    assert client.get(visit_url(household(city))).content.decode().count(key) == 0  # a new form, a new key


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"client_key": uuid.uuid4(), "note": "楼道堆放杂物"}, "outcome", "Choose how the visit went."),
        (visit_data("fine", note="楼道堆放杂物"), "outcome", "Select a valid choice."),
        # Refused by grid.services.visit_record (the model's length), put back next to the field.
        (visit_data(VisitOutcome.ALL_WELL, note="记" * 501), "note", "at most 500 characters"),
    ],
    ids=["no-outcome", "unknown-outcome", "long-note"],
)
def test_bad_input_is_refused_next_to_its_field_and_the_note_stays(as_user, city, data, field, message):
    response = as_user("worker").post(visit_url(household(city)), data, headers=EN)
    assert response.status_code == 400
    html = response.content.decode()
    if field == "outcome":
        opening = '<fieldset class="choices has-error" aria-describedby="id_outcome_error">'
        block = html.split(opening, 1)[1].split("</fieldset>", 1)[0]
    else:
        block = re.search(r'<div class="field has-error">.*?\n</div>', html, re.S).group(0)
    assert message in block
    assert f"{data['note']}</textarea>" in html
    assert not Visit.objects.exists()


def test_the_form_is_plain_html_and_needs_its_csrf_token(city):
    client = Client(enforce_csrf_checks=True)
    client.force_login(city.users["worker"])
    target = household(city)
    listed = client.get(URL).content.decode()
    form_url = re.search(r'<a class="button primary" href="([^"]+)"', listed).group(1)
    assert form_url == visit_url(target)

    page = client.get(form_url).content.decode()
    form = page.split('<form method="post" class="stack" novalidate>', 1)[1].split("</form>", 1)[0]
    assert re.findall(r'type="radio" name="outcome" value="(\w+)"', form) == list(VisitOutcome.values)
    assert 'maxlength="500"' in form and '<button type="submit" class="primary">' in form
    assert client.post(form_url, visit_data(VisitOutcome.ALL_WELL)).status_code == 403
    assert not Visit.objects.exists()

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    response = client.post(form_url, visit_data(VisitOutcome.ALL_WELL, csrfmiddlewaretoken=token))
    assert response.status_code == 302
    assert Visit.objects.get().household == target


#
# Queries
#


@pytest.mark.parametrize("username", ["worker", "director"])
def test_the_list_costs_the_same_queries_for_one_row_or_a_full_list(as_user, city, username,
                                                                    django_assert_max_num_queries):
    client = as_user(username)
    with django_assert_max_num_queries(QUERIES):
        assert len(rows(client.get(URL).content.decode())) == {"worker": 1, "director": 2}[username]
    for i in range(52):
        record = add_household(city, f"{i}号") if i % 4 else add_place(city, f"店{i}")
        if i % 3:
            visited(city, record, days=i)
    with django_assert_max_num_queries(QUERIES):
        html = client.get(URL, headers=EN).content.decode()
    assert len(rows(html)) == 50 and "Showing the 50 that most need a visit." in html


QUERIES = 7  # session, user, posts (who may use the app), grants, the user's grids, households, places


def test_the_visit_form_costs_a_fixed_number_of_queries(as_user, city, django_assert_max_num_queries):
    url = visit_url(household(city))
    client = as_user("worker")
    with django_assert_max_num_queries(5):  # session, user, posts, grants, the household with its grid
        assert client.get(url).status_code == 200


def test_a_page_showing_a_one_time_message_is_not_kept_by_any_cache(as_user, city):
    """The service worker keeps the patrol page for use without signal; the copy that said "Visit
    recorded" must not be the one kept (sw.js skips no-store pages)."""
    client = as_user("worker")
    assert "no-store" not in client.get(URL).get("Cache-Control", "")
    response = client.post(visit_url(household(city)), visit_data(VisitOutcome.ALL_WELL), follow=True, headers=EN)
    assert "Visit recorded" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert "no-store" not in client.get(URL).get("Cache-Control", "")
