"""A report carries a client-made key (the field app's offline queue, the portal's form): sent again,
by a retry or by two requests at once, it is stored once and the sender gets the first case back."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from civic.models import Notice
from issues import services
from issues.models import Case, CaseEvent, CasePhoto, Category
from tests.grid.utils import api_client, assert_error_shape
from tests.issues.helpers import jpeg_upload, point_in, report, text_upload
from tests.support.race import race

API = "/api/v1/issues/cases/"


def _payload(city, categories, **extra) -> dict:
    lat, lon = point_in(city.nodes["A1g1"])
    return {"category": categories["sanitation"].pk, "description": "垃圾堆积", "lat": f"{lat:.6f}",
            "lon": f"{lon:.6f}", **extra}


def test_the_same_key_twice_stores_one_case(city, categories):
    key = uuid.uuid4()
    first = report(city, categories["sanitation"], client_key=key, photos=[jpeg_upload()])
    notices = Notice.objects.count()
    with pytest.raises(services.AlreadyReported) as replay:
        report(city, categories["sanitation"], client_key=key, photos=[jpeg_upload()])
    assert replay.value.case == first
    assert Case.objects.count() == 1 and CaseEvent.objects.count() == 1 and CasePhoto.objects.count() == 1
    assert Notice.objects.count() == notices  # nobody is told twice


def test_keys_belong_to_their_reporter_and_no_key_means_no_check(city, categories):
    key = uuid.uuid4()
    report(city, categories["sanitation"], client_key=key)
    report(city, categories["sanitation"], client_key=key, actor=city.users["director"])
    report(city, categories["sanitation"])
    report(city, categories["sanitation"])
    assert Case.objects.count() == 4


def test_a_refused_report_does_not_use_up_its_key(city, categories):
    key = uuid.uuid4()
    with pytest.raises(ValidationError):
        report(city, categories["sanitation"], client_key=key, photos=[text_upload()])
    case = report(city, categories["sanitation"], client_key=key, photos=[jpeg_upload()])
    assert case.client_key == key and Case.objects.get() == case


def test_api_answers_a_resent_report_with_the_first_case(city, categories):
    client = api_client(city.users["worker"])
    key = str(uuid.uuid4())
    first = client.post(API, _payload(city, categories, photos=[jpeg_upload()]), format="multipart",
                        headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    again = client.post(API, _payload(city, categories, photos=[jpeg_upload()]), format="multipart",
                        headers={"Idempotency-Key": key})
    assert again.status_code == 200, again.content
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again["Location"] == first["Location"]
    assert again.json()["reference"] == first.json()["reference"]
    assert Case.objects.count() == 1 and CasePhoto.objects.count() == 1


def test_api_refuses_a_key_that_is_not_a_uuid(city, categories):
    client = api_client(city.users["worker"])
    response = client.post(API, _payload(city, categories), format="json", headers={"Idempotency-Key": "once"})
    error = assert_error_shape(response, 400)
    assert "idempotency_key" in error["fields"]
    assert not Case.objects.exists()


def test_another_users_key_reveals_nothing(city, categories):
    """Replaying someone else's key creates the caller's own case; it never returns theirs."""
    key = str(uuid.uuid4())
    theirs = api_client(city.users["director"]).post(API, _payload(city, categories), format="json",
                                                     headers={"Idempotency-Key": key})
    mine = api_client(city.users["worker"]).post(API, _payload(city, categories), format="json",
                                                 headers={"Idempotency-Key": key})
    assert theirs.status_code == mine.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_the_same_report_sent_at_once_from_several_connections_is_stored_once(postgres, city, categories):
    threads_count = 6
    worker_pk, category_pk = city.users["worker"].pk, categories["sanitation"].pk
    lat, lon = point_in(city.nodes["A1g1"])
    key = uuid.uuid4()

    def load(index: int):
        return get_user_model().objects.get(pk=worker_pk), Category.objects.get(pk=category_pk)

    def send(index: int, loaded) -> int:
        actor, category = loaded
        return services.case_report(actor=actor, category=category, description="离线队列重发",
                                    lat=lat, lon=lon, client_key=key).pk

    outcome = race(send, threads_count, prepare=load)
    created = outcome.results
    replayed = [replay.case.pk for replay in outcome.raised(services.AlreadyReported)]

    assert outcome.unexpected(services.AlreadyReported) == []
    assert len(created) == 1 and len(replayed) == threads_count - 1
    assert set(replayed) == set(created)
    assert Case.objects.count() == 1 and CaseEvent.objects.count() == 1
