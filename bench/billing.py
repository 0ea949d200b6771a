"""Benchmark: e-billing's write paths on PostgreSQL, over HTTP as deployed (gunicorn on loopback, DEBUG off).

    (a) bulk push: 100,000 bills (two lines each) through the partner API, POST
        /api/v1/billing/provider/bills/ with the provider's key in batches of 10,000, against COPY of the
        same bills into the same tables (billing_bill, then their lines into billing_billline), batch by
        batch in turn so that both write into tables of the same size. bills/s of each and the ratios;
        target: the API at least a quarter of the rate of COPY writing the same rows (bills and lines).
        The ratio against COPY of the bill rows alone (no lines, no accounts) is printed beside it.
    (b) payments: 1,000 one-card payments of distinct bills by 20 concurrent clients (threads, each its
        own citizen with a token, one fresh connection per request), POST /api/v1/billing/payments/ with
        an Idempotency-Key: payments/s, median and p95 latency, beside a trivial endpoint's latency
        (GET /api/v1/auth/me/) under the same 20 clients. Every payment must answer 201 and succeed.

Its own database: DATABASE_URL must name a database whose name contains "bench" (e.g.
postgres://postgres@127.0.0.1:5432/civic_bench_billing, created empty with createdb); it is migrated
and billing's tables are emptied (TRUNCATE) at the start of each run, so every run measures the same.

Usage: DATABASE_URL=postgres://.../civic_bench_billing .venv/bin/python bench/billing.py
       [--bills 100000] [--batch 10000] [--payments 1000] [--clients 20] [--workers 2] [--threads 4]
The exit status is 1 if a target is missed.
"""

import argparse
import http.client
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.update(DEBUG="0", SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0",
                  SECURE_HSTS_SECONDS="0", ALLOWED_HOSTS="127.0.0.1")
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(24).hex())
os.environ.setdefault("STATIC_ROOT", tempfile.mkdtemp(prefix="civic-bench-static-"))
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="civic-bench-media-"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from bench.server import serve, stop  # noqa: E402
from bench.timing import verdict  # noqa: E402
from partners.services import api_key_create, partner_ensure  # noqa: E402
from services.billing import services  # noqa: E402
from services.billing.models import Bill, Payment, Provider, UtilityAccount  # noqa: E402

HOST = "127.0.0.1"
PUSH_TARGET = 0.25  # the API's bills/s at least a quarter of COPY's
HOLDER = "赵敏"
PERIOD = date(2026, 11, 1)


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, body, seconds) on a fresh connection, as a client across the network makes it."""
    headers = {"Host": f"{HOST}:{port}", "Connection": "close", "Accept-Language": "zh-hans", **(headers or {})}
    start = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        content = response.read()
    finally:
        conn.close()
    return response.status, content, time.perf_counter() - start


#
# The database: its own, emptied
#


def _reset() -> None:
    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or "bench" not in name:
        sys.exit(f"bench/billing.py needs PostgreSQL and its own database (a name with 'bench' in it), not {name!r}.")
    call_command("migrate", verbosity=0)
    tables = [model._meta.db_table for model in django.apps.apps.get_app_config("billing").get_models()]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def _provider(code: str) -> tuple[Provider, str]:
    partner = partner_ensure(actor=None, code=f"bench-{code}", name=f"bench {code}")
    _key, text = api_key_create(actor=None, partner=partner, scopes=["billing.provider"], rate="1000000/min")
    return services.provider_ensure(code=code, name=f"bench {code}", kind="electricity", partner=partner), text


def _items(start: int, count: int, accounts: int) -> list[dict]:
    due = (PERIOD + timedelta(days=45)).isoformat()
    items = []
    for n in range(start, start + count):
        usage, fee = Decimal(100 + n % 900) + Decimal(n % 100) / 100, Decimal("5.00")
        items.append({"bill_number": f"E{n:08d}", "account_number": f"AC{n % accounts:07d}", "holder_name": HOLDER,
                      "period": f"{PERIOD:%Y-%m}", "amount": str(usage + fee), "due_date": due,
                      "lines": [{"description": "电费", "amount": str(usage)},
                                {"description": "基本费", "amount": str(fee)}]})
    return items


#
# (a) the push against COPY
#


def _copy_rows(provider: Provider, accounts: dict[str, int], items: list[dict]) -> tuple[io.StringIO, list]:
    """The items as billing_bill rows in COPY's text format (the same columns the push fills)."""
    now = "2026-12-01 09:00:00+08"
    buffer = io.StringIO()
    for item in items:
        number = "C" + item["bill_number"]
        reference = f"C{int(item['bill_number'][1:]):016d}"  # never one of the push's 16 digits
        buffer.write("\t".join([
            str(provider.pk), number, str(accounts[item["account_number"]]), r"\N", item["period"] + "-01", "",
            item["amount"], "0.00", "CNY", item["due_date"], reference, "issued", "1", r"\N", "0" * 64, "", now,
            r"\N", r"\N"]) + "\n")
    buffer.seek(0)
    return buffer, [("C" + item["bill_number"], item["lines"]) for item in items]


