"""A citizen's whole journey in a phone browser, in each language: sign up with a code, report a
problem with a photo and a tap on the map, follow it while staff accept and resolve it in the admin,
read the notice, and dispute the resolution."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from issues.models import Case, Status
from tests.browser.helpers import LANGUAGES, NEW_PASSWORD, Words, photo, sent_code
from tests.factories import PASSWORD
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import point_in

pytestmark = pytest.mark.django_db(transaction=True)

SIGNUP = {"zh-hans": {"phone": "13800138000"}, "en": {"email": "new.citizen@example.cn"}}
DATE_FORMATS = {"zh-hans": r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", "en": r"[A-Z][a-z]{2,3}\.? \d{1,2}, \d{4}, "}


def sign_up(page, words: Words, language: str):
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    page.get_by_role("link", name=words("Sign up")).click()
    address = SIGNUP[language]
    if "phone" in address:
        page.get_by_label(words("Mobile phone number")).fill(address["phone"])
    else:
        page.get_by_label(words("E-mail address")).fill(address["email"])
    page.get_by_label(words("Password"), exact=True).fill(NEW_PASSWORD)
    page.get_by_label(words("Password again")).fill(NEW_PASSWORD)
    page.get_by_role("main").get_by_role("button", name=words("Sign up"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words("Enter your code"))
    page.get_by_label(words("Verification code")).fill(sent_code(**address))
    page.get_by_role("button", name=words("Verify"), exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(words("Your account is verified. Welcome!"))


def report_with_photo_and_map_tap(page, words: Words, category_name: str, near: tuple[float, float]) -> tuple:
    """Locate the phone (the context's geolocation), then tap the map a little away from there:
    the tap, not the device, sets the location sent. Returns the (lat, lon) sent."""
    page.get_by_role("navigation").get_by_role("link", name=words("Report a problem")).click()
    page.get_by_label(words("What kind of problem?")).select_option(label=category_name)
    page.get_by_role("button", name=words("Use my location"), exact=True).click()
    expect(page.locator("#location-status")).to_have_text(words("Location filled in from your device."))
    latitude, longitude = page.get_by_label(words("Latitude")), page.get_by_label(words("Longitude"))
    expect(latitude).to_have_value(f"{near[0]:.6f}")
    the_map = page.get_by_role("region", name=words("Map: tap where the problem is"))
    expect(the_map.get_by_role("button", name=words("Zoom in"), exact=True)).to_be_visible()
    box = the_map.bounding_box()
    the_map.tap(position={"x": box["width"] / 2 + 60, "y": box["height"] / 2 + 40})
    expect(latitude).not_to_have_value(f"{near[0]:.6f}")
    expect(longitude).not_to_have_value(f"{near[1]:.6f}")
    tapped = (Decimal(latitude.input_value()), Decimal(longitude.input_value()))
    assert tapped[0] < Decimal(str(near[0])) and tapped[1] > Decimal(str(near[1]))  # below and right of the centre
    page.get_by_label(words("Address or landmark")).fill("星火巷 12 号门口")
    page.get_by_label(words("Photos")).set_input_files(photo())
    page.get_by_label(words("Describe the problem")).fill("路灯不亮已经三天了")
    page.get_by_role("button", name=words("Send the report"), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(words("Thank you: your report was received"))
    return tapped


def staff_done(page, words: Words, reference: str, transition: str) -> None:
    """The admin's success message for one case (its refusals name the case too)."""
    done = words("%(action)s: %(references)s.") % {"action": words(transition).capitalize(), "references": reference}
    expect(page.get_by_text(done, exact=True)).to_be_visible()


def staff_run_action(page, words: Words, reference: str, action: str) -> None:
    """On the admin's case list: find the case, tick it, run the action."""
    page.get_by_role("search").get_by_role("textbox").fill(reference)
    page.get_by_role("search").get_by_role("textbox").press("Enter")
    page.get_by_role("checkbox", name=words("Select this object for an action - {}").format(reference)).check()
    page.get_by_label(words("Action:")).select_option(label=words(action))
    page.get_by_role("button", name=words("Go"), exact=True).click()


def staff_accepts_and_resolves(page, words: Words, reference: str) -> None:
    page.goto("/admin/issues/case/")
    page.get_by_label(words.cap("username")).fill("director")
    page.get_by_label(words("Password")).fill(PASSWORD)
    page.get_by_role("button", name=words("Log in"), exact=True).click()
    staff_run_action(page, words, reference, "Accept the selected cases")
    staff_done(page, words, reference, "accept")
    staff_run_action(page, words, reference, "Resolve the selected cases")
    # The intermediate page asks for the comment resolving needs.
    page.get_by_label(words.cap("comment")).fill("灯泡已更换 / bulb replaced")
    page.get_by_role("button", name=words.cap("resolve"), exact=True).click()
    staff_done(page, words, reference, "resolve")


@pytest.mark.parametrize("language", LANGUAGES)
def test_sign_up_report_staff_resolve_notice_and_dispute(city, categories, new_page, language,  # noqa: F811
                                                         deliver_notices_in_process):
    words = Words(language)
    category = categories["city-management"]
    category_name = category.name if language == "zh-hans" else category.name_en
    here = point_in(city.nodes["A1g1"])  # the community director's: A1
    citizen = new_page(language, geolocation={"latitude": here[0], "longitude": here[1]},
                       permissions=["geolocation"])

    sign_up(citizen, words, language)
    tapped = report_with_photo_and_map_tap(citizen, words, category_name, here)
    case = Case.objects.get(description="路灯不亮已经三天了")
    assert (case.lat, case.lon) == tapped and case.grid == city.nodes["A1g1"] and case.photos.count() == 1
    expect(citizen.locator(".reference")).to_have_text(case.reference)
    citizen.get_by_role("main").get_by_role("link", name=words("My cases")).click()
    expect(citizen.get_by_role("link", name=case.reference)).to_be_visible()

    staff_accepts_and_resolves(new_page(language), words, case.reference)

    citizen.get_by_role("link", name=case.reference).click()
    facts = citizen.locator("dl.facts")
    expect(facts).to_contain_text(words("resolved"))
    expect(citizen.get_by_role("listitem").filter(has_text="bulb replaced")).to_contain_text(words("City staff"))
    expect(facts.locator("time")).to_have_text(re.compile(DATE_FORMATS[language]))

    citizen.get_by_role("link", name=words("My notices")).click()
    notice = citizen.get_by_role("main").get_by_role("listitem").filter(has_text=case.reference)
    subject = words("Case %(reference)s resolved") % {"reference": case.reference}
    expect(notice.get_by_role("heading")).to_contain_text(subject)
    expect(notice.locator("time")).to_have_text(re.compile(DATE_FORMATS[language]))

    citizen.get_by_role("link", name=words("My cases")).first.click()
    citizen.get_by_role("link", name=case.reference).click()
    dispute = citizen.get_by_role("region", name=words("Not solved? Dispute the resolution"))
    dispute.get_by_label(words("Comment")).fill("还是不亮 / still dark")
    dispute.get_by_role("button", name=words("Dispute"), exact=True).click()
    expect(facts).to_contain_text(words("reopened"))
    expect(citizen.get_by_text("still dark")).to_be_visible()
    case.refresh_from_db()
    assert case.status == Status.REOPENED
    assert case.events.filter(action="reopen", comment="还是不亮 / still dark").exists()
