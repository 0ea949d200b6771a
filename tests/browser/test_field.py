"""The field app on a 360 px phone: report with a photo and a GPS fix, lose the signal, report again
(handled on the spot), get the signal back and find each case once; record a patrol visit and see
the household move down the patrol list; a refused report stays on the phone until discarded; a
report whose answer was lost is sent again and stored once; every page passes axe-core in Chinese
and English."""

import re
from functools import cache
from io import BytesIO

import pytest
from django.utils import translation
from PIL import Image
from playwright.sync_api import expect
from rest_framework.relations import PrimaryKeyRelatedField

from grid import services as grid_services
from grid.models import Household, Place, PlaceKind, Visit, VisitOutcome
from grid.selectors import grid_centre
from issues.models import Case, CasePhoto, Status
from tests.browser.conftest import check_accessibility
from tests.factories import PASSWORD
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import drive, point_in, report

pytestmark = pytest.mark.django_db(transaction=True)

API = "**/api/v1/issues/cases/"
REFERENCE = re.compile(r"^XC-\d{4}-\d{6}$")


@cache
def _jpeg(size) -> bytes:
    buffer = BytesIO()
    Image.merge("RGB", [Image.linear_gradient("L").resize(size)] * 3).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def camera_photo(name: str = "IMG_0001.jpg", size=(2400, 1800)) -> dict:
    """A photo larger than the app uploads: the phone must downscale it to 1600 px on the long side."""
    return {"name": name, "mimeType": "image/jpeg", "buffer": _jpeg(size)}


def phone(new_page, city, language="zh-hans", grid="A1g1"):
    lat, lon = point_in(city.nodes[grid])
    return new_page(language, geolocation={"latitude": lat, "longitude": lon, "accuracy": 12},
                    permissions=["geolocation"])


def log_in(page, username="worker", *, check=False):
    page.goto("/field/login/")
    if check:
        check_accessibility(page, context="login")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url("**/field/")


def text(page, name: str) -> str:
    """A translated message of field.js, as the page carries it."""
    return page.locator("#texts").get_attribute(f"data-{name}")


def fill_report(page, category, description: str) -> None:
    expect(page.locator("#fix")).to_have_class("fix ok")
    page.select_option("#id_category", str(category.pk))
    page.set_input_files("#id_photos", camera_photo())
    expect(page.locator("#id_photos ~ .thumbs img")).to_have_count(1)
    page.fill("#id_description", description)


def submit(page) -> None:
    page.locator("#report-form button[type=submit]").click()