BILL_COLUMNS = ("provider_id", "bill_number", "account_id", "citizen_id", "period", "description", "amount",
                "amount_paid", "currency", "due_date", "payment_reference", "status", "version", "supersedes_id",
                "content_hash", "grid_path", "issued_at", "paid_at", "voided_at")


def _copy(provider: Provider, accounts: dict[str, int], items: list[dict]) -> tuple[float, float]:
    """COPY the bills (seconds), then their lines (seconds, including reading the new bills' ids)."""
    rows, lines = _copy_rows(provider, accounts, items)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        start = time.perf_counter()
        raw.copy_expert(f"COPY billing_bill ({', '.join(BILL_COLUMNS)}) FROM STDIN", rows)
        bills = time.perf_counter() - start
        start = time.perf_counter()
        cursor.execute("SELECT bill_number, id FROM billing_bill WHERE provider_id = %s AND bill_number = ANY(%s)",
                       [provider.pk, [number for number, _lines in lines]])
        ids = dict(cursor.fetchall())
        buffer = io.StringIO()
        for number, bill_lines in lines:
            for position, line in enumerate(bill_lines):
                buffer.write(f"{ids[number]}\t{position}\t{line['description']}\t{line['amount']}\n")
        buffer.seek(0)
        raw.copy_expert("COPY billing_billline (bill_id, position, description, amount) FROM STDIN", buffer)
        with_lines = time.perf_counter() - start
    return bills, with_lines


def bench_push(port: int, total: int, batch: int, checks: list) -> None:
    pushed, key = _provider("power")
    copied, _unused = _provider("copy")
    accounts = total // 10
    # COPY writes bill rows only: its accounts exist beforehand (the push creates its own as it goes).
    UtilityAccount.objects.bulk_create([
        UtilityAccount(provider=copied, account_number=f"AC{n:07d}", holder_name=HOLDER, grid_path="")
        for n in range(accounts)], batch_size=5000)
    account_ids = dict(UtilityAccount.objects.filter(provider=copied).values_list("account_number", "id"))
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    # Warm the workers (imports, the key's first lookup) on a push that stores nothing new twice.
    warm = json.dumps(_items(total, 1, accounts)).encode()
    for _ in range(2):
        status, body, _s = _request(port, "POST", "/api/v1/billing/provider/bills/", warm, headers)
        assert status in (200, 201), (status, body[:500])
    api_s, copy_s, copy_lines_s, request_bytes = 0.0, 0.0, 0.0, 0
    for start in range(0, total, batch):
        items = _items(start, min(batch, total - start), accounts)
        body = json.dumps(items).encode()
        request_bytes += len(body)
        status, content, seconds = _request(port, "POST", "/api/v1/billing/provider/bills/", body, headers)
        assert status == 201, (status, content[:500])
        api_s += seconds
        bills_s, lines_s = _copy(copied, account_ids, items)
        copy_s += bills_s
        copy_lines_s += bills_s + lines_s
    stored = Bill.objects.filter(provider=pushed).count() - 1
    assert stored == total and Bill.objects.filter(provider=copied).count() == total, stored
    api_rate, copy_rate, copy_lines_rate = total / api_s, total / copy_s, total / copy_lines_s
    ratio = api_rate / copy_rate
    print(f"(a) Bulk push of {total:,} bills (2 lines each, {accounts:,} accounts made on the way) in batches of "
          f"{batch:,}, {request_bytes / total:.0f} bytes of JSON a bill, against COPY into billing_bill, batch by "
          "batch in turn:")
    print(f"    partner API  {api_s:7.2f} s  {api_rate:9,.0f} bills/s   (HTTP, JSON, key, validation, accounts, "
          "bills, lines)")
    print(f"    COPY bills   {copy_s:7.2f} s  {copy_rate:9,.0f} bills/s")
    print(f"    COPY + lines {copy_lines_s:7.2f} s  {copy_lines_rate:9,.0f} bills/s   (bills, their ids read back, "
          "lines)")
    same_rows = api_rate / copy_lines_rate
    print(f"    API / COPY of the same rows (bills and lines): {same_rows:.2f}   API / COPY of the bill rows alone: "
          f"{ratio:.2f}")
    checks.append((f"(a) push at least {PUSH_TARGET:g} of the rate of COPY writing the same rows ({same_rows:.2f})",
                   same_rows >= PUSH_TARGET))


#
# (b) concurrent payments
#


