"""Open311 needs a city (tests.factories.CityBuilder) and the case tests' categories."""

from tests.issues.conftest import categories  # noqa: F401 - the case tests' categories, as a fixture here
