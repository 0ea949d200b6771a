"""Per-key throttles (429 with Retry-After, in the error shape) and the request log (one row per request
made with a key, refused ones included)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from partners.models import ApiRequest
from partners.services import api_key_revoke
from partners.tasks import prune_api_requests
from tests.grid.utils import assert_error_shape
from tests.partners.conftest import key_client

CASES = "/api/v1/issues/cases/"


#
# Throttling
#


def test_a_key_over_its_rate_gets_429_with_retry_after(db, make_key, settings):
    settings.API_KEY_DEFAULT_RATE = "3/min"
    _key, text = make_key(["cases.read"])
    client = key_client(text)
    assert [client.get(CASES).status_code for _ in range(3)] == [200, 200, 200]

    throttled = client.get(CASES)
    error = assert_error_shape(throttled, 429)
    assert error["code"] == "throttled"
    assert 1 <= int(throttled["Retry-After"]) <= 60


def test_each_key_has_its_own_count_and_may_have_its_own_rate(db, make_key, settings):
    settings.API_KEY_DEFAULT_RATE = "1/min"
    _first, first = make_key(["cases.read"])
    _second, second = make_key(["cases.read"])
    _generous, generous = make_key(["cases.read"], rate="5/min")
    assert key_client(first).get(CASES).status_code == 200
    assert key_client(first).get(CASES).status_code == 429
    assert key_client(second).get(CASES).status_code == 200
    assert [key_client(generous).get(CASES).status_code for _ in range(6)] == [200] * 5 + [429]


def test_requests_without_a_key_are_not_throttled_by_key_rates(city, settings):
    settings.API_KEY_DEFAULT_RATE = "1/min"
    client = APIClient()
    client.force_login(city.users["street"])
    assert [client.get(CASES).status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.parametrize("rate", ["fast", "10/fortnight", "0/min", "-1/s"])
def test_a_rate_must_be_readable(db, make_key, rate):
    with pytest.raises(ValidationError) as raised:
        make_key(["cases.read"], rate=rate)
    assert "rate" in raised.value.message_dict


def test_the_throttle_counts_in_the_shared_cache(db, make_key, settings, redis_url):
    """Under REDIS_URL the counter lives in Redis, where every web process sees it."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    settings.API_KEY_DEFAULT_RATE = "2/hour"
    key, text = make_key(["cases.read"])
    key_client(text).get(CASES)
    counters = cache._cache.get_client().keys(f"*partners:rate:{key.key_hash[:32]}:3600:*")
    assert len(counters) == 1


#
# The request log
#


def test_every_request_made_with_a_key_is_logged(city, make_key):
    key, text = make_key(["cases.read"])
    client = key_client(text)
    client.get(CASES)
    client.get(f"{CASES}999999/")
    client.post(CASES, {}, format="json")  # a read key may not write: 403, logged all the same

    rows = list(ApiRequest.objects.filter(key=key).order_by("id").values_list("method", "endpoint", "status"))
    assert rows == [("GET", CASES, 200), ("GET", f"{CASES}999999/", 404), ("POST", CASES, 403)]
    assert all(row.duration_ms >= 0 for row in ApiRequest.objects.filter(key=key))
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_refused_keys_are_logged_and_unknown_ones_are_not(db, make_key):
    key, text = make_key(["cases.read"])
    api_key_revoke(actor=None, key=key)
    assert key_client(text).get(CASES).status_code == 401
    assert key_client("civic_unknown-key-of-nobody").get(CASES).status_code == 401
    assert list(ApiRequest.objects.values_list("key", "status")) == [(key.pk, 401)]


def test_throttled_requests_are_logged(db, make_key, settings):
    settings.API_KEY_DEFAULT_RATE = "1/min"
    key, text = make_key(["cases.read"])
    key_client(text).get(CASES)
    key_client(text).get(CASES)
    assert sorted(ApiRequest.objects.filter(key=key).values_list("status", flat=True)) == [200, 429]


def test_requests_without_a_key_write_no_log_row(city):
    client = APIClient()
    client.force_login(city.users["street"])
    client.get(CASES)
    assert not ApiRequest.objects.exists()


def test_old_log_rows_are_pruned(db, make_key, settings):
    key, text = make_key(["cases.read"])
    key_client(text).get(CASES)
    key_client(text).get(CASES)
    old = ApiRequest.objects.order_by("id").first()
    ApiRequest.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=settings.API_REQUEST_LOG_DAYS + 1))
    assert prune_api_requests() == 1
    assert ApiRequest.objects.count() == 1 and not ApiRequest.objects.filter(pk=old.pk).exists()
