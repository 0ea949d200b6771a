"""The API against its own OpenAPI schema: schemathesis generates requests for every operation in
/api/schema/ (a few examples each, so that CI runs it in seconds) and no answer may be a 5xx.

The requests go through the WSGI application in-process, on the test's database, as the superuser
(the widest paths through the code) with a small city, a case and a partner's webhook to find."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from issues import services as case_services
from tests.issues.conftest import categories  # noqa: F401 - a fixture: the case tests' categories
from tests.issues.helpers import point_in

MAX_EXAMPLES = 3


@pytest.fixture
def keep_test_connection():
    """Django's own test client keeps the test's connection open across requests this way: a plain WSGI
    call would close it when the request finishes (it is inside the test's transaction)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(city, categories, keep_test_connection):  # noqa: F811 - the fixture imported above
    from config.wsgi import application

    lat, lon = point_in(city.nodes["A1g1"])
    case_services.case_report(actor=city.users["worker"], category=categories["city-management"],
                              description="路灯不亮", lat=lat, lon=lon)
    # Generated examples only (the fuzzing phase): the coverage phase's exhaustive boundary cases take
    # minutes over ~60 operations, too long for every CI run.
    config = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}},
                                            "generation": {"max-examples": MAX_EXAMPLES}})
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def token(city):
    return Token.objects.create(user=city.users["admin"]).key


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error])
