"""Every portal page, in each language, at phone width: no axe-core violation (WCAG 2.1 A/AA), in
normal and in large text, which enlarges text by at least 150% and still fits the screen; the skip
link and the report form work from the keyboard alone; scripts speak the page's language."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import expect

from issues.models import Case
from tests.browser.conftest import AXE, check_accessibility
from tests.browser.helpers import LANGUAGES, NEW_PASSWORD, Words, log_in
from tests.factories import PASSWORD
from tests.issues.conftest import categories  # noqa: F401
from tests.issues.helpers import drive, point_in, report

pytestmark = pytest.mark.django_db(transaction=True)

CITIZEN_PHONE = "13900000001"
# The computed sizes that large text must multiply by 1.5 at least: body text, headings, form text.
TEXT_SAMPLES = {"paragraph": "main p", "heading": "main h1", "label": "main label",
                "field": "main input:not([type=hidden])", "button": "main button"}


@pytest.fixture
def cases(city, categories):  # noqa: F811
    """The citizen's resolved case (its page offers every action; a notice about it is unread) and a
    sensitive public case (shown blurred to its grid)."""
    citizen = city.users["citizen"]
    citizen.phone = CITIZEN_PHONE
    citizen.save()
    resolved = drive(report(city, categories["city-management"], actor=citizen, description="路灯不亮已经三天了"),
                     city.users["director"], "accept", ("resolve", {"comment": "灯泡已更换"}))
    dispute = report(city, categories["dispute"], actor=city.users["director"], description="楼上噪音", grid="A1g2")
    return {"resolved": resolved, "dispute": dispute}


class Walk:
    """Visits every portal page once and checks each (``check``)."""

    def __init__(self, page, words: Words, cases: dict, city):
        self.page, self.words, self.cases, self.city = page, words, cases, city

    def check(self, name: str) -> None:
        """axe-core in normal and in large text, which must still fit the screen (WCAG 1.4.10, reflow).
        Large text is the class the large-text cookie puts on <html> (checked in the test that walks): set
        here in place, the page is not loaded and its forms not submitted twice."""
        where = f"{name} ({self.words.language}"
        check_accessibility(self.page, context=f"{where}, normal text)")
        self.page.evaluate("document.documentElement.classList.add('large-text')")
        check_accessibility(self.page, context=f"{where}, large text)")
        assert self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
            f"{where}, large text): wider than the screen"
        self.page.evaluate("document.documentElement.classList.remove('large-text')")

    def visit(self, name: str, url: str) -> None:
        self.page.goto(url)
        self.check(name)

    def submit(self, button: str) -> None:
        self.page.get_by_role("main").get_by_role("button", name=self.words(button), exact=True).click()

    def anonymous_pages(self) -> None:
        page, words = self.page, self.words
        self.visit("home", "/")
        page.get_by_role("button", name=words("Show cases near me"), exact=True).click()
        nearby = page.get_by_role("region", name=words("Public cases within %(radius)s of you")
                                  % {"radius": words("%(km)s km") % {"km": "2"}})
        # The context's position is 110 m north of the resolved case: a distance in the page's language.
        away = words("%(distance)s away") % {"distance": words("%(metres)s m") % {"metres": "110"}}
        expect(nearby.get_by_role("listitem").filter(has_text=self.cases["resolved"].reference)).to_contain_text(away)
        self.check("home near me")
        page.goto("/?lat=north&lon=111.6")
        expect(page.get_by_role("alert")).to_have_text(
            words("That location could not be used, so recent cases across the city are shown instead."))
        self.check("home with a bad position")
        self.visit("public cases", "/cases/public/")
        self.visit("public case", f"/cases/{self.cases['dispute'].reference}/")
        expect(page.get_by_text(words("(exact location not shown for this kind of problem)"))).to_be_visible()

        self.visit("login", "/accounts/login/")
        self.submit("Log in")
        expect(page.get_by_role("alert").first).to_be_visible()
        self.check("login with errors")
        self.visit("signup", "/accounts/signup/")
        page.get_by_label(words("Mobile phone number")).fill("13800000001")
        page.get_by_label(words("Password"), exact=True).fill(NEW_PASSWORD)
        page.get_by_label(words("Password again")).fill(NEW_PASSWORD)
        self.submit("Sign up")
        expect(page.get_by_role("heading", level=1)).to_have_text(words("Enter your code"))
        self.check("verify")

        self.visit("password reset", "/accounts/password-reset/")
        page.get_by_label(words("Email")).fill("nobody@example.cn")
        self.submit("Send the link")
        expect(page.get_by_role("heading", level=1)).to_have_text(words("Check your e-mail"))
        self.check("password reset sent")
        citizen = get_user_model().objects.get(pk=self.city.users["citizen"].pk)  # as of its last login
        uid, token = urlsafe_base64_encode(force_bytes(citizen.pk)), default_token_generator.make_token(citizen)
        self.visit("password reset link", f"/accounts/password-reset/{uid}/{token}/")
        expect(page.get_by_role("heading", level=1)).to_have_text(words("Choose a new password"))
        self.visit("password reset link expired", f"/accounts/password-reset/{uid}/expired-token/")
        self.visit("password reset complete", "/accounts/password-reset/done/")
        self.visit("phone reset", "/accounts/phone-reset/")
        page.get_by_label(words("Mobile phone number")).fill(CITIZEN_PHONE)
        self.submit("Send the code")
        expect(page.get_by_label(words("Verification code"))).to_be_visible()
        self.check("phone reset code")

        page.goto("/accounts/login/")
        for _ in range(5):
            page.get_by_label(words("Phone number or e-mail")).fill("13700000001")
            page.get_by_label(words("Password"), exact=True).fill("wrong password")
            self.submit("Log in")
        expect(page.get_by_role("heading", level=1)).to_have_text(words("Too many failed logins"))
        self.check("locked out")

    def citizen_pages(self) -> None:
        page, words, case = self.page, self.words, self.cases["resolved"]
        log_in(page, words, CITIZEN_PHONE, PASSWORD)
        self.visit("profile", "/accounts/profile/")
        self.visit("report", "/cases/report/")
        self.submit("Send the report")
        expect(page.get_by_label(words("Describe the problem"))).to_have_accessible_description(
            words("Describe the problem."))
        self.check("report with errors")
        self.visit("reported", f"/cases/{case.reference}/reported/")
        self.visit("my cases", "/cases/mine/")
        self.visit("my case", f"/cases/{case.reference}/")
        expect(page.get_by_role("region", name=words("Not solved? Dispute the resolution"))).to_be_visible()
        self.visit("notices", "/notices/")
        expect(page.get_by_role("button", name=words("Mark as read"), exact=True)).to_be_visible()
        page.get_by_role("button", name=words("Log out"), exact=True).click()


def computed_sizes(page) -> dict[str, float]:
    return {
        name: page.locator(selector).first.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")
        for name, selector in TEXT_SAMPLES.items()
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_passes_axe_in_normal_and_large_text(city, cases, new_page, language, deliver_notices_in_process):
    words = Words(language)
    here = point_in(city.nodes["A1g1"])
    page = new_page(language, geolocation={"latitude": here[0] + 0.001, "longitude": here[1]},
                    permissions=["geolocation"])
    # axe-core loaded with every page of the walk (check_accessibility then finds it) rather than
    # sent over by each check: half the cost of a check.
    page.context.add_init_script(path=str(AXE))
    walk = Walk(page, words, cases, city)
    walk.anonymous_pages()
    walk.citizen_pages()

    page.goto("/accounts/login/")
    before = computed_sizes(page)
    large_text = page.get_by_role("button", name=words("Large text"), exact=True)
    large_text.click()
    expect(large_text).to_have_attribute("aria-pressed", "true")
    expect(page.locator("html")).to_have_class("large-text")
    after = computed_sizes(page)
    assert all(after[name] >= 1.5 * before[name] for name in TEXT_SAMPLES), (before, after)


def tab_to(page, target, *, limit: int = 40) -> None:
    """Press Tab until ``target`` has the focus: it must be reachable from the keyboard, in order."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{target} not reached with {limit} Tabs")


