"""The command centre in a desktop browser, in both languages: a street officer and the district
commander see their own numbers (the street's fewer), the charts draw the tables beside them, the map
draws its cases over the grid map, and axe-core finds no WCAG 2.1 A/AA violation."""

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.browser.conftest import LOCALES, check_accessibility
from tests.browser.helpers import LANGUAGES, Words
from tests.centre.conftest import build_spread
from tests.issues.conftest import categories  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def spread(city, categories):  # noqa: F811
    return build_spread(city, categories)


@pytest.fixture
def desktop(browser, live_server):
    """A desktop-sized page logged in as a user: ``desktop(user, language)``."""
    contexts = []

    def open_page(user, language: str):
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport=DESKTOP, locale=LOCALES[language], timezone_id=settings.TIME_ZONE,
                                      base_url=live_server.url)
        context.set_default_timeout(15_000)
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[
            settings.SESSION_COOKIE_NAME].value, "url": live_server.url}])
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def _reported(page, words: Words) -> int:
    figures = page.locator("#table-figures")
    row = figures.get_by_role("row").filter(has=page.get_by_role("rowheader", name=words("Cases reported"),
                                                                 exact=True))
    return int(row.get_by_role("cell").first.inner_text())


@pytest.mark.parametrize("language", LANGUAGES)
def test_street_and_district_see_their_own_numbers(desktop, city, spread, language):
    words = Words(language)
    seen = {}
    for username in ("street", "district"):
        page = desktop(city.users[username], language)
        page.goto("/admin/centre/")
        expect(page.get_by_role("heading", name=words("Command centre"), level=1)).to_be_visible()
        # Every chart is drawn (Chart.js sizes its canvas) from the table beside it.
        canvases = page.locator("canvas[data-chart]")
        expect(canvases.first).to_have_attribute("style", re.compile("height"))
        seen[username] = _reported(page, words)
        check_accessibility(page, context=f"dashboard of {username} ({language})")
        if username == "district":
            page.get_by_role("link", name=city.nodes["A"].name, exact=True).first.click()
            expect(page.get_by_label(words("Area"), exact=True)).to_have_value(str(city.nodes["A"].pk))
            assert _reported(page, words) == seen["street"]
            page.goto("/admin/centre/map/")
            expect(page.locator(".leaflet-interactive").first).to_be_attached()  # the grid map's outlines
            check_accessibility(page, context=f"map ({language})")
    assert seen["district"] == len(spread)
    assert 0 < seen["street"] < seen["district"]
