"""A visit sent at once from several connections with one client key is recorded once: the unique
index decides (PostgreSQL, real connections). Not in tests/grid, whose shared city lives in an open
transaction that other connections cannot see."""

import uuid

import pytest
from django.contrib.auth import get_user_model

from civic.errors import AlreadyDone
from grid import services
from grid.models import Household, Visit, VisitOutcome
from tests.support.race import race


@pytest.mark.django_db(transaction=True)
def test_the_same_visit_sent_at_once_from_several_connections_is_recorded_once(postgres, city):
    threads_count = 6
    worker_pk, target_pk, key = city.users["worker"].pk, Household.objects.get(grid=city.nodes["A1g1"]).pk, uuid.uuid4()

    def load(index: int):
        return get_user_model().objects.get(pk=worker_pk), Household.objects.get(pk=target_pk)

    def send(index: int, loaded) -> int:
        actor, target = loaded
        return services.visit_record(actor=actor, household=target, outcome=VisitOutcome.ALL_WELL, client_key=key).pk

    outcome = race(send, threads_count, prepare=load)
    created = outcome.results
    replayed = [replay.instance.pk for replay in outcome.raised(AlreadyDone)]

    assert outcome.unexpected(AlreadyDone) == []
    assert len(created) == 1 and len(replayed) == threads_count - 1
    assert set(replayed) == set(created)
    assert Visit.objects.count() == 1
