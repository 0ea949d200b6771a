"""Run one function in many threads at the same instant, each on its own database connection.

A race test proves a guarantee the database gives (a unique index, a row lock, a conditional
update), so it needs real parallel connections: PostgreSQL (the ``postgres`` fixture) and
``@pytest.mark.django_db(transaction=True)``, because rows made inside the test's own transaction
would be invisible to the other connections.

    outcome = race(lambda i: services.case_report(...), threads=6)
    assert outcome.errors == [] and len(outcome.results) == 6

Each thread first runs ``prepare(index)`` if given (loading what it needs, so that the loading does
not spread the threads apart), waits at a barrier until all are ready, then calls ``func(index)``
(``func(index, prepared)`` with a ``prepare``). What it returns goes to ``results``, what it raises
to ``errors`` (in completion order). Every thread closes its own connections when done, so the
test database can be dropped afterwards.
"""

import threading
from dataclasses import dataclass, field

from django.db import connections

__all__ = ["RaceOutcome", "race"]


@dataclass
class RaceOutcome:
    results: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def raised(self, exc_type: type[BaseException]) -> list:
        return [exc for exc in self.errors if isinstance(exc, exc_type)]

    def unexpected(self, *expected: type[BaseException]) -> list:
        return [exc for exc in self.errors if not isinstance(exc, expected)]


def race(func, threads: int, *, prepare=None, timeout: float = 60) -> RaceOutcome:
    outcome = RaceOutcome()
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def run(index: int) -> None:
        try:
            args = (index,) if prepare is None else (index, prepare(index))
            barrier.wait(timeout=timeout)
            result = func(*args)
            with lock:
                outcome.results.append(result)
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which decides what was expected
            with lock:
                outcome.errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    hung = sum(worker.is_alive() for worker in workers)
    if hung:
        raise AssertionError(f"{hung} of {threads} racing threads did not finish within {timeout} s")
    return outcome
