"""See the doctor first, pay later: an attended visit with a fee becomes a bill among the citizen's bills,
through billing's module API (services.billing.services.visit_bill_issue), once per booking."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from services.billing import selectors as billing
from services.booking import services
from services.booking.models import Booking
from tests.booking.conftest import make_slot

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked_in(clinic):
    slot = make_slot(clinic.expert, clinic.service, hours=0.2)
    if timezone.localdate(slot.start) != timezone.localdate():
        pytest.skip("too close to midnight")

    def make(**kwargs):
        booking = services.booking_create(actor=clinic.citizen, slot=slot, **kwargs)
        return services.check_in(actor=clinic.desk, booking=booking)

    return make


def test_an_attended_visit_with_a_fee_lands_among_the_citizens_bills(clinic, checked_in):
    booking = services.visit_result_record(actor=clinic.desk, booking=checked_in(), text="血压偏高，调整用药")
    bill = billing.bill_list(user=clinic.citizen).get()
    assert bill.amount == Decimal("50.00") and bill.bill_number == booking.reference
    assert bill.provider.code == clinic.hospital.code and bill.provider.name == clinic.hospital.name
    assert bill.due_date == timezone.localdate() + timedelta(days=15)
    assert [(line.amount, line.description) for line in bill.lines.all()] == [
        (Decimal("50.00"), "心内科专家门诊 (王建国 (主任医师))")]
    assert Booking.objects.get(pk=booking.pk).bill_reference == bill.payment_reference

    # Correcting the result bills nothing more; changing a billed fee is refused.
    services.visit_result_record(actor=clinic.desk, booking=booking, text="血压偏高，调整用药，两周后复查")
    assert billing.bill_list(user=clinic.citizen).count() == 1
    with pytest.raises(ValidationError):
        services.visit_result_record(actor=clinic.desk, booking=booking, text="x", fee=Decimal("80.00"))
    assert billing.bill_list(user=clinic.citizen).get().amount == Decimal("50.00")


def test_the_fee_given_at_the_desk_and_a_family_members_visit(clinic, checked_in):
    member = services.FamilyMember(name="张桂英", id_number="150102195001011232")
    services.visit_result_record(actor=clinic.desk, booking=checked_in(family_member=member), text="正常",
                                 fee=Decimal("35.50"))
    bill = billing.bill_list(user=clinic.citizen).get()
    assert bill.amount == Decimal("35.50") and "张桂英" in bill.description


def test_a_free_visit_is_not_billed(clinic, checked_in):
    services.visit_result_record(actor=clinic.desk, booking=checked_in(), text="正常", fee=Decimal("0"))
    assert not billing.bill_list(user=clinic.citizen).exists()