def fits_the_phone(page, control) -> None:
    """The control is one a thumb can hit (field.css: 56 px), and nothing scrolls sideways."""
    assert control.bounding_box()["height"] >= 56  # also waits for the page that holds it
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_report_online_and_offline_each_stored_once_and_handled_on_the_spot(new_page, city, categories):  # noqa: F811
    page = phone(new_page, city)
    log_in(page, check=True)
    check_accessibility(page, context="home zh-hans")
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)").endswith("/field/")

    page.goto("/field/report/")
    expect(page.locator("#fix")).to_contain_text(city.nodes["A1g1"].name)
    check_accessibility(page, context="report zh-hans")
    fill_report(page, categories["sanitation"], "小区门口垃圾堆积")
    submit(page)
    expect(page.locator("#status a")).to_have_text(REFERENCE)
    first = Case.objects.get()
    expect(page.locator("#status a")).to_have_text(first.reference)
    photo = CasePhoto.objects.get(case=first)
    assert (photo.width, photo.height) == (1600, 1200)  # downscaled on the phone
    assert first.grid == city.nodes["A1g1"] and first.reporter == city.users["worker"]

    page.context.set_offline(True)
    expect(page.locator("#offline")).to_be_visible()
    fill_report(page, categories["city-management"], "路灯杆倾斜，已联系物业扶正")
    page.check("#id_resolve_on_spot")
    page.fill("#id_resolution", "已扶正并加固")
    page.set_input_files("#id_after_photos", camera_photo("after.jpg", (1200, 1600)))
    expect(page.locator("#id_after_photos ~ .thumbs img")).to_have_count(1)
    submit(page)
    expect(page.locator("#queue-list li.waiting")).to_have_count(1)
    expect(page.locator("#status")).to_have_text(text(page, "queued"))
    check_accessibility(page, context="report with a queued report")
    assert Case.objects.count() == 1

    page.goto("/field/")  # without signal: the service worker's copy, the queue read from the phone
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#queue-list li.waiting")).to_contain_text("路灯杆倾斜")
    page.context.set_offline(False)
    expect(page.locator("#queue")).to_be_hidden()
    second = Case.objects.exclude(pk=first.pk).get()
    expect(page.locator("#status")).to_contain_text(second.reference)
    assert second.status == Status.RESOLVED and second.events.filter(action="resolve").exists()
    assert second.photos.filter(kind=CasePhoto.KIND_AFTER).count() == 1
    assert first.client_key != second.client_key

    page.reload()
    rows = page.locator(".cases .case")
    expect(rows).to_have_count(2)
    for case in (first, second):
        expect(page.locator(".cases .case", has_text=case.reference)).to_have_count(1)
    assert Case.objects.count() == 2

    page.locator(".cases .case", has_text=second.reference).click()
    expect(page.locator("h1")).to_contain_text(second.reference)
    expect(page.locator(".timeline .photos img")).to_have_count(2)
    check_accessibility(page, context="case zh-hans")

    # The patrol tab: the never-visited household leads; once visited, it goes below the shop.
    household = Household.objects.get(grid=city.nodes["A1g1"])
    grid_services.record_save(actor=city.admin, instance=Place(grid=city.nodes["A1g1"], kind=PlaceKind.BUSINESS,
                                                               name="便民超市"))
    page.locator(".tabs a[href='/field/patrol/']").click()
    stops = page.locator(".stops .stop")
    expect(stops).to_have_count(2)
    expect(stops.nth(0)).to_contain_text(household.address)
    expect(stops.nth(1)).to_contain_text("便民超市")
    fits_the_phone(page, stops.nth(0).locator("a.button"))
    check_accessibility(page, context="patrol zh-hans")
    stops.nth(0).locator("a.button").click()
    with translation.override("zh-hans"):
        nobody_home = str(VisitOutcome.NOBODY_HOME.label)
    fits_the_phone(page, page.locator("label.choice").first)
    check_accessibility(page, context="visit zh-hans")
    page.get_by_label(nobody_home).check()
    page.fill("#id_note", "敲门无人应答，已留联系卡")
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url("**/field/patrol/")
    expect(page.locator(".messages")).to_contain_text(household.address)
    expect(stops.nth(0)).to_contain_text("便民超市")
    expect(stops.nth(1)).to_contain_text(household.address)
    expect(stops.nth(1)).to_contain_text(nobody_home)
    visit = Visit.objects.get()
    assert (visit.household, visit.visitor, visit.note) == (household, city.users["worker"], "敲门无人应答，已留联系卡")

    # Without signal the kept patrol page opens, without the one-time "visit recorded" message.
    page.context.set_offline(True)
    page.goto("/field/patrol/")
    expect(page.locator("#offline")).to_be_visible()
    expect(stops).to_have_count(2)
    expect(page.locator(".messages")).to_have_count(0)
    page.context.set_offline(False)


def test_a_fix_outside_my_grids_is_not_sent_the_report_goes_to_my_grids_centre(new_page, city, categories):  # noqa: F811
    """The worker stands in the next grid: the server refuses a point outside the grid a report names, so
    the phone keeps the fix out of the report and asks for the address, as without a fix."""
    page = phone(new_page, city, "en", grid="A1g2")
    log_in(page)
    page.goto("/field/report/")
    expect(page.locator("#fix")).to_have_text(text(page, "outside").replace("{accuracy}", "12"))
    page.select_option("#id_category", str(categories["sanitation"].pk))
    page.fill("#id_description", "Rubbish at the gate")
    submit(page)
    expect(page.locator("#id_address_error")).to_have_text(text(page, "give-address"))
    assert Case.objects.count() == 0
    page.fill("#id_address", "Xinghuo Lane 3")
    submit(page)
    expect(page.locator("#status a")).to_have_text(REFERENCE)
    case = Case.objects.get()
    grid = city.nodes["A1g1"]
    assert case.grid == grid and (case.lat, case.lon) == grid_centre(grid) and case.address == "Xinghuo Lane 3"


