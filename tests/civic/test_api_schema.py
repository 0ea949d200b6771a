"""The OpenAPI schema as a whole: every operation documents the errors it may answer in the one error
shape, and both ways in (a user's token or session, a partner's key where keys are accepted)."""

import pytest

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(client, db):
    return client.get("/api/schema/?format=json").json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_every_operation_documents_its_errors_in_the_error_shape(schema):
    for path, method, operation in _operations(schema):
        expected = {"401", "403", "404", "429"}
        if method != "get":
            expected |= {"400", "409"}
        if method in ("put", "patch"):
            expected |= {"412"}
        documented = set(operation["responses"])
        assert expected <= documented, (method, path, expected - documented)
        for code in expected:
            ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error", (method, path, code)


# Endpoints anyone may call: signing in, and the grid's outlines every public map draws.
PUBLIC = {"/api/v1/auth/token/", "/api/v1/grid/boundaries/"}


def test_both_authentications_are_documented_where_they_apply(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"]["type"] == "apiKey" and schemes["apiKeyAuth"]["in"] == "header"
    keyed = set()
    for path, method, operation in _operations(schema):
        names = {name for requirement in operation.get("security", []) for name in requirement}
        if path in PUBLIC:
            continue
        assert "tokenAuth" in names or path.startswith("/api/v1/partners/"), (method, path)
        if "apiKeyAuth" in names:
            keyed.add(path)
    # Keys reach the cases, the categories and the partners' own endpoints; never the grid's.
    assert "/api/v1/issues/cases/" in keyed and "/api/v1/partners/webhooks/" in keyed
    assert not {path for path in keyed if path.startswith("/api/v1/grid/")}


def test_every_api_endpoint_is_in_the_schema(schema):
    """Walk the URL patterns under /api/v1/: each view (but the routers' index pages) is documented."""
    import re

    from django.urls import get_resolver
    from rest_framework.routers import APIRootView

    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in schema["paths"]}
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, route)
            elif route.startswith("api/v1/") and "format" not in route:
                view = getattr(pattern.callback, "cls", None)
                if view is None or not issubclass(view, APIRootView):
                    found.append("/" + re.sub(r"\(\?P<[^>]+>[^)]*\)|<[^>]+>", "{}", route))

    walk(get_resolver().url_patterns)
    assert "/api/v1/partners/webhooks/{}/deliveries/" in found
    assert sorted(set(found) - documented) == []
