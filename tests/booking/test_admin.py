"""The booking staff admin, scoped by grid.permissions: the hospital's desk (`desk`, granted on the
hospital's community) sees and acts on the hospital only — never the health centre of the next
community — and every change goes through the core's services: closures, capacity, the check-in desk,
no-shows, visit results, lifting blocks."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civic.models import Notice
from services.booking import services
from services.booking.models import (
    Booking,
    BookingBlock,
    BookingStatus,
    Closure,
    Department,
    FollowUpPlan,
    FollowUpTask,
    ScheduleTemplate,
    Slot,
)
from tests.booking.conftest import make_slot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def url(model: str, view: str, *args) -> str:
    return reverse(f"admin:booking_{model}_{view}", args=args)


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def today_slot(resource, service) -> Slot:
    """A slot of today, still ahead (a minute from now), so that it can be booked."""
    start = timezone.now() + timedelta(minutes=1)
    if timezone.localdate(start + timedelta(minutes=30)) != timezone.localdate():
        pytest.skip("too close to midnight for a slot of today")
    slot = make_slot(resource, service, hours=1)
    Slot.objects.filter(pk=slot.pk).update(start=start, end=start + timedelta(minutes=30))
    return Slot.objects.get(pk=slot.pk)


def book_today(clinic, resource, service, citizen, *, started: bool) -> Booking:
    """A booking of today: booked while its slot was ahead, then the slot moved to have begun 5 minutes
    ago (`started`) or to begin in 20 minutes."""
    slot = today_slot(resource, service)
    booking = services.booking_create(actor=citizen, slot=slot)
    start = timezone.now() + (timedelta(minutes=-5) if started else timedelta(minutes=20))
    Slot.objects.filter(pk=slot.pk).update(start=start, end=start + timedelta(minutes=30))
    return Booking.objects.get(pk=booking.pk)


@pytest.fixture
def two_points(clinic, city):
    """At each point: a template, a booking, a waitlist entry and a closure."""
    hospital_booking = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    centre_slot = make_slot(clinic.nurse, clinic.checkup, hours=48, capacity=1)
    centre_booking = services.booking_create(actor=city.users["worker2"], slot=centre_slot)
    waiting = services.waitlist_join(actor=clinic.citizen, slot=centre_slot)
    rows = {
        "hospital": {
            "servicepoint": clinic.hospital.pk, "department": clinic.department.pk, "service": clinic.service.pk,
            "resource": clinic.expert.pk, "booking": hospital_booking.pk, "slot": clinic.slot.pk,
            "scheduletemplate": ScheduleTemplate.objects.create(
                resource=clinic.expert, service=clinic.service, weekday=0, start="08:00", end="12:00",
                slot_minutes=30, capacity=5).pk,
            "closure": services.closure_create(actor=None, point_or_resource=clinic.hospital,
                                               starts=timezone.now() + timedelta(days=30),
                                               ends=timezone.now() + timedelta(days=31), reason="设备检修").pk,
        },
        "centre": {
            "servicepoint": clinic.centre.pk, "department": Department.objects.create(
                point=clinic.centre, name="全科", code="general").pk,
            "service": clinic.checkup.pk, "resource": clinic.nurse.pk, "booking": centre_booking.pk,
            "slot": centre_slot.pk, "waitlistentry": waiting.pk,
            "scheduletemplate": ScheduleTemplate.objects.create(
                resource=clinic.nurse, service=clinic.checkup, weekday=1, start="08:00", end="11:00",
                slot_minutes=20, capacity=1).pk,
            "closure": services.closure_create(actor=None, point_or_resource=clinic.centre,
                                               starts=timezone.now() + timedelta(days=30),
                                               ends=timezone.now() + timedelta(days=31), reason="培训").pk,
        },
    }
    return rows


MODELS = ["servicepoint", "department", "service", "resource", "scheduletemplate", "slot", "closure", "booking",
          "waitlistentry"]


POINT_OF = {"servicepoint": "pk", "department": "point", "service": "point", "resource": "point",
            "scheduletemplate": "resource__point", "slot": "point", "closure": "point", "booking": "slot__point",
            "waitlistentry": "slot__point"}


def rows_at(model: str, point) -> set[int]:
    return set(apps.get_model("booking", model).objects.filter(**{POINT_OF[model]: point.pk})
               .values_list("pk", flat=True))


@pytest.mark.parametrize("model", MODELS)
def test_each_list_shows_the_desks_own_point_only(clinic, city, two_points, model):
    mine, theirs = rows_at(model, clinic.hospital), rows_at(model, clinic.centre)
    assert theirs, "the other point has rows of this model"
    assert listed(client_for(clinic.desk).get(url(model, "changelist"))) == mine
    # The health centre's community director sees theirs and not the hospital's.
    assert listed(client_for(city.users["director"]).get(url(model, "changelist"))) == theirs
    assert listed(client_for(city.users["admin"]).get(url(model, "changelist"))) >= mine | theirs


@pytest.mark.parametrize("model", ["servicepoint", "department", "service", "resource", "scheduletemplate", "slot",
                                   "closure", "booking"])
def test_another_points_records_cannot_be_opened_or_changed(clinic, two_points, model):
    client = client_for(clinic.desk)
    theirs = two_points["centre"][model]
    response = client.get(url(model, "change", theirs))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.post(url(model, "change", theirs), {}).status_code in (302, 403)
    assert client.post(url(model, "delete", theirs), {"post": "yes"}).status_code in (302, 403)
    model_class = {"servicepoint": clinic.hospital, "slot": clinic.slot}.get(model)
    if model_class is not None:
        assert type(model_class).objects.filter(pk=theirs).exists()


def test_a_citizen_has_no_booking_admin(clinic):
    citizen = UserFactory(username="someone", is_staff=False)
    assert client_for(citizen).get(url("booking", "changelist")).status_code == 302
    assert client_for(citizen).get(url("booking", "desk")).status_code == 302


def test_the_desk_adds_departments_only_at_its_point(clinic):
    client = client_for(clinic.desk)
    response = client.post(url("department", "add"), {"point": clinic.centre.pk, "name": "外科", "code": "surgery"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Department.objects.filter(code="surgery").exists()
    response = client.post(url("department", "add"), {"point": clinic.hospital.pk, "name": "外科", "code": "surgery"})
    assert response.status_code == 302
    assert Department.objects.get(code="surgery").point == clinic.hospital


#
# Capacity
#


def test_capacity_cannot_be_set_below_what_is_booked(clinic):
    for citizen in (clinic.citizen, clinic.desk):
        services.booking_create(actor=citizen, slot=clinic.slot)
    client = client_for(clinic.desk)
    response = client.post(url("slot", "change", clinic.slot.pk), {"capacity": 1})
    assert response.status_code == 200
    assert "2 places are booked: the capacity cannot be set below that." in response.content.decode()
    assert Slot.objects.get(pk=clinic.slot.pk).capacity == 5
    assert client.post(url("slot", "change", clinic.slot.pk), {"capacity": 2}).status_code == 302
    assert Slot.objects.get(pk=clinic.slot.pk).capacity == 2


def test_a_capacity_booked_meanwhile_is_refused_by_the_core(clinic, monkeypatch):
    for citizen in (clinic.citizen, clinic.desk):
        services.booking_create(actor=citizen, slot=clinic.slot)
    # As if the form had read the slot before these bookings came in: its own check passes, the core's
    # conditional UPDATE refuses, and the page says so instead of failing.
    monkeypatch.setattr("services.booking.admin.SlotForm.clean_capacity", lambda form: form.cleaned_data["capacity"])
    response = client_for(clinic.desk).post(url("slot", "change", clinic.slot.pk), {"capacity": 1}, follow=True)
    assert response.status_code == 200
    assert any("2 places are booked: the capacity cannot be set below that." in text for text in texts(response))
    assert Slot.objects.get(pk=clinic.slot.pk).capacity == 5


#
# Closures
#


def test_a_closure_cancels_in_bulk_and_notifies_each_citizen(clinic, city):
    first = services.booking_create(actor=clinic.citizen, slot=clinic.slot)
    second = services.booking_create(actor=city.users["worker2"], slot=clinic.other_slot)
    kept = services.booking_create(actor=clinic.citizen, slot=make_slot(clinic.expert, clinic.service, hours=100))
    local = timezone.localtime(clinic.slot.start)
    data = {"point": clinic.hospital.pk, "resource": "",
            "starts_0": (local - timedelta(hours=1)).strftime("%Y-%m-%d"),
            "starts_1": (local - timedelta(hours=1)).strftime("%H:%M:%S"),
            "ends_0": (local + timedelta(hours=4)).strftime("%Y-%m-%d"),
            "ends_1": (local + timedelta(hours=4)).strftime("%H:%M:%S"), "reason": "停电检修"}
    response = client_for(clinic.desk).post(url("closure", "add"), data, follow=True)
    assert response.status_code == 200
    assert "Closed: 2 bookings were cancelled and each citizen notified." in texts(response)
    closure = Closure.objects.get(reason="停电检修")
    assert closure.created_by == clinic.desk
    for booking in (first, second):
        booking.refresh_from_db()
        assert booking.status == BookingStatus.CANCELLED
        assert Notice.objects.filter(recipient=booking.citizen, template="booking/booking_closed").exists()
    kept.refresh_from_db()
    assert kept.status == BookingStatus.BOOKED
    assert Slot.objects.get(pk=clinic.slot.pk).closed


def test_the_desk_cannot_close_another_point(clinic, city):
    centre_slot = make_slot(clinic.nurse, clinic.checkup, hours=48)
    theirs = services.booking_create(actor=city.users["worker2"], slot=centre_slot)
    local = timezone.localtime(centre_slot.start)
    data = {"point": clinic.centre.pk, "resource": "", "starts_0": local.strftime("%Y-%m-%d"), "starts_1": "00:00:00",
            "ends_0": (local + timedelta(days=1)).strftime("%Y-%m-%d"), "ends_1": "00:00:00", "reason": "x"}
    response = client_for(clinic.desk).post(url("closure", "add"), data)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    data.update(point=clinic.hospital.pk, resource=clinic.nurse.pk)  # a resource of the other point
    assert client_for(clinic.desk).post(url("closure", "add"), data).status_code == 200
    assert not Closure.objects.exists()
    theirs.refresh_from_db()
    assert theirs.status == BookingStatus.BOOKED


#
# Today's check-in desk, no-shows, visit results
#


def test_the_desk_lists_todays_bookings_of_its_point_with_check_in_and_no_show(clinic, city):
    coming = book_today(clinic, clinic.expert, clinic.service, clinic.citizen, started=False)
    late = book_today(clinic, clinic.other, clinic.service, city.users["worker2"], started=True)
    elsewhere = book_today(clinic, clinic.nurse, clinic.checkup, city.users["worker"], started=False)
    tomorrow = services.booking_create(actor=clinic.desk, slot=clinic.slot)
    client = client_for(clinic.desk)
    assert url("booking", "desk") in client.get(url("booking", "changelist")).content.decode()
    response = client.get(url("booking", "desk"))
    page = response.content.decode()
    assert response.status_code == 200
    assert [b.pk for b in response.context["bookings"]] == [late.pk, coming.pk]
    assert elsewhere.reference not in page and tomorrow.reference not in page
    assert f'aria-label="No-show {late.reference}"' in page
    assert f'aria-label="No-show {coming.reference}"' not in page  # not started yet
    response = client.post(url("booking", "desk"), {"booking": coming.pk, "do": "check_in"}, follow=True)
    assert f"{coming.reference}: checked in." in texts(response)
    response = client.post(url("booking", "desk"), {"booking": late.pk, "do": "no_show"}, follow=True)
    assert f"{late.reference}: marked as no-show." in texts(response)
    coming.refresh_from_db()
    late.refresh_from_db()
    assert coming.status == BookingStatus.CHECKED_IN and late.status == BookingStatus.NO_SHOW
    assert "Record the visit result" in client.get(url("booking", "desk")).content.decode()


def test_the_desk_cannot_act_on_another_points_booking(clinic, city):
    elsewhere = book_today(clinic, clinic.nurse, clinic.checkup, city.users["worker"], started=True)
    client = client_for(clinic.desk)
    assert client.get(url("booking", "desk"), {"point": clinic.centre.pk}).status_code == 404
    for do in ("check_in", "no_show"):
        assert client.post(url("booking", "desk"), {"booking": elsewhere.pk, "do": do}).status_code == 404
    assert client.post(url("booking", "desk"), {"booking": "x", "do": "check_in"}).status_code == 404
    assert client.get(url("booking", "result", elsewhere.pk)).status_code == 404
    response = client.post(url("booking", "changelist"),
                           {"action": "check_in", "_selected_action": [elsewhere.pk], "index": 0}, follow=True)
    assert response.status_code == 200
    elsewhere.refresh_from_db()
    assert elsewhere.status == BookingStatus.BOOKED
    # The centre's own staff may.
    director = client_for(city.users["director"])
    assert director.post(url("booking", "desk"), {"booking": elsewhere.pk, "do": "no_show"}).status_code == 302
    elsewhere.refresh_from_db()
    assert elsewhere.status == BookingStatus.NO_SHOW


def test_visit_results_are_recorded_at_the_desk(clinic):
    booking = book_today(clinic, clinic.expert, clinic.service, clinic.citizen, started=False)
    client = client_for(clinic.desk)
    response = client.post(url("booking", "result", booking.pk), {"text": "x", "fee": ""})
    assert response.status_code == 400  # not checked in yet
    services.check_in(actor=clinic.desk, booking=booking)
    assert client.post(url("booking", "result", booking.pk), {"text": " ", "fee": ""}).status_code == 400
    response = client.post(url("booking", "result", booking.pk), {"text": "心电图正常", "fee": ""})
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == BookingStatus.ATTENDED and booking.visit_result == "心电图正常"
    assert booking.visit_fee == clinic.service.fee


def test_list_actions_go_booking_by_booking_and_report_refusals(clinic, city):
    coming = book_today(clinic, clinic.expert, clinic.service, clinic.citizen, started=False)
    ahead = services.booking_create(actor=city.users["worker2"], slot=clinic.slot)
    response = client_for(clinic.desk).post(
        url("booking", "changelist"), {"action": "mark_no_show", "_selected_action": [coming.pk], "index": 0},
        follow=True)
    assert any(coming.reference in text and "started" in text for text in texts(response))
    response = client_for(clinic.desk).post(
        url("booking", "changelist"), {"action": "cancel", "_selected_action": [ahead.pk], "index": 0}, follow=True)
    assert f"Cancelled: {ahead.reference}." in texts(response)
    ahead.refresh_from_db()
    assert ahead.status == BookingStatus.CANCELLED and ahead.cancel_reason == "staff"


#
# Blocks
#


def test_blocks_show_where_the_citizen_missed_and_are_lifted_there(clinic, city, settings):
    settings.BOOKING_NO_SHOW_LIMIT = 1
    missed_here = book_today(clinic, clinic.expert, clinic.service, clinic.citizen, started=True)
    services.no_show_mark(actor=clinic.desk, booking=missed_here)
    missed_there = book_today(clinic, clinic.nurse, clinic.checkup, city.users["worker2"], started=True)
    services.no_show_mark(actor=None, booking=missed_there)
    here = BookingBlock.objects.get(citizen=clinic.citizen)
    there = BookingBlock.objects.get(citizen=city.users["worker2"])
    client = client_for(clinic.desk)
    assert listed(client.get(url("bookingblock", "changelist"))) == {here.pk}
    assert client.get(url("bookingblock", "change", there.pk)).status_code == 302
    response = client.post(url("bookingblock", "changelist"),
                           {"action": "lift", "_selected_action": [here.pk, there.pk], "index": 0}, follow=True)
    assert "1 block lifted." in texts(response)
    here.refresh_from_db()
    there.refresh_from_db()
    assert here.lifted_by == clinic.desk and there.lifted_at is None
    assert services.booking_create(actor=clinic.citizen, slot=clinic.later).status == BookingStatus.BOOKED



#
# Chronic follow-up
#


def test_the_health_centre_keeps_follow_up_plans_and_closes_the_tasks_of_missed_ones(clinic, city):
    director = client_for(city.users["director"])  # community A1: the health centre
    first_due = timezone.localdate() + timedelta(days=10)
    data = {"point": clinic.centre.pk, "service": clinic.checkup.pk, "citizen_identifier": "citizen",
            "resident": "", "every_weeks": 4, "first_due": first_due.isoformat(), "note": "高血压"}
    assert director.post(url("followupplan", "add"), {**data, "citizen_identifier": "nobody"}).status_code == 200
    response = director.post(url("followupplan", "add"), data)
    assert response.status_code == 302
    plan = FollowUpPlan.objects.get()
    assert (plan.citizen, plan.next_due, plan.every_weeks, plan.created_by) == (
        clinic.citizen, first_due, 4, city.users["director"])
    # The hospital's desk sees no plan and may not make one at the centre.
    assert listed(client_for(clinic.desk).get(url("followupplan", "changelist"))) == set()
    response = client_for(clinic.desk).post(url("followupplan", "add"), {**data, "note": "x"})
    assert response.status_code in (200, 403) and FollowUpPlan.objects.count() == 1
    # A missed follow-up appointment becomes a task for the centre's staff, who mark it done.
    missed = book_today(clinic, clinic.nurse, clinic.checkup, clinic.citizen, started=True)
    Booking.objects.filter(pk=missed.pk).update(follow_up_plan=plan)
    services.no_show_mark(actor=None, booking=Booking.objects.get(pk=missed.pk))
    task = FollowUpTask.objects.get()
    assert listed(client_for(clinic.desk).get(url("followuptask", "changelist"))) == set()
    assert listed(director.get(url("followuptask", "changelist"))) == {task.pk}
    director.post(url("followuptask", "changelist"), {"action": "done", "_selected_action": [task.pk], "index": 0})
    task.refresh_from_db()
    assert task.done_by == city.users["director"] and task.done_at is not None
    director.post(url("followupplan", "changelist"), {"action": "stop", "_selected_action": [plan.pk], "index": 0})
    plan.refresh_from_db()
    assert not plan.active


def test_slots_are_made_from_the_templates_at_the_desks_points_only(clinic, city):
    for resource, service in ((clinic.expert, clinic.service), (clinic.nurse, clinic.checkup)):
        for weekday in range(7):
            ScheduleTemplate.objects.create(resource=resource, service=service, weekday=weekday, start="08:00",
                                            end="09:00", slot_minutes=30, capacity=3)
    before = {point: Slot.objects.filter(point=point).count() for point in (clinic.hospital, clinic.centre)}
    response = client_for(clinic.desk).post(
        url("servicepoint", "changelist"),
        {"action": "make_slots", "_selected_action": [clinic.hospital.pk, clinic.centre.pk], "index": 0}, follow=True)
    made = Slot.objects.filter(point=clinic.hospital).count() - before[clinic.hospital]
    assert made > 0 and f"{clinic.hospital.name}: {made} new slots." in texts(response)
    assert Slot.objects.filter(point=clinic.centre).count() == before[clinic.centre]


def test_view_only_staff_read_the_bookings_below_them_and_act_on_none(clinic, city):
    booking = book_today(clinic, clinic.expert, clinic.service, clinic.citizen, started=False)
    street = client_for(city.users["street"])  # street A: view_booking over communities A1 and A2
    assert booking.pk in listed(street.get(url("booking", "changelist")))
    assert street.get(url("booking", "change", booking.pk)).status_code == 200
    assert street.get(url("booking", "desk")).status_code == 403
    street.post(url("booking", "changelist"), {"action": "check_in", "_selected_action": [booking.pk], "index": 0})
    booking.refresh_from_db()
    assert booking.status == BookingStatus.BOOKED
    # Staff's own bookings as citizens are not in their admin list.
    own = services.booking_create(actor=clinic.desk, slot=make_slot(clinic.nurse, clinic.checkup, hours=30))
    assert own.pk not in listed(client_for(clinic.desk).get(url("booking", "changelist")))
