"""Benchmark: appointment booking on PostgreSQL.

    (a) 1,000 clients race for 100 slots of capacity 5: each client (its own citizen) books one slot
        (ten clients per slot) through services.booking.services.booking_create, from a pool of worker
        threads each on its own database connection, all released at once by a barrier. Exactly 500
        bookings must stand, no slot above its capacity, and every loser must get SlotFull. Prints
        bookings/s and the p50/p95/max latency of one booking attempt. With --api each attempt is a
        POST /api/v1/booking/bookings/ through DRF instead (token auth, in-process client).
    (b) A department's availability for one week over 10,000 slots (25 resources, 5 services):
        services.booking.selectors.department_availability against hand-written SQL of the same
        aggregate, run interleaved in this process; median ms each. Target: within 2x.

Everything it writes is committed (the race needs real parallel connections) and then deleted
(bench/undo.NewRows). Notices are queued as in production; their delivery, the workers' job, is not
run in the booking threads.

Usage: DATABASE_URL=postgres://... .venv/bin/python bench/booking.py [--clients 1000] [--slots 100]
       [--capacity 5] [--threads 64] [--api] [--week-slots 10000] [--runs 30]
"""

import argparse
import logging
import os
import statistics
import sys
import threading
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "0")  # measure as production runs
os.environ.setdefault("SECRET_KEY", "bench-only-" + os.urandom(24).hex())

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.timing import interleaved_medians, verdict  # noqa: E402
from bench.undo import NewRows  # noqa: E402
from grid.models import GridNode  # noqa: E402
from services.booking.models import (  # noqa: E402
    Booking,
    BookingStatus,
    Department,
    PointKind,
    Resource,
    Service,
    ServicePoint,
    Slot,
)
from services.booking.selectors import department_availability  # noqa: E402
from services.booking.services import SlotFull, booking_create  # noqa: E402

BOOKINGS = "/api/v1/booking/bookings/"

AVAILABILITY_SQL = """
SELECT (s.start AT TIME ZONE %(tz)s)::date AS day, s.service_id,
       count(*) AS slots, coalesce(sum(greatest(s.capacity - s.booked, 0)), 0) AS free
  FROM booking_slot s
  JOIN booking_service v ON v.id = s.service_id
 WHERE v.department_id = %(department)s AND s.start >= %(start)s AND s.start < %(end)s AND NOT s.closed
 GROUP BY 1, 2
 ORDER BY 1, 2
"""


def _node() -> GridNode:
    node = GridNode.objects.order_by("depth", "path").first()
    if node is None:
        raise SystemExit("The grid is empty: run manage.py seed_demo (or migrate and create a node) first.")
    return node


def _point(code: str, node: GridNode) -> ServicePoint:
    return ServicePoint.objects.create(kind=PointKind.HOSPITAL, name=f"bench {code}",
                                       code=f"bench-{code}-{os.getpid()}", node=node)


#
# (a) the race
#


def _citizens(count: int) -> list:
    users = get_user_model()
    password = make_password(None)  # unusable: nobody logs in as these
    tag = f"bench-{os.getpid()}"
    users.objects.bulk_create([users(username=f"{tag}-{i:05d}", password=password, is_staff=False)
                               for i in range(count)], batch_size=1000)
    return list(users.objects.filter(username__startswith=f"{tag}-").order_by("username"))


def _race_slots(node: GridNode, count: int, capacity: int) -> list[Slot]:
    point = _point("race", node)
    service = Service.objects.create(point=point, name="bench race")
    resources = Resource.objects.bulk_create([Resource(point=point, kind="expert", name=f"expert {i}")
                                              for i in range(count)])
    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    Slot.objects.bulk_create([
        Slot(point=point, node_path=point.node_path, resource=resource, service=service, start=start,
             end=start + timedelta(minutes=30), capacity=capacity)
        for resource in resources
    ])
    return list(Slot.objects.filter(service=service).order_by("id"))