def _payers(clients: int, per_client: int) -> list[tuple[str, list[int]]]:
    """Each client a citizen holding `per_client` unpaid bills of its own and enough on its one-card."""
    provider, _key = _provider("water")
    accounts_each = 5
    bills_each = per_client // accounts_each + 1
    payers = []
    for c in range(clients):
        user, _new = get_user_model().objects.get_or_create(username=f"bench-payer-{c}")
        numbers = [f"P{c:02d}{a}" for a in range(accounts_each)]
        services.bills_push(provider=provider, items=[
            {"bill_number": f"{number}-{b}", "account_number": number, "holder_name": HOLDER,
             "period": f"{PERIOD.year - b // 12:04d}-{12 - b % 12:02d}", "amount": "12.34",
             "due_date": "2026-12-31", "lines": [{"description": "水费", "amount": "12.34"}]}
            for number in numbers for b in range(bills_each)])
        for number in numbers:
            subscription = services.subscription_apply(citizen=user, provider=provider, account_number=number,
                                                       holder_name=HOLDER, proof_method="code", proof_value="1")
            services.subscription_confirm(actor=None, subscription=subscription)
        card = services.card_ensure(holder=user)
        services.card_opening_balance(card=card, amount=Decimal("100000.00"))
        bills = list(Bill.objects.filter(citizen=user).order_by("pk").values_list("pk", flat=True)[:per_client])
        assert len(bills) == per_client
        payers.append((Token.objects.get_or_create(user=user)[0].key, bills))
    return payers


def _run_clients(port: int, payers, make_request) -> tuple[float, list[float], list]:
    """Each client's requests in its own thread, all started together; (wall s, latencies s, failures)."""
    latencies: list[float] = []
    failures: list = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(payers))

    def client(token: str, work: list) -> None:
        barrier.wait()
        for unit in work:
            status, body, seconds = make_request(token, unit)
            with lock:
                latencies.append(seconds)
                if status not in (200, 201):
                    failures.append((status, body[:200]))

    threads = [threading.Thread(target=client, args=payer) for payer in payers]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, failures


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(q * len(ordered))) - 1)] * 1000


def bench_payments(port: int, count: int, clients: int, checks: list) -> None:
    per_client = count // clients
    payers = _payers(clients, per_client)

    def pay(token: str, bill: int):
        body = json.dumps({"bills": [bill], "method": "card"}).encode()
        return _request(port, "POST", "/api/v1/billing/payments/", body, {
            "Authorization": f"Token {token}", "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4())})

    def me(token: str, _unit):
        return _request(port, "GET", "/api/v1/auth/me/", None, {"Authorization": f"Token {token}"})

    # The trivial endpoint first, under the same 20 clients (and as the workers' warm-up).
    trivial_wall, trivial, trivial_failures = _run_clients(port, [(t, list(range(10))) for t, _b in payers], me)
    assert not trivial_failures, trivial_failures[:3]
    wall, latencies, failures = _run_clients(port, payers, pay)
    succeeded = Payment.objects.filter(status="succeeded", method="card").count()
    paid = Bill.objects.filter(status="paid").count()
    rate = len(latencies) / wall
    median, p95 = statistics.median(latencies) * 1000, _p(latencies, 0.95)
    trivial_median, trivial_p95 = statistics.median(trivial) * 1000, _p(trivial, 0.95)
    print(f"(b) {len(latencies):,} one-card payments of distinct bills by {clients} concurrent clients "
          f"({per_client} each, a fresh connection per request):")
    print(f"    payments     {wall:7.2f} s  {rate:7.1f} payments/s   median {median:6.1f} ms   p95 {p95:6.1f} ms")
    print(f"    trivial GET  {trivial_wall:7.2f} s  {len(trivial) / trivial_wall:7.1f} requests/s   median "
          f"{trivial_median:6.1f} ms   p95 {trivial_p95:6.1f} ms   ({len(trivial)} requests)")
    print(f"    payment / trivial: median {median / trivial_median:.2f}x, p95 {p95 / trivial_p95:.2f}x; "
          f"{succeeded:,} payments succeeded, {paid:,} bills paid, {len(failures)} failed requests")
    checks.append((f"(b) every one of the {count:,} payments succeeded once", not failures and succeeded == count
                   and paid == count))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bills", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--payments", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    _reset()
    log = Path(settings.MEDIA_ROOT) / "gunicorn.log"
    server, url = serve(dict(os.environ), log, workers=args.workers, threads=args.threads)
    port = int(url.rsplit(":", 1)[1])
    checks: list[tuple[str, bool]] = []
    print(f"Over HTTP at {url}: gunicorn, {args.workers} workers x {args.threads} threads, DEBUG off, "
          f"database {connection.settings_dict['NAME']} (emptied first).")
    try:
        bench_push(port, args.bills, args.batch, checks)
        bench_payments(port, args.payments, args.clients, checks)
    finally:
        stop(server)
    print()
    return verdict(checks)


if __name__ == "__main__":
    sys.exit(main())
