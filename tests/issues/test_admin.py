"""The cases admin: scoped changelists, the overdue filter, actions that go through the workflow
(and report what they could not do), the read-only change page with its timeline, photos and map,
and the categories' admin."""

from datetime import timedelta
from io import BytesIO
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from PIL import Image

from grid.models import Level
from issues import services
from issues.admin import location_svg
from issues.models import Case, CaseEvent, Category, Status
from issues.sweep import escalate_overdue

ROLES_SEE = {
    "admin": {"a1", "a2", "b1"},
    "district": {"a1", "a2", "b1"},
    "dept": {"a1", "a2", "b1"},
    "street": {"a1", "a2"},
    "street2": {"b1"},
    "director": {"a1"},
    "worker": {"a1"},
    "worker2": {"b1"},
}


def _centre(node):
    ring = node.boundary["coordinates"][0]
    return (ring[0][1] + ring[2][1]) / 2, (ring[0][0] + ring[2][0]) / 2


def _photo() -> SimpleUploadedFile:
    buffer = BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, format="JPEG")
    return SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")


def _report(city, category, grid, reporter, **kwargs) -> Case:
    lat, lon = _centre(city.nodes[grid])
    return services.case_report(actor=city.users[reporter], category=category, description=f"问题 {grid}",
                                lat=lat, lon=lon, address=f"{grid} 1号楼", **kwargs)


@pytest.fixture
def cases(city, categories):
    return {
        "a1": _report(city, categories["city-management"], "A1g1", "worker", photos=[_photo()]),
        "a2": _report(city, categories["city-management"], "A2g1", "street"),
        "b1": _report(city, categories["sanitation"], "B1g1", "worker2"),
    }


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")  # the messages asserted below are the English ones
    client.force_login(user)
    return client


def url(view: str, *args, model: str = "case") -> str:
    return reverse(f"admin:issues_{model}_{view}", args=args)


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def run_action(client, action: str, *cases, **extra):
    data = {"action": action, "_selected_action": [c.pk for c in cases], "index": 0, **extra}
    return client.post(url("changelist"), data, follow=True)


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)] or [
        str(m) for m in response.context.get("messages", [])]


#
# The changelist
#


@pytest.mark.parametrize("role", list(ROLES_SEE))
def test_the_changelist_shows_the_users_subtree(city, cases, role):
    response = client_for(city.users[role]).get(url("changelist"))
    assert listed(response) == {cases[key].pk for key in ROLES_SEE[role]}
    page = response.content.decode()
    for key, case in cases.items():
        assert (case.reference in page) is (key in ROLES_SEE[role])


