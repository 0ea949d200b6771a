"""Benchmark: partners' hot paths, on PostgreSQL (and Redis for the throttle, when REDIS_URL is set).

    (a) a page of cases through the API with an API key (key lookup, grants from the key, the throttle's
        counter, one INSERT into the request log) against the same page with a user's token (token
        lookup, grant lookup): median ms and queries per request. Target: the key within 1.5x.
    (b) the webhooks of an overdue sweep: partners.webhooks.publish_many for N escalated cases against
        publish() called case by case (run on a sample and scaled; the output says so). Target: at
        least 10x faster.

Runs on the demo city (``manage.py seed_demo`` first); everything it writes is rolled back.

Usage: DATABASE_URL=postgres://... [REDIS_URL=redis://...] .venv/bin/python bench/partners.py [--events 10000]
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "0")  # measure as production runs
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(24).hex())

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from bench.timing import interleaved_medians  # noqa: E402
from grid.demo import XINGHUO_CODE  # noqa: E402
from grid.models import GridNode  # noqa: E402
from partners.models import WebhookDelivery  # noqa: E402
from partners.services import api_key_create, partner_ensure, webhook_create  # noqa: E402
from partners.webhooks import publish, publish_many  # noqa: E402

CASES = "/api/v1/issues/cases/"


class Rollback(Exception):
    """Raised to leave a measured transaction without keeping its writes."""


def _clients(street) -> dict[str, APIClient]:
    partner = partner_ensure(actor=None, code="bench", name="bench partner")
    _key, text = api_key_create(actor=None, partner=partner, scopes=["cases.read"], node=street, rate="100000/min")
    token = Token.objects.get_or_create(user=get_user_model().objects.get(username="street"))[0].key
    by_key, by_token = APIClient(), APIClient()
    by_key.credentials(HTTP_AUTHORIZATION=f"Api-Key {text}")
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return {"api key": by_key, "token": by_token}


def bench_requests(runs: int) -> bool:
    street = GridNode.objects.get(code=XINGHUO_CODE[:9])
    with transaction.atomic():
        clients = _clients(street)
        sizes, queries = {}, {}
        for name, client in clients.items():
            client.get(CASES, secure=True)  # warm: the key's last_used_at is touched once a minute, not here
            with CaptureQueriesContext(connection) as captured:
                response = client.get(CASES, secure=True)
            assert response.status_code == 200, response.content
            sizes[name], queries[name] = len(response.json()["results"]), len(captured)
        medians = interleaved_medians({name: (lambda c=c: c.get(CASES, secure=True)) for name, c in clients.items()},
                                      runs)
        transaction.set_rollback(True)
    print(f"(a) A page of cases in {street.name}'s scope, median of {runs} interleaved requests in this process:")
    for name in clients:
        print(f"    {name:8}  {medians[name]:7.2f} ms  {queries[name]} queries  {sizes[name]} cases")
    ratio = medians["api key"] / medians["token"]
    print(f"    key/token: {ratio:.2f}")
    return ratio <= 1.5


def _events(count: int, path: str) -> list[tuple[dict, str]]:
    return [({"id": i, "reference": f"BM-{i:06d}", "status": "dispatched", "handling_level": 3}, path)
            for i in range(count)]


def bench_publish(count: int, sample: int) -> bool:
    grid = GridNode.objects.filter(code__startswith=XINGHUO_CODE, level=5).first()
    try:
        with transaction.atomic():
            partner = partner_ensure(actor=None, code="bench", name="bench partner")
            key, _text = api_key_create(actor=None, partner=partner, scopes=["cases.read"])
            # Nothing is sent (the transaction is rolled back): any reachable address will do.
            settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
            webhook_create(actor=None, key=key, url="http://127.0.0.1:9/hook", events=["case.escalated"])
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as set_based:
                publish_many("case.escalated", _events(count, grid.path))
            ours = time.perf_counter() - started
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as row_by_row:
                for payload, path in _events(sample, grid.path):
                    publish("case.escalated", payload, grid_path=path)
            loop = (time.perf_counter() - started) * count / sample
            written = WebhookDelivery.objects.count()
            raise Rollback
    except Rollback:
        pass
    print(f"(b) Webhook deliveries of an overdue sweep, {count:,} escalated cases, one subscriber:")
    print(f"    publish_many: {ours:.2f} s in {len(set_based)} statements")
    print(f"    publish() case by case: {loop * sample / count:.2f} s for a sample of {sample:,} in "
          f"{len(row_by_row)} statements, scaled to all: {loop:.1f} s")
    print(f"    {written:,} deliveries written; set-based is {loop / ours:.0f}x faster; rolled back.")
    return loop / ours >= 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=1_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("bench/partners.py needs PostgreSQL (DATABASE_URL).")
        return 2
    if not GridNode.objects.filter(code=XINGHUO_CODE).exists():
        print("Seed the demo city first: manage.py seed_demo")
        return 2
    checks = {"(a) key within 1.5x of token": bench_requests(args.runs),
              "(b) publish_many at least 10x faster than case by case": bench_publish(args.events, args.sample)}
    print()
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
