"""Duplicate suggestions in the browser: while a citizen (portal) or a grid worker (field app) reports,
the open cases of the same category near the location appear as they fill in the category and the
location, each linked to its page, so the problem is followed instead of filed twice; photos on the
pages come through the access-checked photo view."""

import pytest
from playwright.sync_api import expect

from issues.models import Case
from tests.browser.conftest import check_accessibility
from tests.browser.helpers import LANGUAGES, Words, log_in
from tests.browser.test_field import log_in as field_log_in
from tests.factories import PASSWORD
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import jpeg_upload, point_in, report

pytestmark = pytest.mark.django_db(transaction=True)

CITIZEN_PHONE = "13900000002"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_portal_offers_the_open_case_nearby_before_reporting(city, categories, new_page, language):  # noqa: F811
    words = Words(language)
    citizen = city.users["citizen"]
    citizen.phone = CITIZEN_PHONE
    citizen.save()
    plain = categories["city-management"]
    existing = report(city, plain, actor=city.users["worker"], photos=[jpeg_upload()])  # at A1g1's middle
    report(city, categories["dispute"], actor=city.users["worker"])  # another category: not offered
    here = point_in(city.nodes["A1g1"])
    page = new_page(language, geolocation={"latitude": here[0], "longitude": here[1] + 0.001},  # 84 m east
                    permissions=["geolocation"])
    log_in(page, words, CITIZEN_PHONE, PASSWORD)

    page.goto("/cases/report/")
    look = page.get_by_role("button", name=words("Look for the same problem nearby"), exact=True)
    expect(look).to_be_hidden()  # with JavaScript the list comes by itself
    page.get_by_label(words("What kind of problem?")).select_option(
        label=plain.name if language == "zh-hans" else plain.name_en)
    page.get_by_role("button", name=words("Use my location"), exact=True).click()
    offered = page.locator("#duplicates")
    expect(offered.get_by_role("heading", name=words("Already reported nearby?"))).to_be_visible()
    expect(offered.get_by_role("listitem")).to_have_count(1)
    away = words("%(distance)s away") % {"distance": words("%(metres)s m") % {"metres": "80"}}
    expect(offered.get_by_role("listitem")).to_contain_text(away)
    check_accessibility(page, context=f"report with a possible duplicate, {language}")

    offered.get_by_role("link", name=existing.reference).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(existing.reference)
    photo = existing.photos.get()
    image = page.locator(f'img[src="{photo.display_url}"]')
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == photo.display.width
    assert Case.objects.count() == 2  # nothing filed


def test_the_field_app_offers_the_open_case_near_the_fix(new_page, city, categories):  # noqa: F811
    plain = categories["city-management"]
    existing = report(city, plain, actor=city.users["citizen"], description="路灯不亮")  # public, in A1g1
    lat, lon = point_in(city.nodes["A1g1"])
    page = new_page("en", geolocation={"latitude": lat, "longitude": lon, "accuracy": 12},
                    permissions=["geolocation"])
    field_log_in(page)
    page.goto("/field/report/")
    expect(page.locator("#fix")).to_have_class("fix ok")
    offered = page.locator("#duplicates")
    expect(offered).to_be_hidden()  # no category yet
    page.select_option("#id_category", str(plain.pk))
    expect(offered).to_be_visible()
    row = offered.get_by_role("listitem")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("路灯不亮")
    expect(row).to_contain_text("0 m away")
    check_accessibility(page, context="field report with a possible duplicate")
    page.select_option("#id_category", str(categories["dispute"].pk))
    expect(offered).to_be_hidden()  # nothing of that kind near
    page.select_option("#id_category", str(plain.pk))
    offered.get_by_role("link", name=existing.reference).click()
    page.wait_for_url(f"**/field/cases/{existing.pk}/")
    assert Case.objects.count() == 1
