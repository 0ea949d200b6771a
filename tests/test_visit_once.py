"""A visit sent at once from several connections with one client key is recorded once: the unique
index decides (PostgreSQL, real connections). Not in tests/grid, whose shared city lives in an open
transaction that other connections cannot see."""

import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from grid import services
from grid.models import Household, Visit, VisitOutcome


@pytest.mark.django_db(transaction=True)
def test_the_same_visit_sent_at_once_from_several_connections_is_recorded_once(postgres, city):
    threads_count = 6
    worker_pk, target_pk, key = city.users["worker"].pk, Household.objects.get(grid=city.nodes["A1g1"]).pk, uuid.uuid4()
    barrier = threading.Barrier(threads_count)
    results, errors = [], []

    def send() -> None:
        try:
            actor, target = get_user_model().objects.get(pk=worker_pk), Household.objects.get(pk=target_pk)
            barrier.wait(timeout=30)
            visit = services.visit_record(actor=actor, household=target, outcome=VisitOutcome.ALL_WELL,
                                          client_key=key)
            results.append(visit.pk)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(results) == threads_count and len(set(results)) == 1
    assert Visit.objects.count() == 1
