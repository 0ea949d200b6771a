"""Instruments the benchmarks share: SQL statements timed where the driver runs them, traffic to the
broker counted at its clients, and plans summarised from EXPLAIN (ANALYZE, BUFFERS).

Django must be set up before this module is imported.
"""

import json
import statistics
import time
from dataclasses import dataclass, field
from unittest import mock

from django.db import connection

__all__ = ["BrokerTraffic", "Plan", "Statements", "explain", "purge_broker", "run_on_commit_now"]


class Statements:
    """While open: every statement run on the default connection, its count and the seconds spent
    inside the driver's execute (connection.execute_wrapper), with the SQL when `keep` is set."""

    def __init__(self, *, keep: bool = False):
        self.keep = keep
        self.count = 0
        self.seconds = 0.0
        self.executed: list[tuple[str, object, float]] = []  # (sql, params, seconds)

    def _wrap(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - start
            self.count += 1
            self.seconds += elapsed
            if self.keep:
                self.executed.append((sql, params, elapsed))

    def __enter__(self):
        self._wrapper = connection.execute_wrapper(self._wrap)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc):
        return self._wrapper.__exit__(*exc)

    def kinds(self) -> str:
        """The statements by kind and table, e.g. "2 SELECT issues_case, 1 INSERT civic_notice"."""
        counted: dict[str, int] = {}
        for sql, _params, _seconds in self.executed:
            counted[_kind(sql)] = counted.get(_kind(sql), 0) + 1
        return ", ".join(f"{n} {kind}" for kind, n in counted.items())


def _kind(sql: str) -> str:
    words = sql.replace('"', "").split()
    if not words:
        return "?"
    verb, upper = words[0].upper(), [w.upper() for w in words]
    if verb == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    keyword = {"SELECT": "FROM", "INSERT": "INTO", "DELETE": "FROM"}.get(verb)
    if keyword in upper:
        table = words[upper.index(keyword) + 1] if upper.index(keyword) + 1 < len(words) else "("
        if not table.startswith("("):
            return f"{verb} {table}"
    return verb


class BrokerTraffic:
    """While open: the messages published to the broker (kombu's Producer.publish, what Celery's
    apply_async ends in) and the commands sent to Redis (each one a round trip: pipelines send once),
    with the seconds spent in publishing."""

    def __init__(self):
        self.messages = 0
        self.redis_commands = 0
        self.publish_seconds = 0.0

    def __enter__(self):
        from kombu.messaging import Producer
        from redis.connection import AbstractConnection

        publish, send = Producer.publish, AbstractConnection.send_packed_command

        def counted_publish(producer, *args, **kwargs):
            start = time.perf_counter()
            try:
                return publish(producer, *args, **kwargs)
            finally:
                self.messages += 1
                self.publish_seconds += time.perf_counter() - start

        def counted_send(conn, *args, **kwargs):
            self.redis_commands += 1
            return send(conn, *args, **kwargs)

        self._patches = [mock.patch.object(Producer, "publish", counted_publish),
                         mock.patch.object(AbstractConnection, "send_packed_command", counted_send)]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc):
        for patch in reversed(self._patches):
            patch.stop()
        return False


def run_on_commit_now() -> int:
    """Run the callbacks queued for the current transaction's commit, as the commit would, and drop
    them: a measurement that is rolled back still pays for what happens after a real commit (handing
    notices to the broker). Returns how many ran."""
    callbacks, connection.run_on_commit = connection.run_on_commit, []
    for _savepoints, callback, _robust in callbacks:
        callback()
    return len(callbacks)


def purge_broker() -> int:
    """Drop the messages waiting in the broker's queues (no worker runs during a benchmark)."""
    from config.celery import app

    return app.control.purge() or 0


@dataclass
class Plan:
    """What EXPLAIN (ANALYZE, BUFFERS) says of one statement, the time the median of a few runs."""

    planning_ms: float
    execution_ms: float
    returned: int
    read: int  # rows the scans of the table read: those they returned plus those their filters dropped
    buffers: int  # shared buffers hit or read
    scans: list[str] = field(default_factory=list)

    @property
    def db_ms(self) -> float:
        return self.planning_ms + self.execution_ms


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def explain(sql: str, params, *, table: str, runs: int = 5) -> Plan:
    """EXPLAIN (ANALYZE, BUFFERS) of `sql` `runs` times (caches warm as a busy server's are); the
    rows the scans of `table` read and the buffers come from the last run."""
    timings = []
    with connection.cursor() as cursor:
        for _ in range(runs):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
            plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
            timings.append((plan["Planning Time"], plan["Execution Time"]))
    top = plan["Plan"]
    read, scans = 0, []
    for node in _nodes(top):
        if node.get("Relation Name") == table:
            loops = node.get("Actual Loops", 1)
            dropped = node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
            read += (node.get("Actual Rows", 0) + dropped) * loops
            scans.append(f"{node['Node Type']}" + (f" using {node['Index Name']}" if "Index Name" in node else ""))
    return Plan(
        planning_ms=statistics.median(t[0] for t in timings), execution_ms=statistics.median(t[1] for t in timings),
        returned=top.get("Actual Rows", 0), read=read,
        buffers=top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0), scans=scans,
    )
