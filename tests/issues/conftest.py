"""Cases need a city (tests.factories.CityBuilder) and categories routed like the demo's."""

from datetime import timedelta

import pytest

from grid.models import Level
from issues.models import Category, Priority


@pytest.fixture
def categories(city):
    return make_categories(city)


def make_categories(city) -> dict[str, Category]:
    city_management = Category.objects.create(
        code="city-management", name="城市管理", name_en="City management", first_level=Level.COMMUNITY,
        accept_within=timedelta(hours=2), resolve_within=timedelta(hours=8),
    )
    sanitation = Category.objects.create(
        parent=city_management, code="sanitation", name="市容环卫维护", name_en="Street cleanliness and sanitation",
        first_level=Level.COMMUNITY, department=city.department, accept_within=timedelta(hours=2),
        resolve_within=timedelta(hours=8), default_priority=Priority.NORMAL,
    )
    dispute = Category.objects.create(
        code="neighbour-dispute", name="邻里纠纷", name_en="Neighbour dispute", first_level=Level.COMMUNITY,
        accept_within=timedelta(hours=4), resolve_within=timedelta(days=1), sensitive=True,
    )
    return {"city-management": city_management, "sanitation": sanitation, "dispute": dispute}