def _api_clients(citizens) -> dict:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    Token.objects.bulk_create([Token(user=user, key=Token.generate_key()) for user in citizens])
    keys = dict(Token.objects.filter(user__in=citizens).values_list("user_id", "key"))
    clients = {}
    for user in citizens:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {keys[user.pk]}")
        clients[user.pk] = client
    return clients


def bench_race(clients: int, slot_count: int, capacity: int, threads: int, api: bool) -> list[tuple[str, bool]]:
    node = _node()
    citizens = _citizens(clients)
    slots = _race_slots(node, slot_count, capacity)
    http = _api_clients(citizens) if api else {}
    jobs = [(citizen, slots[i % slot_count]) for i, citizen in enumerate(citizens)]
    latencies: list[float] = []
    outcomes = {"booked": 0, "full": 0, "other": 0}
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    next_job = iter(range(len(jobs)))

    def attempt(citizen, slot) -> str:
        if api:
            response = http[citizen.pk].post(BOOKINGS, {"slot": slot.pk}, format="json", secure=True)
            if response.status_code == 201:
                return "booked"
            if response.status_code == 409 and response.json()["error"]["code"] == "slot_full":
                return "full"
            raise RuntimeError(f"{response.status_code} {response.content[:200]!r}")
        try:
            booking_create(actor=citizen, slot=slot)
        except SlotFull:
            return "full"
        return "booked"

    def worker() -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=120)
            while True:
                with lock:
                    index = next(next_job, None)
                if index is None:
                    return
                started = time.perf_counter()
                try:
                    kind = attempt(*jobs[index])
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    kind = "other"
                    with lock:
                        errors.append(repr(exc))
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    outcomes[kind] += 1
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    # The workers' delivery of the confirmations is not this path's cost (a Celery worker does it).
    with mock.patch("civic.tasks.deliver_notices.delay"), mock.patch("civic.tasks.deliver_notice.delay"):
        started = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        wall = time.perf_counter() - started

    slot_ids = [s.pk for s in slots]
    stored = Booking.objects.filter(slot_id__in=slot_ids, status=BookingStatus.BOOKED).count()
    counters = Slot.objects.filter(pk__in=slot_ids).aggregate(total=Sum("booked"))["total"]
    over = Slot.objects.filter(pk__in=slot_ids, booked__gt=capacity).count()
    per_slot = dict.fromkeys(slot_ids, 0)
    for slot_id in Booking.objects.filter(slot_id__in=slot_ids, status=BookingStatus.BOOKED).values_list("slot_id",
                                                                                                          flat=True):
        per_slot[slot_id] += 1
    asked = dict.fromkeys(slot_ids, 0)
    for _citizen, slot in jobs:
        asked[slot.pk] += 1
    expected = sum(min(n, capacity) for n in asked.values())
    ordered = sorted(latencies)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000
    how = "POST /api/v1/booking/bookings/ (DRF, token)" if api else "services.booking_create"
    print(f"(a) {clients:,} clients racing for {slot_count} slots of capacity {capacity} through {how}, "
          f"{threads} threads on their own connections:")
    print(f"    bookings stored {stored:,} (expected {expected:,}); slot counters sum {counters:,}; "
          f"slots over capacity {over}; refused as full {outcomes['full']:,}; other errors {outcomes['other']}")
    if errors:
        print(f"    first error: {errors[0]}")
    print(f"    wall {wall:.2f} s; {stored / wall:,.0f} bookings/s; {len(latencies) / wall:,.0f} attempts/s")
    print(f"    latency of one attempt: p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {p95:.1f} ms, "
          f"max {ordered[-1] * 1000:.1f} ms")
    return [
        (f"(a) exactly {expected} bookings stored", stored == expected),
        ("(a) no slot over its capacity, counters equal the stored bookings",
         over == 0 and counters == stored and all(n <= capacity for n in per_slot.values())),
        ("(a) every other attempt refused as full, nothing else failed",
         outcomes["full"] == clients - stored and outcomes["other"] == 0),
    ]


#
# (b) a department's week
#


