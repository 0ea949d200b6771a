"""seed_demo's booking part (services.booking.demo): the three service points in the grid tree, slots for
the next 14 working days, the hospital's desk account scoped to the hospital, the citizen's booking, and
idempotency. The demo city and its accounts are built as seed_demo builds them, then booking's seeder
runs (alone: the other apps' seeders are their tests' business), once for the module in a transaction
rolled back at the end."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from grid import demo as grid_demo
from services.booking import demo, selectors, services
from services.booking.models import Booking, BookingStatus, PointKind, ScheduleTemplate, ServicePoint, Slot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        assert not ServicePoint.objects.exists()
        admin = grid_demo.ensure_admin()
        grid_demo.build_demo_city(actor=admin)
        grid_demo.ensure_demo_accounts(actor=admin)
        yield demo.seed(actor=admin)
        transaction.set_rollback(True)


def test_the_seeder_is_registered():
    assert "services.booking.demo.seed" in grid_demo.registry._SEEDERS


@pytest.mark.usefixtures("seeded")
class TestDemoBooking:
    def test_points_in_the_grid_tree(self, db):
        points = {p.kind: p for p in ServicePoint.objects.select_related("node")}
        assert set(points) == {PointKind.HOSPITAL, PointKind.HEALTH_CENTRE, PointKind.SERVICE_HALL}
        assert points[PointKind.HEALTH_CENTRE].node.code == grid_demo.XINGHUO_CODE
        assert points[PointKind.HEALTH_CENTRE].node.name == "星火巷社区"
        assert all(p.node_path == p.node.path for p in points.values())

    def test_expert_clinics_have_five_places_per_slot_for_fourteen_working_days(self, db):
        hospital = ServicePoint.objects.get(code=demo.HOSPITAL_CODE)
        slots = Slot.objects.filter(point=hospital)
        assert set(slots.values_list("capacity", flat=True)) == {5}
        days = {timezone.localdate(start) for start in slots.values_list("start", flat=True)}
        assert sorted(days) == services.working_days_ahead(14)
        assert ScheduleTemplate.objects.filter(resource__point=hospital).count() == 3 * 5 * 2

    def test_clinic_sees_the_hospital_only(self, db):
        clinic = get_user_model().objects.get(username="clinic")
        hospital = ServicePoint.objects.get(code=demo.HOSPITAL_CODE)
        assert clinic.is_staff
        assert set(selectors.slot_list_managed(user=clinic).values_list("point", flat=True).distinct()) == {hospital.pk}
        assert {b.slot.point_id for b in selectors.booking_list(user=clinic)} == {hospital.pk}

    def test_report(self, seeded):
        assert seeded.startswith("Booking: 3 service points, ")

    def test_citizen_has_a_booking(self, db):
        booking = Booking.objects.get(citizen__username="citizen", status=BookingStatus.BOOKED)
        assert booking.slot.point.code == demo.HOSPITAL_CODE and booking.slot.start > timezone.now()

    def test_idempotent(self, db):
        before = (Slot.objects.count(), Booking.objects.count(), ScheduleTemplate.objects.count(),
                  sum(Slot.objects.values_list("booked", flat=True)))
        assert "0 new slots" in demo.seed(actor=None)
        after = (Slot.objects.count(), Booking.objects.count(), ScheduleTemplate.objects.count(),
                 sum(Slot.objects.values_list("booked", flat=True)))
        assert before == after
