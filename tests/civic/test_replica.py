"""civic.replica: with DATABASE_REPLICA_URL, the command centre's reads go to the replica alias and
nothing else does; writes and migrations never go there."""

from contextlib import contextmanager

import pytest
from django.db import connections, router
from django.test.utils import CaptureQueriesContext

from centre.models import Export
from civic.replica import REPLICA, ReplicaRouter, read_alias, replica_reads
from issues.models import Case


@contextmanager
def replica_alias(*, connect: bool = False):
    """A second alias on the same (test) database, as DATABASE_REPLICA_URL would add one on a replica.
    ``connect``: at once, as Django's test case refuses to open one later to an alias it did not declare."""
    connections.settings[REPLICA] = dict(connections["default"].settings_dict)
    try:
        if connect:
            connections[REPLICA].connect()
        yield connections[REPLICA]
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


@pytest.fixture
def replica():
    with replica_alias() as alias:
        yield alias


def test_without_a_replica_everything_uses_default():
    with replica_reads():
        assert read_alias() == "default"
        assert router.db_for_read(Case) == "default"


def test_with_a_replica_only_asked_for_reads_go_there(replica):
    routing = ReplicaRouter()
    assert routing.db_for_read(Case) == "default"
    with replica_reads():
        assert routing.db_for_read(Case) == REPLICA == router.db_for_read(Case)
        assert routing.db_for_write(Case) == "default" == router.db_for_write(Export)
    assert routing.db_for_read(Case) == "default"
    assert routing.allow_migrate("default", "issues") is True
    assert routing.allow_migrate(REPLICA, "issues") is False


@pytest.mark.django_db
def test_inside_a_transaction_reads_stay_on_default(replica):
    with replica_reads():
        assert read_alias() == "default"  # the test's transaction must see its own rows


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_and_exports_read_from_the_replica(postgres, settings, monkeypatch):
    from centre import tasks
    from tests.factories import CityBuilder
    from tests.grid.utils import admin_client, api_client

    city = CityBuilder().build()
    settings.CENTRE_EXPORT_INLINE_ROWS = -1  # every export to a worker
    monkeypatch.setattr(tasks.build_export, "delay", lambda pk: None)
    with replica_alias(connect=True) as replica, CaptureQueriesContext(connections["default"]) as primary, \
            CaptureQueriesContext(replica) as copy:
        assert api_client(city.users["district"]).get("/api/v1/centre/summary/").status_code == 200
        assert admin_client(city.users["district"]).get("/admin/centre/").status_code == 200
        response = api_client(city.users["district"]).post("/api/v1/centre/exports/", {"format": "csv"},
                                                           format="json")
        assert response.status_code == 202
        tasks.export_build(export_id=response.json()["id"])
    case_table = Case._meta.db_table
    on_replica = [q["sql"] for q in copy.captured_queries]
    on_primary = [q["sql"] for q in primary.captured_queries]
    assert any(case_table in sql for sql in on_replica)
    assert not any(case_table in sql for sql in on_primary), [s for s in on_primary if case_table in s]
    # Writes (the export, its audit record, its file's row) all went to the primary.
    assert not any(sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for sql in on_replica)
    assert any(sql.startswith("INSERT") and Export._meta.db_table in sql for sql in on_primary)
    assert Export.objects.get().status == Export.Status.DONE