def test_a_citizen_has_no_admin(city, cases):
    response = client_for(city.users["citizen"]).get(url("changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_overdue_filter_and_marker(city, cases):
    Case.objects.filter(pk=cases["a1"].pk).update(due_at=timezone.now() - timedelta(hours=1))
    client = client_for(city.users["district"])
    assert listed(client.get(url("changelist"), {"overdue": "yes"})) == {cases["a1"].pk}
    assert listed(client.get(url("changelist"), {"overdue": "no"})) == {cases["a2"].pk, cases["b1"].pk}
    page = client.get(url("changelist")).content.decode()
    assert page.count('class="overdue"') == 1


def test_filters_and_search(city, cases):
    client = client_for(city.users["district"])
    assert listed(client.get(url("changelist"), {"status": "reported"})) == {c.pk for c in cases.values()}
    assert listed(client.get(url("changelist"), {"handling_level": Level.COMMUNITY})) == {
        c.pk for c in cases.values()}
    assert listed(client.get(url("changelist"), {"category__id__exact": cases["b1"].category_id})) == {
        cases["b1"].pk}
    assert listed(client.get(url("changelist"), {"q": cases["a2"].reference})) == {cases["a2"].pk}
    assert listed(client.get(url("changelist"), {"q": "A1g1 1号楼"})) == {cases["a1"].pk}


def test_the_changelist_costs_a_fixed_number_of_queries(city, categories, settings, tmp_path,
                                                        django_assert_max_num_queries):
    for _ in range(12):
        _report(city, categories["sanitation"], "A1g1", "worker")
    client = client_for(city.users["district"])
    client.get(url("changelist"))
    with django_assert_max_num_queries(14):
        client.get(url("changelist"))


#
# Actions
#


def test_accept_goes_through_the_workflow(city, cases):
    case = cases["a1"]
    response = run_action(client_for(city.users["director"]), "accept", case)
    case.refresh_from_db()
    assert case.status == Status.ACCEPTED and case.version == 2
    event = case.events.latest("id")
    assert (event.action, event.actor, event.from_status, event.to_status) == (
        "accept", city.users["director"], Status.REPORTED, Status.ACCEPTED)
    assert any(case.reference in text for text in texts(response))


def test_assign_to_me_and_a_bulk_accept(city, cases):
    client = client_for(city.users["street"])
    run_action(client, "accept", cases["a1"], cases["a2"])
    assert set(Case.objects.filter(status=Status.ACCEPTED).values_list("pk", flat=True)) == {
        cases["a1"].pk, cases["a2"].pk}
    # a1 is the community's to handle, but the street office's grant covers the community's node.
    run_action(client, "assign_to_me", cases["a1"])
    assert Case.objects.get(pk=cases["a1"].pk).assignee == city.users["street"]


def test_a_forbidden_action_reports_an_error_and_changes_nothing(city, cases):
    case = cases["a1"]
    Case.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    escalate_overdue()  # now the street office's: the director sees it but may not handle it
    case.refresh_from_db()
    assert case.handling_level == Level.STREET_OFFICE
    events = CaseEvent.objects.count()
    page = client_for(city.users["director"]).get(url("change", case.pk)).content.decode()
    assert "system (overdue sweep)" in page

    response = run_action(client_for(city.users["director"]), "assign_to_me", case)

    assert response.status_code == 200
    assert any(case.reference in text and "may not" in text for text in texts(response)), texts(response)
    after = Case.objects.get(pk=case.pk)
    assert (after.status, after.version) == (case.status, case.version)
    assert CaseEvent.objects.count() == events


def test_an_action_the_state_forbids_reports_why(city, cases):
    case = cases["a1"]
    response = run_action(client_for(city.users["district"]), "close", case)
    refused = "is not possible while the case is"
    assert any(case.reference in text and refused in text for text in texts(response)), texts(response)
    assert Case.objects.get(pk=case.pk).status == Status.REPORTED


def test_one_failure_does_not_stop_the_others(city, cases):
    services.case_transition(actor=city.users["street"], case=cases["a2"], name="accept", version=1)
    response = run_action(client_for(city.users["district"]), "accept", cases["a1"], cases["a2"], cases["b1"])
    statuses = dict(Case.objects.values_list("pk", "status"))
    assert {statuses[c.pk] for c in cases.values()} == {Status.ACCEPTED}
    assert Case.objects.get(pk=cases["a2"].pk).events.filter(action="accept").count() == 1
    joined = " ".join(texts(response))
    assert cases["a2"].reference in joined and cases["a1"].reference in joined


def test_a_case_changed_meanwhile_is_reported_not_a_500(city, cases):
    with mock.patch("issues.admin.case_transition", side_effect=services.StaleVersion):
        response = run_action(client_for(city.users["director"]), "accept", cases["a1"])
    assert response.status_code == 200
    assert any(cases["a1"].reference in text and "meanwhile" in text for text in texts(response))
    assert Case.objects.get(pk=cases["a1"].pk).status == Status.REPORTED


def test_workers_are_not_offered_the_actions(city, cases):
    client = client_for(city.users["worker"])
    response = client.get(url("changelist"))
    assert response.context["action_form"] is None or "accept" not in dict(
        response.context["action_form"].fields["action"].choices)
    run_action(client, "accept", cases["a1"])
    assert Case.objects.get(pk=cases["a1"].pk).status == Status.REPORTED


def test_escalate_asks_for_a_comment_first(city, cases):
    case = cases["a1"]
    client = client_for(city.users["director"])
    page = client.post(url("changelist"), {"action": "escalate", "_selected_action": [case.pk], "index": 0})
    assert page.status_code == 200
    assert 'name="comment"' in page.content.decode() and case.reference in page.content.decode()
    assert Case.objects.get(pk=case.pk).handling_level == Level.COMMUNITY

    # No comment: the form again, nothing done.
    again = client.post(url("changelist"), {"action": "escalate", "_selected_action": [case.pk], "apply": "1",
                                            "comment": " "})
    assert again.status_code == 200 and 'name="comment"' in again.content.decode()
    assert Case.objects.get(pk=case.pk).handling_level == Level.COMMUNITY

    done = client.post(url("changelist"), {"action": "escalate", "_selected_action": [case.pk], "apply": "1",
                                           "comment": "需要街道协调"})
    assert done.status_code == 302
    case.refresh_from_db()
    assert (case.handling_level, case.status, case.escalation_count) == (Level.STREET_OFFICE, Status.DISPATCHED, 1)
    assert case.events.latest("id").comment == "需要街道协调"


def test_resolve_then_close_after_verification(city, cases):
    case = cases["a1"]
    client = client_for(city.users["director"])
    run_action(client, "accept", case)
    client.post(url("changelist"), {"action": "resolve", "_selected_action": [case.pk], "apply": "1",
                                    "comment": "已清理"})
    case.refresh_from_db()
    assert case.status == Status.RESOLVED and case.resolved_at is not None
    response = run_action(client, "close", case)  # not verified yet
    assert Case.objects.get(pk=case.pk).status == Status.RESOLVED
    assert any("is not possible while the case is" in text for text in texts(response))
    services.case_transition(actor=city.users["worker"], case=case, name="verify", version=case.version)
    run_action(client, "close", case)
    assert Case.objects.get(pk=case.pk).status == Status.CLOSED


#
# The change page
#


def test_the_change_page_is_read_only_with_timeline_photos_and_map(city, cases):
    case = cases["a1"]
    services.case_transition(actor=city.users["director"], case=case, name="accept", version=1)
    response = client_for(city.users["director"]).get(url("change", case.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert not response.context["has_change_permission"]
    assert 'name="_save"' not in page and 'name="description"' not in page
    # The timeline, oldest first.
    timeline = next(f for f in response.context["inline_admin_formsets"] if f.opts.model is CaseEvent)
    assert [form.original.action for form in timeline] == ["report", "accept"]
    assert not (timeline.has_add_permission or timeline.has_change_permission or timeline.has_delete_permission)
    # The photo as a thumbnail of its display copy.
    photo = case.photos.get()
    assert f'<img src="/api/v1/issues/photos/{photo.pk}/display/"' in page
    # The map: inline SVG, no tiles, and a link out.
    assert "<svg" in page and "<path d=\"M " in page and "<circle" in page
    assert "https://www.openstreetmap.org/?mlat=" in page
    assert "tile.openstreetmap" not in page and "leaflet" not in page.lower()


def test_a_case_outside_the_subtree_is_not_shown(city, cases):
    response = client_for(city.users["street2"]).get(url("change", cases["a1"].pk))
    assert response.status_code == 302  # the admin's "does not exist" redirect
    assert cases["a1"].reference not in response.content.decode()


def test_no_add_no_edit_no_delete(city, cases):
    admin = client_for(city.users["admin"])
    assert admin.get(url("add")).status_code == 403
    case = cases["a1"]
    response = admin.post(url("change", case.pk), {"description": "改写"})
    assert response.status_code == 403
    assert Case.objects.get(pk=case.pk).description == case.description
    assert admin.get(url("delete", case.pk)).status_code == 403
    actions = admin.get(url("changelist")).context["action_form"].fields["action"].choices
    assert "delete_selected" not in dict(actions)


def test_events_have_no_admin_of_their_own(city, cases):
    for view in ("changelist", "add"):
        with pytest.raises(NoReverseMatch):
            url(view, model="caseevent")
    with pytest.raises(NoReverseMatch):
        url("changelist", model="casephoto")


#
# The map
#


def test_location_svg_draws_the_boundary_and_the_point():
    boundary = {"type": "Polygon", "coordinates": [[[111.0, 40.0], [111.2, 40.0], [111.2, 40.1], [111.0, 40.1],
                                                    [111.0, 40.0]]]}
    svg = location_svg(boundary, 40.05, 111.1, label="<网格>")
    assert svg.startswith("<svg") and "&lt;网格&gt;" in svg and "<网格>" not in svg
    width = float(svg.split('width="')[1].split('"')[0])
    height = float(svg.split('height="')[1].split('"')[0])
    # 0.2° of longitude at 40° N is ~1.53x as long as 0.1° of latitude.
    assert 1.4 < width / height < 1.7
    cx = float(svg.split('cx="')[1].split('"')[0])
    cy = float(svg.split('cy="')[1].split('"')[0])
    assert abs(cx - width / 2) < 1 and abs(cy - height / 2) < 1


def test_location_svg_without_a_boundary():
    svg = location_svg(None, "40.05", "111.1")
    assert "<circle" in svg and 'd=""' in svg


#
# Categories
#


def test_staff_read_categories_superusers_change_them(city, categories):
    street = client_for(city.users["street"])
    response = street.get(url("changelist", model="category"))
    assert response.status_code == 200
    names = [c.name for c in response.context["cl"].result_list]
    # Tree order: a parent, then its children.
    assert names.index("市容环卫维护") == names.index("城市管理") + 1
    assert street.get(url("add", model="category")).status_code == 403
    sanitation = categories["sanitation"]
    assert street.post(url("change", sanitation.pk, model="category"), {"name": "x"}).status_code == 403
    assert street.get(url("change", sanitation.pk, model="category")).status_code == 200
    page = response.content.decode()
    assert "2 h" in page and "8 h" in page  # the fixture's deadlines, as working time

    admin = client_for(city.users["admin"])
    assert admin.get(url("add", model="category")).status_code == 200
    assert Category.objects.count() == 3
