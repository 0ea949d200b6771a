"""Query budgets: how many SQL statements each API endpoint may run, kept in one baseline file
(tests/query_budgets.json) instead of as bare numbers scattered over the tests, as NetBox does.

    def test_list(query_budget, client):
        with query_budget("issues.cases.list"):
            client.get("/api/v1/issues/cases/")

A change that adds a query fails the test that measures it; a change that saves queries is locked in
by running the measuring tests with ``UPDATE_QUERY_BUDGETS=1`` (in one process: ``-n 0``), which
rewrites the file with the counts measured (the highest per name) and fails nothing. Review the diff
of the file like code.
"""

import json
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

__all__ = ["BUDGETS_FILE", "load_budgets", "query_budget_checker"]

BUDGETS_FILE = Path(__file__).resolve().parent.parent / "query_budgets.json"
UPDATE = os.environ.get("UPDATE_QUERY_BUDGETS") == "1"


def load_budgets() -> dict[str, int]:
    return json.loads(BUDGETS_FILE.read_text())


def _savepoint(sql: str) -> bool:
    return sql.startswith(("SAVEPOINT ", "RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT "))


class query_budget_checker:  # noqa: N801 - used as the fixture's callable
    """``check(name, extra=0)``: a context manager that fails when the block runs more queries than the
    budget ``name`` (plus ``extra``, for a variant that is known to cost more)."""

    measured: dict[str, int] = {}

    def __init__(self):
        self.budgets = load_budgets()

    @contextmanager
    def __call__(self, name: str, extra: int = 0):
        if name not in self.budgets and not UPDATE:
            pytest.fail(f"No query budget named {name!r} in {BUDGETS_FILE.name}: add it.")
        with CaptureQueriesContext(connection) as queries:
            yield queries
        # The test's own transaction turns the code's transactions into savepoints: not statements the
        # code runs in production, where they are BEGIN and COMMIT.
        count = sum(not _savepoint(q["sql"]) for q in queries.captured_queries) - extra
        if UPDATE:
            query_budget_checker.measured[name] = max(count, query_budget_checker.measured.get(name, 0))
            return
        budget = self.budgets[name]
        if count > budget:
            statements = "\n".join(f"{i}. {q['sql']}" for i, q in enumerate(queries.captured_queries, 1))
            pytest.fail(f"{name}: {count} queries, budget {budget} (+{extra}) in {BUDGETS_FILE.name}:\n{statements}")

    @classmethod
    def write_measured(cls) -> None:
        if UPDATE and cls.measured:
            budgets = {**load_budgets(), **cls.measured}
            BUDGETS_FILE.write_text(json.dumps(dict(sorted(budgets.items())), indent=2) + "\n")