def test_a_refused_report_stays_until_discarded_and_a_lost_answer_stores_once(new_page, city, categories):  # noqa: F811
    page = phone(new_page, city, "en")
    log_in(page)
    page.goto("/field/report/")

    # The server stores the report but its answer never reaches the phone: the report stays queued.
    lost = {"answers": 0}

    def lose_first_answer(route):
        if lost["answers"] == 0:
            lost["answers"] += 1
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(API, lose_first_answer)
    fill_report(page, categories["sanitation"], "Rubbish piled up at the gate")
    submit(page)
    expect(page.locator("#status")).to_have_text(text(page, "queued"))
    expect(page.locator("#queue-list li.waiting")).to_have_count(1)
    case = Case.objects.get()
    page.locator("#queue-list button").click()
    expect(page.locator("#queue")).to_be_hidden()
    expect(page.locator("#status")).to_have_text(text(page, "replayed").replace("{reference}", case.reference))
    assert Case.objects.count() == 1

    # Without signal the category is withdrawn: the server refuses the report, the phone keeps it.
    page.context.set_offline(True)
    fill_report(page, categories["city-management"], "Street light out")
    submit(page)
    expect(page.locator("#queue-list li.waiting")).to_have_count(1)
    categories["city-management"].is_active = False
    categories["city-management"].save()
    page.context.set_offline(False)
    with translation.override("en"):
        refusal = str(PrimaryKeyRelatedField.default_error_messages["does_not_exist"]).format(
            pk_value=categories["city-management"].pk)
    expect(page.locator("#queue-list li.failed .state")).to_have_text(text(page, "refused").format(message=refusal))
    check_accessibility(page, context="report with a refused report")
    assert Case.objects.count() == 1
    page.locator("#queue-list li.failed button").click()
    expect(page.locator("#queue")).to_be_hidden()
    assert page.evaluate("""new Promise(done => {
        const open = indexedDB.open("civic-field");
        open.onsuccess = () => {
            const get = open.result.transaction("reports").objectStore("reports").count();
            get.onsuccess = () => done(get.result);
        };
    })""") == 0


def test_pages_pass_axe_in_english_and_a_citizen_gets_a_clear_refusal_in_either_language(new_page, city, categories):  # noqa: F811
    director = city.users["director"]
    case = drive(report(city, categories["city-management"], description="Broken bench"), director,
                 "accept", ("dispatch", {"level": 4}), "start", ("resolve", {"comment": "Repaired"}))
    page = phone(new_page, city, "en")
    log_in(page, check=True)
    check_accessibility(page, context="home en")
    page.goto("/field/report/")
    expect(page.locator("#fix")).to_have_class("fix ok")
    check_accessibility(page, context="report en")
    page.goto(f"/field/cases/{case.pk}/")
    expect(page.locator(".action h2")).to_have_count(3)  # verify, dispute, note
    check_accessibility(page, context="case en")
    page.locator(".action", has=page.locator("input[value=verify]")).locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_be_visible()
    case.refresh_from_db()
    assert case.status == Status.VERIFIED
    page.goto("/field/patrol/")
    check_accessibility(page, context="patrol en")
    page.locator(".stops .stop a.button").first.click()
    page.locator("form.stack button[type=submit]").click()  # no outcome picked
    expect(page.locator("fieldset.choices [role=alert]")).to_be_visible()
    check_accessibility(page, context="visit with an error en")
    assert not Visit.objects.exists()

    citizen = new_page("zh-hans")
    citizen.goto("/field/login/")
    citizen.fill("#id_username", "citizen")
    citizen.fill("#id_password", PASSWORD)
    citizen.locator("main button[type=submit]").click()
    expect(citizen.locator("h1")).to_have_text("此账号无权使用")
    check_accessibility(citizen, context="403 zh-hans")
    citizen.select_option("#language", "en")
    citizen.locator(".language button").click()
    expect(citizen.locator("h1")).to_have_text("Not for this account")
    check_accessibility(citizen, context="403 en")