@pytest.mark.parametrize("language", LANGUAGES)
def test_skip_link_and_a_report_by_keyboard_alone(city, categories, new_page, language):  # noqa: F811
    words = Words(language)
    citizen = city.users["citizen"]
    citizen.phone = CITIZEN_PHONE
    citizen.save()
    page = new_page(language)  # no geolocation permission: "near me" and "use my location" fail, in the page's language

    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=words("Skip to content"))
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()
    tab_to(page, page.get_by_role("button", name=words("Show cases near me"), exact=True))
    page.keyboard.press("Enter")
    expect(page.locator("#nearby-status")).to_have_text(
        words("Your device could not tell your location, so recent cases across the city are shown."))
    expect(page.get_by_role("heading", name=words("Recent public cases"))).to_be_visible()

    page.goto("/accounts/login/")
    expect(page.get_by_label(words("Phone number or e-mail"))).to_be_focused()  # autofocus
    page.keyboard.type(CITIZEN_PHONE)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=words("Log out"), exact=True)).to_be_visible()

    page.goto("/cases/report/")
    tab_to(page, page.get_by_label(words("What kind of problem?")))
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label(words("What kind of problem?"))).not_to_have_value("")
    tab_to(page, page.get_by_role("button", name=words("Use my location"), exact=True))
    page.keyboard.press("Enter")
    expect(page.locator("#location-status")).to_have_text(
        words("Your device could not tell your location. Tap the map or type the coordinates."))
    lat, lon = point_in(city.nodes["A1g1"])
    typed = {"Latitude": f"{lat:.6f}", "Longitude": f"{lon:.6f}", "Address or landmark": "星火巷 12 号"}
    for label, text in typed.items():
        tab_to(page, page.get_by_label(words(label)))
        page.keyboard.type(text)
    tab_to(page, page.get_by_label(words("Describe the problem")))
    page.keyboard.type("井盖丢了")
    tab_to(page, page.get_by_role("button", name=words("Send the report"), exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(words("Thank you: your report was received"))
    case = Case.objects.get(description="井盖丢了")
    assert case.reporter == citizen and case.grid == city.nodes["A1g1"] and case.address == "星火巷 12 号"
