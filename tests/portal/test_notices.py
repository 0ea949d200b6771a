"""A citizen reads the in-app notices the workflow sent them, and only theirs."""

import pytest

from civic.models import Notice
from civic.notices import notice_queue
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _notice(user, key):
    return notice_queue(recipient=user, template="civic/test", context={}, dedupe_key=key, channels=["in_app"])[0]


def test_a_citizen_sees_their_in_app_notices_and_marks_them_read(client):
    citizen, other = UserFactory(username="c1", is_staff=False), UserFactory(username="c2", is_staff=False)
    mine, theirs = _notice(citizen, "n1"), _notice(other, "n2")
    client.force_login(citizen)

    page = client.get("/notices/").content.decode()
    assert mine.subject in page and f"/notices/{mine.pk}/read/" in page
    assert f"/notices/{theirs.pk}/read/" not in page

    assert client.post(f"/notices/{mine.pk}/read/").status_code == 302
    assert Notice.objects.get(pk=mine.pk).read_at is not None
    assert f"/notices/{mine.pk}/read/" not in client.get("/notices/").content.decode()


def test_someone_elses_notice_is_not_found_and_stays_unread(client):
    citizen, other = UserFactory(username="c1", is_staff=False), UserFactory(username="c2", is_staff=False)
    theirs = _notice(other, "n2")
    client.force_login(citizen)
    assert client.post(f"/notices/{theirs.pk}/read/").status_code == 404
    assert Notice.objects.get(pk=theirs.pk).read_at is None


def test_notices_need_a_login(client):
    assert client.get("/notices/").status_code == 302
