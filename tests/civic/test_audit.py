"""The audit log: written with the act, append-only down to the database, read by superusers alone."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from civic.audit import audit_record
from civic.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_record_names_the_actor_the_target_and_the_address():
    actor, target = UserFactory(username="auditor"), UserFactory(username="subject")
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3")
    event = audit_record(actor=actor, action="user.viewed", target=target, summary="looked", detail={"k": 1},
                         request=request)
    event.refresh_from_db()
    assert (event.actor, event.action, event.target_type, event.target_id, event.ip, event.detail) == (
        actor, "user.viewed", "civic.user", str(target.pk), "10.1.2.3", {"k": 1}
    )


def test_rows_cannot_be_changed_or_deleted_through_the_model():
    event = audit_record(actor=None, action="system.ran")
    event.summary = "rewritten"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()


def test_the_database_refuses_an_update_whatever_the_code_does():
    event = audit_record(actor=None, action="system.ran", summary="original")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
    assert AuditEvent.objects.get(pk=event.pk).summary == "original"


def test_the_database_refuses_a_delete_on_postgresql(postgres):
    event = audit_record(actor=None, action="system.ran")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM civic_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_only_superusers_see_the_log_in_the_admin(client):
    audit_record(actor=None, action="grant.changed", summary="worker7 lost view_registry")
    staff = UserFactory(username="staffer", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/civic/auditevent/").status_code == 403
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get("/admin/civic/auditevent/?q=worker7")
    assert page.status_code == 200 and "worker7 lost view_registry" in page.content.decode()
    assert client.get("/admin/civic/auditevent/add/").status_code == 403
