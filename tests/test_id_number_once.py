"""One registration per ID number, decided by the database when two arrive at once (issue 9, item 3)."""

import pytest

from grid import services
from grid.idnumbers import id_number_hash, make_id_number
from grid.models import DuplicateRegistration, Household, Resident
from tests.support.race import race

NUMBER = make_id_number("150102", "19910101", 2)


@pytest.mark.django_db(transaction=True)
def test_two_parallel_registrations_of_one_number_leave_one_registration_and_one_review(postgres, city):
    """Two workers who cannot see each other's grid register the same new number at the same instant:
    the unique index decides which is the registration; the other is the duplicate under review."""
    users = [city.users["worker"], city.users["worker2"]]
    grids = [city.nodes["A1g1"], city.nodes["B1g1"]]

    def register(i):
        household = Household(grid=grids[i], address=f"并发{i}")
        return services.household_save(actor=users[i], household=household,
                                       residents=[{"name": f"同号{i}", "id_number": NUMBER}])

    outcome = race(register, threads=2)
    assert outcome.errors == []
    rows = Resident.objects.filter(id_number_hash=id_number_hash(NUMBER))
    assert sorted(rows.values_list("duplicate", flat=True)) == [False, True]
    assert DuplicateRegistration.objects.filter(resident=rows.get(duplicate=True)).count() == 1
