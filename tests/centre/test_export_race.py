"""The same large export asked for twice (six times) at the same instant is one export. In a module of
its own: its rows must be committed for the racing connections to see them, which the centre package's
city built once per module (an open transaction) would prevent."""

import pytest
from django.contrib.auth import get_user_model

from centre import services, tasks
from centre.models import Export
from civic.audit_models import AuditEvent
from tests.factories import CityBuilder
from tests.support.race import race


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_same_large_export_asked_twice_at_once_is_one_export(postgres, settings, monkeypatch):
    """Two (here six) requests at the same instant for a large export: the unique index lets one in,
    the others get its row; one file is queued."""
    city = CityBuilder().build()
    settings.CENTRE_EXPORT_INLINE_ROWS = 0
    sent = []
    monkeypatch.setattr(tasks.build_export, "delay", sent.append)
    user_pk = city.users["district"].pk

    def ask(index, user):
        return services.export_request(actor=user, source="centre", params={"status": ["reported"]},
                                       format="xlsx", rows=1_000_000)

    def prepare(index):
        return get_user_model().objects.get(pk=user_pk)

    outcome = race(ask, threads=6, prepare=prepare)
    assert outcome.errors == []
    assert len({export.pk for export, _created in outcome.results}) == 1
    assert sum(created for _export, created in outcome.results) == 1
    assert Export.objects.count() == 1 and sent == [Export.objects.get().pk]
    assert AuditEvent.objects.filter(action="export.cases").count() == 1