def _week(node: GridNode, total: int) -> tuple[Department, date, date]:
    """A department with 5 services of 5 resources each, `total` slots in one week (Monday to Friday),
    some of them partly booked; and as many slots again in the week after and in another department,
    so the query must pick its week and department out of the table."""
    point = _point("week", node)
    department = Department.objects.create(point=point, name="bench cardiology", code="bench-cardiology")
    other = Department.objects.create(point=point, name="bench other", code="bench-other")
    monday = timezone.localdate() + timedelta(days=7 - timezone.localdate().weekday() + 7)
    tz = timezone.get_current_timezone()
    rows = []
    for dept, first in ((department, monday), (department, monday + timedelta(days=7)), (other, monday)):
        services = [Service.objects.create(point=point, department=dept, name=f"{dept.code} service {i}")
                    for i in range(5)]
        resources = Resource.objects.bulk_create([
            Resource(point=point, department=dept, kind="expert", name=f"{dept.code} expert {i}") for i in range(25)])
        per_resource_day = total // (25 * 5)
        minutes = max(1, (10 * 60) // per_resource_day)
        for r, resource in enumerate(resources):
            service = services[r % 5]
            for day in range(5):
                base = datetime.combine(first + timedelta(days=day), clock(8), tzinfo=tz)
                for n in range(per_resource_day):
                    start = base + timedelta(minutes=n * minutes)
                    booked = (r + n) % 4
                    rows.append(Slot(point=point, node_path=point.node_path, resource=resource, service=service,
                                     start=start, end=start + timedelta(minutes=minutes), capacity=3,
                                     booked=min(booked, 3), closed=(n % 50 == 49)))
    Slot.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE booking_slot")
        cursor.execute("ANALYZE booking_service")
    return department, monday, monday + timedelta(days=6)


def bench_week(total: int, runs: int) -> list[tuple[str, bool]]:
    department, first, last = _week(_node(), total)
    tz = timezone.get_current_timezone()
    params = {"tz": str(tz), "department": department.pk,
              "start": datetime.combine(first, clock(), tzinfo=tz),
              "end": datetime.combine(last + timedelta(days=1), clock(), tzinfo=tz)}

    def ours():
        return department_availability(department=department, first=first, last=last)

    def by_hand():
        with connection.cursor() as cursor:
            cursor.execute(AVAILABILITY_SQL, params)
            return cursor.fetchall()

    mine = [(r["day"], r["service_id"], r["slots"], r["free"]) for r in ours()]
    theirs = [tuple(row) for row in by_hand()]
    in_week = Slot.objects.filter(service__department=department, start__gte=params["start"],
                                  start__lt=params["end"]).count()
    medians = interleaved_medians({"selector": ours, "SQL": by_hand}, runs)
    ratio = medians["selector"] / medians["SQL"]
    print(f"(b) A department's availability for a week ({in_week:,} slots of the department in it; "
          f"{Slot.objects.filter(point=department.point).count():,} at the point), median of {runs} interleaved runs:")
    print(f"    department_availability  {medians['selector']:7.2f} ms  ({len(mine)} rows: day x service)")
    print(f"    hand-written SQL         {medians['SQL']:7.2f} ms")
    print(f"    selector/SQL: {ratio:.2f}")
    return [("(b) the selector and the SQL return the same rows", mine == theirs),
            (f"(b) the department's week holds {total:,} slots", in_week == total),
            (f"(b) selector within 2x of hand-written SQL ({ratio:.2f}x)", ratio <= 2.0)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=100)
    parser.add_argument("--capacity", type=int, default=5)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--api", action="store_true", help="book through POST /api/v1/booking/bookings/")
    parser.add_argument("--week-slots", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("bench/booking.py needs PostgreSQL (DATABASE_URL).")
        return 2
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the 409s of full slots are the point here
    new_rows = NewRows()
    try:
        checks = bench_race(args.clients, args.slots, args.capacity, args.threads, args.api)
        print()
        checks += bench_week(args.week_slots, args.runs)
    finally:
        connections.close_all()
        removed = new_rows.remove()
        print(f"\nremoved what the run wrote: {sum(removed.values()):,} rows in {len(removed)} tables")
    print()
    return verdict(checks)


if __name__ == "__main__":
    sys.exit(main())
